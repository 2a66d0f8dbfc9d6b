"""Training a Fellegi-Sunter model: u from random pairs, m and the prior by EM, term frequencies.

u (P(level | non-match)) is measured on every pair among a seeded random
sample of records, compared on the driver with the same Arrow functions that
score. m (P(level | match)) and the share of matches among candidate pairs
come from expectation-maximisation over the candidate pairs' comparison
vectors, aggregated to (pattern, count) first so EM runs on a few thousand
rows whatever the data size; u stays fixed, as measured. With labels, m is
counted from the labelled matches instead. The prior lambda (two random
records being one party) is the candidate-pair match share scaled by
candidate pairs / all pairs. Term frequencies (the share of each value of a
``term_frequency`` comparison) are taken from the training records too. The
result is a versioned JSON file with the term-frequency tables in a Parquet
file beside it (named and hashed in the JSON, covered by the version): scoring
only ever loads these frozen files, so the same model scores the same way,
whichever records exist when a pair is scored.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from customer_mdm.config.matching import (BlockingRule, BlockingSpec, ComparisonSpec, EmSettings, MatchingConfig,
                                          Thresholds)
from customer_mdm.errors import MdmError
from customer_mdm.gold.blocking import block, pair_records
from customer_mdm.gold.comparisons import (LEFT, RIGHT, Comparison, Plan, comparison_vectors, levels_of,
                                          plan_columns)
from customer_mdm.gold.evaluation import label_pairs
from customer_mdm.gold.scoring import (ComparisonParams, FellegiSunterModel, LevelParams, Model, TermFrequencies,
                                       WeightedModel)

log = logging.getLogger(__name__)

MODEL_FORMAT = "customer_mdm.fellegi_sunter/2"  # /2: term frequencies frozen in a sidecar file
FLOOR = 1e-6  # no level probability is exactly 0: a level never seen in training must not weigh -inf


def tf_name(comparison: str) -> str:
    return f"tf_{comparison}"


def tf_value(column: str) -> Column:
    """The value term frequencies count: the text case-folded and trimmed, empty as none."""
    value = F.lower(F.trim(F.col(column).cast("string")))
    return F.when(value != "", value)


def term_frequencies(records: DataFrame, plan: Plan) -> TermFrequencies:
    """Per ``term_frequency`` comparison, each value's share among the records holding a value (training only)."""
    wanted = [c for c in plan if c.term_frequency]
    parts = []
    for comparison in wanted:
        counts = records.select(tf_value(comparison.column).alias("value")).where(F.col("value").isNotNull()) \
            .groupBy("value").agg(F.count(F.lit(1)).alias("_n"))
        parts.append(counts.crossJoin(counts.agg(F.sum("_n").alias("_total"))).select(
            F.lit(comparison.name).alias("comparison"), "value", (F.col("_n") / F.col("_total")).alias("share")))
    names = [c.name for c in wanted]
    if not parts:
        return TermFrequencies.none_seen(names)
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return TermFrequencies.of(names, union.toArrow())


def with_term_frequencies(records: DataFrame, plan: Plan, frequencies: TermFrequencies | None) -> DataFrame:
    """Adds ``tf_<comparison>``: the frozen share of the record's value; null for a value training never saw.

    ``None`` (a model without term frequencies, e.g. the weighted one) gives null columns.
    """
    wanted = [c for c in plan if c.term_frequency]
    if frequencies is None or not wanted:
        return records.select("*", *[F.lit(None).cast("double").alias(tf_name(c.name)) for c in wanted])
    shares = records.sparkSession.createDataFrame(frequencies.table)
    out = records
    for comparison in wanted:
        frozen = shares.where(F.col("comparison") == comparison.name) \
            .select(F.col("value").alias("_v"), F.col("share").alias(tf_name(comparison.name)))
        out = out.withColumn("_v", tf_value(comparison.column)).join(F.broadcast(frozen), "_v", "left").drop("_v")
    return out


