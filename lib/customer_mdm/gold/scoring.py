"""Scoring compared pairs: Fellegi-Sunter match weights (or the simple weighted model) and decisions.

Fellegi-Sunter: each level of each comparison has m = P(level | match) and
u = P(level | non-match); its weight is log2(m / u). A pair's match weight
is the prior weight log2(lambda / (1 - lambda)) plus its levels' weights;
an exact match on a term-frequency comparison adds log2(u_random / tf),
where u_random is the level's agreement rate over random record pairs and tf
the larger relative frequency of the two values among the training records
(``TermFrequencies``, frozen with the model): a match on a common surname
counts less than on a rare one, and a value training never saw gets no
adjustment (the level's own u), as in Splink. Probability is
2^W / (1 + 2^W). Every pair keeps its explanation: one (name, level, weight)
per comparison, and the prior and explanation weights sum to the match weight.

``score_arrow`` scores one Arrow batch of pairs on the driver (small
streaming increments); ``score_pairs`` runs the same function in Spark.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql.types import (ArrayType, DoubleType, StringType, StructField, StructType)

from customer_mdm.config.matching import Signal, Thresholds, WeightedSpec
from customer_mdm.gold.comparisons import LEFT, RIGHT, Plan, levels_of

AUTO_MERGE, REVIEW, NO_MATCH = "auto_merge", "review", "no_match"
PAIR_KEYS = ("l_source_system", "l_source_record_id", "r_source_system", "r_source_record_id")
TERM_TYPE = StructType([StructField("name", StringType()), StructField("level", StringType()),
                        StructField("weight", DoubleType())])
SCORED_SCHEMA = StructType([
    *[StructField(k, StringType()) for k in PAIR_KEYS],
    StructField("blocking_rule", StringType()),
    StructField("explanation", ArrayType(TERM_TYPE)),
    StructField("prior_weight", DoubleType()),
    StructField("match_weight", DoubleType()),
    StructField("match_probability", DoubleType()),
    StructField("decision", StringType()),
    StructField("model_version", StringType()),
])
_ARROW_TERM = pa.struct([("name", pa.string()), ("level", pa.string()), ("weight", pa.float64())])
TF_SCHEMA = pa.schema([("comparison", pa.string()), ("value", pa.string()), ("share", pa.float64())])


def tf_column(side: str, comparison: str) -> str:
    """The pair column holding one side's relative term frequency for a comparison."""
    return f"{side}tf_{comparison}"


@dataclass(frozen=True)
class LevelParams:
    label: str
    m: float
    u: float

    @property
    def weight(self) -> float:
        return math.log2(self.m / self.u)


@dataclass(frozen=True)
class ComparisonParams:
    name: str
    levels: tuple[LevelParams, ...]  # levels[0] is "missing": weight 0 whatever m and u say
    tf_u: float | None = None  # u of the exact level over random pairs, which term frequencies refine


@dataclass(frozen=True)
class TermFrequencies:
    """Per term-frequency comparison, the share of training records holding each value among those holding any.

    Taken once from the training records and frozen with the model, so a pair scores the same whichever
    other records exist when it is scored. ``table`` has TF_SCHEMA's columns (the value case-folded and
    trimmed), sorted; models are equal when their comparisons and ``digest`` (of the content) are.
    """

    comparisons: tuple[str, ...]
    digest: str
    table: pa.Table = field(compare=False, repr=False)

    @classmethod
    def of(cls, comparisons: Sequence[str], table: pa.Table) -> TermFrequencies:
        rows = table.select(TF_SCHEMA.names).cast(TF_SCHEMA).sort_by([("comparison", "ascending"),
                                                                     ("value", "ascending")])
        digest = hashlib.sha256("\x1e".join(comparisons).encode())
        for comparison, value, share in zip(*(rows.column(name).to_pylist() for name in TF_SCHEMA.names)):
            digest.update(f"\x1d{comparison}\x1f{value}\x1f{float(share).hex()}".encode())
        return cls(tuple(comparisons), digest.hexdigest(), rows.combine_chunks())

    @classmethod
    def none_seen(cls, comparisons: Sequence[str] = ()) -> TermFrequencies:
        """Tables without a row: every value unseen, so no pair gets an adjustment."""
        return cls.of(comparisons, TF_SCHEMA.empty_table())