def sample_records(records: DataFrame, *, size: int, seed: int) -> DataFrame:
    """A seeded sample that does not depend on partitioning: the ``size`` records with the lowest hash."""
    return records.orderBy(F.xxhash64(F.lit(seed), F.col("_rid"))).limit(size)


def all_pairs(sample: pa.Table, columns: Sequence[str]) -> pa.Table:
    """Every pair i < j of a small table, as ``l_``/``r_`` columns."""
    left, right = np.triu_indices(sample.num_rows, k=1)
    arrays, names = [], []
    for prefix, index in ((LEFT, left), (RIGHT, right)):
        taken = sample.select(list(columns)).take(pa.array(index))
        arrays += taken.columns
        names += [prefix + c for c in columns]
    return pa.Table.from_arrays(arrays, names=names)


def level_shares(levels: np.ndarray, n_levels: Sequence[int], weights: np.ndarray | None = None) -> list[np.ndarray]:
    """Per comparison, P(level | level not missing) from a level matrix (optionally weighted rows), floored."""
    w = np.ones(levels.shape[0]) if weights is None else weights
    out = []
    for j, n in enumerate(n_levels):
        counts = np.bincount(levels[:, j], weights=w, minlength=n).astype(np.float64)
        counts[0] = 0.0
        out.append(_normalise(counts))
    return out


def _normalise(counts: np.ndarray) -> np.ndarray:
    shares = np.zeros_like(counts)
    total = counts[1:].sum()
    shares[1:] = counts[1:] / total if total > 0 else 1.0 / (len(counts) - 1)
    shares[1:] = np.maximum(shares[1:], FLOOR)
    shares[1:] /= shares[1:].sum()
    return shares


@dataclass(frozen=True)
class EmResult:
    m: list[np.ndarray]
    u: list[np.ndarray]
    prior: float
    iterations: int
    converged: bool


def expectation_maximisation(patterns: np.ndarray, counts: np.ndarray, *, n_levels: Sequence[int],
                             m: Sequence[np.ndarray], u: Sequence[np.ndarray], prior: float,
                             settings: EmSettings, fix_u: bool = True, fix_m: bool = False) -> EmResult:
    """EM over distinct comparison vectors (``patterns``, one row each) and how often each occurs.

    Level 0 (missing) carries no evidence. Stops when no parameter moves by more than the tolerance.
    """
    m = [np.array(a, dtype=np.float64) for a in m]
    u = [np.array(a, dtype=np.float64) for a in u]
    counts = counts.astype(np.float64)
    iteration, converged = 0, False
    while iteration < settings.max_iterations and not converged:
        iteration += 1
        log_m = sum(np.log(np.where(patterns[:, j] > 0, m[j][patterns[:, j]], 1.0)) for j in range(len(m)))
        log_u = sum(np.log(np.where(patterns[:, j] > 0, u[j][patterns[:, j]], 1.0)) for j in range(len(u)))
        log_odds = np.log(prior) - np.log1p(-prior) + log_m - log_u
        posterior = 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))
        new_prior = float((counts * posterior).sum() / counts.sum())
        new_m = m if fix_m else level_shares(patterns, n_levels, counts * posterior)
        new_u = u if fix_u else level_shares(patterns, n_levels, counts * (1.0 - posterior))
        change = max([abs(new_prior - prior)] + [float(np.abs(a - b).max()) for a, b in zip(new_m, m)]
                     + [float(np.abs(a - b).max()) for a, b in zip(new_u, u)])
        m, u, prior = list(new_m), list(new_u), min(max(new_prior, 1e-12), 1 - 1e-12)
        converged = change < settings.tolerance
    return EmResult(m=m, u=u, prior=prior, iterations=iteration, converged=converged)


def initial_m(spec: ComparisonSpec) -> np.ndarray:
    """Configured seeds where given; otherwise halving from the first evidence level down to 'else'."""
    n = len(spec.levels)
    default = np.array([0.0] + [2.0 ** -(i - 1) for i in range(1, n)])
    seeded = np.array([0.0] + [level.m if level.m is not None else default[i]
                               for i, level in enumerate(spec.levels) if i > 0])
    return _normalise(seeded)


def pattern_counts(vectors: DataFrame, plan: Plan, *, label: str | None = None) -> pa.Table:
    """Distinct comparison vectors with their counts (and with a label column, split by it)."""
    keys = [c.name for c in plan] + ([label] if label else [])
    return vectors.groupBy(*keys).agg(F.count(F.lit(1)).alias("_count")).toArrow()


@dataclass(frozen=True)
class TrainingReport:
    records: int
    candidate_pairs: int
    u_sample_pairs: int
    m_from: str
    em_iterations: int
    em_converged: bool
    candidate_match_share: float
    prior: float
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Session:
    """Comparison vectors of the pairs one training rule blocks, and which comparisons it may train."""

    name: str
    patterns: pa.Table
    active: tuple[bool, ...]


def session_active(plan: Plan, rule: BlockingRule) -> tuple[bool, ...]:
    """A comparison learns nothing from pairs blocked on its own column: it sits such a session out."""
    used = {word for expression in rule.keys for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expression)}
    return tuple(c.column not in used for c in plan)


def _ordered(patterns: pa.Table, plan: Plan) -> pa.Table:
    """Patterns in one order whatever order Spark returned them in, so EM's float sums and the model repeat."""
    keys = [c.name for c in plan] + [k for k in ("is_match",) if k in patterns.column_names]
    return patterns.sort_by([(k, "ascending") for k in keys])