@dataclass(frozen=True)
class FellegiSunterModel:
    version: str
    prior: float  # lambda: probability that two records of a scored pair are the same party
    comparisons: tuple[ComparisonParams, ...]
    thresholds: Thresholds
    term_frequencies: TermFrequencies

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1.0 - self.prior))

    def level_weights(self) -> list[np.ndarray]:
        return [np.array([0.0] + [level.weight for level in c.levels[1:]]) for c in self.comparisons]


@dataclass(frozen=True)
class WeightedModel:
    """The simple alternative: weighted exact / fuzzy / business-rule signals, score in [0, 1]."""

    version: str
    signals: tuple[Signal, ...]
    thresholds: Thresholds

    @classmethod
    def from_spec(cls, spec: WeightedSpec) -> WeightedModel:
        digest = hashlib.sha256(repr(spec.signals).encode()).hexdigest()[:12]
        return cls(version=f"weighted-{digest}", signals=spec.signals, thresholds=spec.thresholds)


Model = FellegiSunterModel | WeightedModel


@dataclass(frozen=True)
class Scores:
    """Per pair: explanation terms (names, level labels, weights: n x terms) and the totals."""

    names: tuple[str, ...]
    levels: np.ndarray
    weights: np.ndarray
    prior_weight: float
    match_weight: np.ndarray
    probability: np.ndarray


def check_plan(plan: Plan, model: FellegiSunterModel) -> None:
    """A model scores only the comparisons, levels and term-frequency comparisons it was trained on."""
    trained = [(c.name, tuple(level.label for level in c.levels)) for c in model.comparisons]
    configured = [(c.name, c.labels) for c in plan]
    if trained != configured:
        raise ValueError(f"model {model.version} was trained for comparisons {trained} but the configuration "
                         f"has {configured}; re-run jobs/train_model.py")
    with_tf = tuple(c.name for c in plan if c.term_frequency)
    if with_tf != model.term_frequencies.comparisons:
        raise ValueError(f"model {model.version} has term frequencies for {list(model.term_frequencies.comparisons)}"
                         f" but the configuration asks for {list(with_tf)}; re-run jobs/train_model.py")


def fellegi_sunter(plan: Plan, model: FellegiSunterModel, levels: np.ndarray,
                   tf: Sequence[tuple[np.ndarray, np.ndarray] | None]) -> Scores:
    """Weights of a level matrix; ``tf[j]`` holds both sides' term frequencies for tf comparisons.

    A NaN frequency is a value training never saw: with the other side's unseen too, the exact level keeps
    its own weight (no adjustment; never "share 0", which would weigh +inf); else the seen side's share counts.
    """
    weights = np.empty(levels.shape, dtype=np.float64)
    for j, (comparison, table) in enumerate(zip(plan, model.level_weights())):
        weights[:, j] = table[levels[:, j]]
        exact = comparison.exact_index
        if tf[j] is None or exact is None:
            continue
        left, right = tf[j]  # type: ignore[misc]
        frequency = np.fmax(left, right)  # NaN only where both sides are unseen
        at_exact = (levels[:, j] == exact) & ~np.isnan(frequency) & (frequency > 0)
        params = model.comparisons[j]
        u_exact = params.tf_u if params.tf_u is not None else params.levels[exact].u
        weights[at_exact, j] += np.log2(u_exact / frequency[at_exact])
    total = model.prior_weight + weights.sum(axis=1)
    labels = _labels(plan, levels)
    return Scores(tuple(c.name for c in plan), labels, weights, model.prior_weight, total,
                  1.0 / (1.0 + np.exp2(-np.clip(total, -1000, 1000))))