def _vectors(patterns: pa.Table, plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    vectors = np.column_stack([patterns.column(c.name).to_numpy() for c in plan]).astype(np.int64)
    return vectors, patterns.column("_count").to_numpy().astype(np.float64)


def estimate(plan: Plan, specs: Sequence[ComparisonSpec], *, sample: pa.Table, patterns: pa.Table,
             sessions: Sequence[Session] = (), records: int, settings: EmSettings, thresholds: Thresholds,
             labelled: bool = False, candidate_u: bool = False, seed: int = 0,
             frequencies: TermFrequencies | None = None) -> tuple[FellegiSunterModel, TrainingReport]:
    """The model from a record sample (u), EM sessions (m) and the candidate-pair patterns (the prior).

    Each session runs EM with u fixed on its own pairs, its inactive comparisons treated as missing; a
    comparison's m is the mean over the sessions it took part in (its configured seed if none). With
    ``labelled``, ``patterns`` has an ``is_match`` column and m is counted from the matches instead.
    Last, EM over the candidate pairs fits their match share with m fixed, and with ``candidate_u``
    also u: the model then scores with u and the prior of the candidate population, and keeps the
    random-pair u of exact levels for term-frequency adjustment. Otherwise the prior is that share
    scaled by candidate pairs / all pairs. ``frequencies`` (default: none seen) are frozen into the model
    and its version.
    """
    started = time.monotonic()
    n_levels = [len(c.levels) for c in plan]
    pairs = all_pairs(sample, list(dict.fromkeys(c.column for c in plan)))
    u = level_shares(levels_of(plan, pairs), n_levels)
    patterns = _ordered(patterns, plan)
    vectors, counts = _vectors(patterns, plan)
    iterations, converged = 0, True
    if labelled:
        matches = patterns.column("is_match").to_numpy(zero_copy_only=False).astype(bool)
        m = level_shares(vectors[matches], n_levels, counts[matches])
    else:
        seeds = [initial_m(s) for s in specs]
        estimates: list[list[np.ndarray]] = [[] for _ in plan]
        for session in sessions:
            session_vectors, session_counts = _vectors(_ordered(session.patterns, plan), plan)
            session_vectors[:, ~np.array(session.active)] = 0
            fitted = expectation_maximisation(session_vectors, session_counts, n_levels=n_levels, m=seeds, u=u,
                                              prior=settings.initial_prior, settings=settings)
            iterations += fitted.iterations
            converged &= fitted.converged
            log.info("EM session %s: %d pairs, %d iterations, match share %.4f", session.name,
                     int(session_counts.sum()), fitted.iterations, fitted.prior)
            for j, active in enumerate(session.active):
                if active:
                    estimates[j].append(fitted.m[j])
        m = [np.mean(found, axis=0) if found else seed for found, seed in zip(estimates, seeds)]
    result = expectation_maximisation(vectors, counts, n_levels=n_levels, m=m, u=u, prior=settings.initial_prior,
                                      settings=settings, fix_m=True, fix_u=not candidate_u)
    candidates = int(counts.sum())
    possible = records * (records - 1) / 2
    prior = result.prior if candidate_u else \
        min(max(result.prior * candidates / possible, 1e-12), 0.5) if possible else 0.5
    scoring_u = result.u

    def tf_u(j: int, comparison: Comparison) -> float | None:
        exact = comparison.exact_index
        return float(u[j][exact]) if candidate_u and comparison.term_frequency and exact is not None else None

    comparisons = tuple(
        ComparisonParams(c.name, tuple(LevelParams(label, float(m[j][i]) if i else 1.0,
                                                   float(scoring_u[j][i]) if i else 1.0)
                                       for i, label in enumerate(c.labels)), tf_u(j, c))
        for j, c in enumerate(plan))
    frozen = frequencies or TermFrequencies.none_seen([c.name for c in plan if c.term_frequency])
    parameters = json.dumps({"prior": prior, "comparisons": [_comparison_json(c) for c in comparisons],
                             "term_frequencies": [list(frozen.comparisons), frozen.digest]}, sort_keys=True)
    created = dt.datetime.now(dt.timezone.utc)
    version = f"fs-{created:%Y%m%dT%H%M%SZ}-{hashlib.sha256(parameters.encode()).hexdigest()[:8]}"
    model = FellegiSunterModel(version=version, prior=prior, comparisons=comparisons, thresholds=thresholds,
                               term_frequencies=frozen)
    report = TrainingReport(records=records, candidate_pairs=candidates, u_sample_pairs=pairs.num_rows,
                            m_from="labels" if labelled else "em", em_iterations=iterations,
                            em_converged=converged, candidate_match_share=result.prior, prior=prior,
                            seconds=time.monotonic() - started,
                            extra={"seed": seed, "sessions": [s.name for s in sessions]})
    return model, report


def _comparison_json(c: ComparisonParams) -> dict[str, Any]:
    return {"name": c.name, "tf_u": c.tf_u, "levels": [{"label": lv.label, "m": lv.m, "u": lv.u} for lv in c.levels]}


def tf_file(path: Path) -> Path:
    """The term-frequency sidecar of a model file: ``models/default.json`` -> ``models/default.tf.parquet``."""
    return path.with_suffix(".tf.parquet")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _replace(path: Path, write: Callable[[Path], object]) -> None:
    """Writes through a temporary file, so a crash never leaves half a file under the real name."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    tmp.replace(path)


def save_model(model: FellegiSunterModel, report: TrainingReport, path: Path) -> None:
    """The model JSON and, beside it, its term-frequency tables as Parquet (named and hashed in the JSON)."""
    sidecar = tf_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace(sidecar, lambda tmp: pq.write_table(model.term_frequencies.table, tmp))
    document = {"format": MODEL_FORMAT, "version": model.version, "prior": model.prior,
                "comparisons": [_comparison_json(c) for c in model.comparisons],
                "term_frequencies": {"file": sidecar.name, "sha256": _sha256(sidecar),
                                     "comparisons": list(model.term_frequencies.comparisons),
                                     "rows": model.term_frequencies.table.num_rows},
                "training": {k: v for k, v in report.__dict__.items()}}
    _replace(path, lambda tmp: tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8"))


def load_model(path: Path, *, thresholds: Thresholds) -> FellegiSunterModel:
    if not path.is_file():
        raise MdmError(f"no trained model at {path}: run jobs/train_model.py first (or set fellegi_sunter.file "
                       "in matching.yaml)")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != MODEL_FORMAT:
            raise MdmError(f"{path} is not a {MODEL_FORMAT} model file (format {document.get('format')!r}); "
                           "re-run jobs/train_model.py")
        comparisons = tuple(ComparisonParams(c["name"], tuple(LevelParams(lv["label"], float(lv["m"]),
                                                                          float(lv["u"])) for lv in c["levels"]),
                                             None if c.get("tf_u") is None else float(c["tf_u"]))
                            for c in document["comparisons"])
        return FellegiSunterModel(version=str(document["version"]), prior=float(document["prior"]),
                                  comparisons=comparisons, thresholds=thresholds,
                                  term_frequencies=_load_frequencies(path, document["term_frequencies"]))
    except (ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        raise MdmError(f"model file {path} is damaged ({type(exc).__name__}: {exc}); re-run "
                       "jobs/train_model.py") from exc


def _load_frequencies(path: Path, entry: dict[str, Any]) -> TermFrequencies:
    """The sidecar the model file names, refused unless it is the very file training wrote."""
    sidecar = path.parent / str(entry["file"])
    if not sidecar.is_file():
        raise MdmError(f"term-frequency file {sidecar} of model file {path} is missing; re-run jobs/train_model.py "
                       "(a model file is used only with the sidecar written beside it)")
    found = _sha256(sidecar)
    if found != entry["sha256"]:
        raise MdmError(f"term-frequency file {sidecar} does not belong to model file {path} (SHA-256 {found}, the "
                       f"model expects {entry['sha256']}); re-run jobs/train_model.py")
    return TermFrequencies.of([str(c) for c in entry["comparisons"]], pq.read_table(sidecar))


def scoring_model(config: MatchingConfig) -> Model:
    """The frozen model the configuration selects."""
    if config.model == "weighted":
        assert config.weighted is not None
        return WeightedModel.from_spec(config.weighted)
    return load_model(config.model_file, thresholds=config.thresholds)


def train(records: DataFrame, plan: Plan, config: MatchingConfig, *,
          labels: DataFrame | None = None) -> tuple[FellegiSunterModel, TrainingReport]:
    """A model from live records (``_rid``, plan columns): Spark blocks, compares and counts values, the driver fits.

    ``labels`` (source_system, source_record_id, entity_id) fixes m from the labelled matches.
    """
    started = time.monotonic()
    n = records.count()
    pairs = pair_records(block(records, config.blocking).pairs, records, plan_columns(plan))
    keep: list[str] = []
    if labels is not None:
        pairs = label_pairs(pairs, labels)
        keep = ["is_match"]
    patterns = pattern_counts(comparison_vectors(plan, pairs, keep=keep), plan,
                              label="is_match" if labels is not None else None)
    sessions = [] if labels is not None else [
        Session(rule.name, pattern_counts(comparison_vectors(plan, pair_records(
            block(records, BlockingSpec((rule,), config.blocking.max_block_size)).pairs, records,
            plan_columns(plan))), plan), session_active(plan, rule))
        for rule in config.training.sessions]
    sample = sample_records(records, size=config.training.u_sample_records, seed=config.training.seed) \
        .select(*plan_columns(plan)).toArrow()
    model, report = estimate(plan, config.comparisons, sample=sample, patterns=patterns, sessions=sessions,
                             records=n, settings=config.training.em, thresholds=config.thresholds,
                             labelled=labels is not None, candidate_u=config.training.u_from == "candidates",
                             seed=config.training.seed, frequencies=term_frequencies(records, plan))
    log.info("trained %s on %d records: %d candidate pairs (%d patterns), u from %d sampled pairs, m from %s "
             "(%d EM iterations, converged %s), prior %.3g, term frequencies of %d values, %.1fs", model.version, n,
             report.candidate_pairs, patterns.num_rows, report.u_sample_pairs, report.m_from, report.em_iterations,
             report.em_converged, report.prior, model.term_frequencies.table.num_rows, time.monotonic() - started)
    return model, TrainingReport(**{**report.__dict__, "seconds": time.monotonic() - started})