def weighted(plan: Plan, model: WeightedModel, levels: np.ndarray) -> Scores:
    """Score = sum(weight x credit) / sum(weight) over signals whose comparisons are all present."""
    index = {c.name: j for j, c in enumerate(plan)}
    labels = _labels(plan, levels)
    n, k = levels.shape[0], len(model.signals)
    raw = np.zeros((n, k))
    applicable = np.zeros((n, k), dtype=bool)
    shown = np.empty((n, k), dtype=object)
    for s, signal in enumerate(model.signals):
        columns = [index[c] for c, _, _ in signal.credit]
        applicable[:, s] = (levels[:, columns] > 0).all(axis=1)
        if signal.all_of:
            met = np.ones(n, dtype=bool)
            for (_, label, _), j in zip(signal.credit, columns):
                met &= labels[:, j] == label
            raw[:, s] = signal.weight * met
            shown[:, s] = labels[:, columns[0]] if len(columns) == 1 else \
                np.array([", ".join(row) for row in labels[:, columns]], dtype=object)
        else:
            credit = {label: value for _, label, value in signal.credit}
            j = columns[0]
            raw[:, s] = signal.weight * np.array([credit.get(label, 0.0) for label in labels[:, j]])
            shown[:, s] = labels[:, j]
    total_weight = (applicable * np.array([s.weight for s in model.signals])).sum(axis=1)
    share = np.divide(raw * applicable, total_weight[:, None], out=np.zeros_like(raw),
                      where=total_weight[:, None] > 0)
    score = share.sum(axis=1)
    return Scores(tuple(s.name for s in model.signals), shown, share, 0.0, score, score)


def _labels(plan: Plan, levels: np.ndarray) -> np.ndarray:
    out = np.empty(levels.shape, dtype=object)
    for j, comparison in enumerate(plan):
        out[:, j] = np.array(comparison.labels, dtype=object)[levels[:, j]]
    return out


def decide(probability: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    return np.where(probability >= thresholds.auto_merge, AUTO_MERGE,
                    np.where(probability >= thresholds.review, REVIEW, NO_MATCH)).astype(object)


def scores_of(plan: Plan, model: Model, pairs: pa.Table) -> Scores:
    """Compares and scores a batch of pairs holding ``l_``/``r_`` record columns (and tf columns)."""
    levels = levels_of(plan, pairs)
    if isinstance(model, WeightedModel):
        return weighted(plan, model, levels)
    tf: list[tuple[np.ndarray, np.ndarray] | None] = []
    for comparison in plan:
        if not comparison.term_frequency:
            tf.append(None)
            continue
        sides = [tf_column(side, comparison.name) for side in (LEFT, RIGHT)]
        missing = [name for name in sides if name not in pairs.column_names]
        if missing:
            raise ValueError(f"comparison {comparison.name} uses term frequencies but the pairs lack {missing}; "
                             "add them with gold.training.with_term_frequencies")
        left, right = (np.asarray(pairs.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)
                       for name in sides)  # null (unseen) becomes NaN
        tf.append((left, right))
    return fellegi_sunter(plan, model, levels, tf)


def explanation_array(scores: Scores) -> pa.ListArray:
    n, k = scores.weights.shape
    terms = pa.StructArray.from_arrays(
        [pa.array(np.tile(np.array(scores.names, dtype=object), n), pa.string()),
         pa.array(scores.levels.ravel(), pa.string()), pa.array(scores.weights.ravel(), pa.float64())],
        fields=list(_ARROW_TERM))
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)), terms)


def score_arrow(plan: Plan, model: Model, pairs: pa.Table) -> pa.Table:
    """Scored pairs with SCORED_SCHEMA's columns: the driver-side twin of ``score_pairs``."""
    scores = scores_of(plan, model, pairs)
    n = pairs.num_rows
    columns = [pairs.column(k) for k in PAIR_KEYS] + [
        pairs.column("blocking_rule"), explanation_array(scores),
        pa.array(np.full(n, scores.prior_weight)), pa.array(scores.match_weight, pa.float64()),
        pa.array(scores.probability, pa.float64()), pa.array(decide(scores.probability, model.thresholds),
                                                              pa.string()),
        pa.array(np.full(n, model.version, dtype=object), pa.string())]
    return pa.Table.from_arrays(columns, names=SCORED_SCHEMA.names)


def score_pairs(plan: Plan, model: Model, pairs: DataFrame) -> DataFrame:
    """Scores candidate pairs in Spark, batch by batch, with ``score_arrow``."""
    if isinstance(model, FellegiSunterModel):
        check_plan(plan, model)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield from score_arrow(plan, model, pa.Table.from_batches([batch])).to_batches()

    return pairs.mapInArrow(run, SCORED_SCHEMA)
