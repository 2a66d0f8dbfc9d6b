"""Typed entity-resolution settings (``conf/matching.yaml``): blocking, comparisons, model, thresholds.

Settings are plain data: a comparison is an ordered list of level specs, the
first level that holds for a pair is its level. Every mistake in the file is
collected and raised once, naming the file, the key and what was expected.
Blocking expressions are Spark SQL; ``gold.blocking.check_rules`` analyses
them against silver.party's schema before any work starts.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar, cast

from pyspark.sql.types import DateType, StringType

from customer_mdm.config.reader import Issues, Section, load_yaml
from customer_mdm.silver.versions import PARTY_SCHEMA

LevelKind = Literal["missing", "exact", "similar", "nickname", "phonetic", "date_within", "date_transposed",
                    "else"]
LEVEL_KINDS: tuple[str, ...] = ("missing", "exact", "similar", "nickname", "phonetic", "date_within",
                                "date_transposed", "else")
SimilarityFunction = Literal["jaro_winkler", "levenshtein", "token_set"]
SIMILARITY_FUNCTIONS: tuple[str, ...] = ("jaro_winkler", "levenshtein", "token_set")
PhoneticAlgorithm = Literal["soundex", "metaphone", "nysiis"]
PHONETIC_ALGORITHMS: tuple[str, ...] = ("soundex", "metaphone", "nysiis")
ModelKind = Literal["fellegi_sunter", "weighted"]
MODEL_KINDS: tuple[str, ...] = ("fellegi_sunter", "weighted")

_STRING_COLUMNS = tuple(f.name for f in PARTY_SCHEMA.fields
                        if isinstance(f.dataType, StringType) and not f.name.startswith("_")
                        and f.name not in ("source_system", "source_record_id", "row_hash", "version_id"))
_DATE_COLUMNS = tuple(f.name for f in PARTY_SCHEMA.fields if isinstance(f.dataType, DateType))
T = TypeVar("T")
_STRING_KINDS = ("similar", "nickname", "phonetic")
_DATE_KINDS = ("date_within", "date_transposed")


@dataclass(frozen=True)
class LevelSpec:
    """One comparison level; only the fields of its kind are set."""

    kind: LevelKind
    label: str
    function: SimilarityFunction | None = None
    threshold: float | None = None
    algorithm: PhoneticAlgorithm | None = None
    days: int | None = None
    m: float | None = None  # initial m for EM (a seed), else a default by level order


@dataclass(frozen=True)
class ComparisonSpec:
    name: str
    column: str
    levels: tuple[LevelSpec, ...]
    term_frequency: bool = False

    def labels(self) -> tuple[str, ...]:
        return tuple(level.label for level in self.levels)


@dataclass(frozen=True)
class BlockingRule:
    name: str
    keys: tuple[str, ...]  # Spark SQL expressions; records agreeing on all of them form a block


@dataclass(frozen=True)
class BlockingSpec:
    rules: tuple[BlockingRule, ...]
    max_block_size: int
    #: hop-2 increments changing at most this many records find candidates in gold.blocking_keys and score on
    #: the driver; larger ones key every live record in Spark
    index_max_changed: int = 20_000


@dataclass(frozen=True)
class Thresholds:
    """Match probability at or above ``auto_merge`` merges; at or above ``review`` goes to a person."""

    auto_merge: float
    review: float


@dataclass(frozen=True)
class EmSettings:
    max_iterations: int = 100
    tolerance: float = 1e-6
    initial_prior: float = 0.1


@dataclass(frozen=True)
class TrainingSpec:
    seed: int = 42
    u_sample_records: int = 2000  # u comes from every pair among this many randomly drawn records
    em: EmSettings = EmSettings()
    # u for scoring: "random_pairs" (u as measured), or "candidates": refitted by EM (m fixed) over the
    # candidate pairs, the population actually scored, where household members sharing contact details
    # make agreement on them far more common among non-matches than among random pairs.
    u_from: Literal["random_pairs", "candidates"] = "candidates"
    # EM sessions: each blocks on a rule and estimates m for the comparisons its keys do not use.
    sessions: tuple[BlockingRule, ...] = (BlockingRule("date_of_birth", ("date_of_birth",)),
                                          BlockingRule("names", ("first_name", "last_name")))


@dataclass(frozen=True)
class Signal:
    """A weighted-model term: credit per level of one comparison, or full credit when all named levels hold."""

    name: str
    weight: float
    credit: tuple[tuple[str, str, float], ...]  # (comparison, level label, credit in [0, 1])
    all_of: bool = False


@dataclass(frozen=True)
class WeightedSpec:
    signals: tuple[Signal, ...]
    thresholds: Thresholds


@dataclass(frozen=True)
class ClusteringSpec:
    max_cluster_size: int = 50  # a merge that would make an entity larger goes to review instead
    driver_max_links: int = 2_000_000  # more links than this: components are found in Spark, not on the driver


@dataclass(frozen=True)
class MatchingConfig:
    file: Path
    model: ModelKind
    model_file: Path
    thresholds: Thresholds
    blocking: BlockingSpec
    comparisons: tuple[ComparisonSpec, ...]
    training: TrainingSpec
    weighted: WeightedSpec | None
    clustering: ClusteringSpec = ClusteringSpec()

    def comparison(self, name: str) -> ComparisonSpec:
        for spec in self.comparisons:
            if spec.name == name:
                return spec
        raise KeyError(f"no comparison named {name!r} in {self.file}")

    @property
    def decision_thresholds(self) -> Thresholds:
        """The thresholds of the configured model."""
        if self.model == "weighted" and self.weighted is not None:
            return self.weighted.thresholds
        return self.thresholds


def load_matching(path: str | Path, *, project_root: Path | None = None) -> MatchingConfig:
    """Loads and validates a matching YAML; raises ConfigError listing every issue."""
    file = Path(path).resolve()
    root = project_root if project_root is not None else file.parent.parent
    issues = Issues()
    data = load_yaml(file, issues)
    issues.raise_if_any()
    top = Section(data or {}, file=str(file), prefix="", issues=issues)
    top.allow_only(["model", "fellegi_sunter", "weighted", "blocking", "comparisons", "training", "clustering"])
    model = top.choice("model", MODEL_KINDS, "fellegi_sunter")
    fs = top.section("fellegi_sunter")
    fs.allow_only(["file", "auto_merge", "review"])
    model_file = Path(fs.string("file", "models/default.json"))
    thresholds = _thresholds(fs, 0.99, 0.8)
    blocking = _blocking(top.section("blocking", required=True))
    comparisons = _comparisons(top)
    training = _training(top.section("training"))
    weighted = _weighted(top.section("weighted", required=model == "weighted"), comparisons) \
        if model == "weighted" or top.has("weighted") else None
    cl = top.section("clustering")
    cl.allow_only(["max_cluster_size", "driver_max_links"])
    clustering = ClusteringSpec(max_cluster_size=cl.integer("max_cluster_size", 50, minimum=2),
                                driver_max_links=cl.integer("driver_max_links", 2_000_000, minimum=0))
    issues.raise_if_any()
    return MatchingConfig(file=file, model=model,
                          model_file=model_file if model_file.is_absolute() else root / model_file,
                          thresholds=thresholds, blocking=blocking, comparisons=comparisons, training=training,
                          weighted=weighted, clustering=clustering)


def _given(value: object, kind: type[T]) -> T | None:
    """A required value as read, or None where the reader already recorded it as missing or wrong."""
    return value if isinstance(value, kind) else None


def _thresholds(s: Section, auto_merge: float, review: float) -> Thresholds:
    merge = s.number("auto_merge", auto_merge, minimum=0.0, maximum=1.0)
    review_at = s.number("review", review, minimum=0.0, maximum=1.0)
    if merge is not None and review_at is not None and review_at > merge:
        s.problem("review", f"a probability <= auto_merge ({merge})", review_at)
    return Thresholds(auto_merge=merge, review=review_at)


def _blocking(s: Section) -> BlockingSpec:
    s.allow_only(["rules", "max_block_size", "index_max_changed"])
    max_block = s.integer("max_block_size", 1000, minimum=2)
    return BlockingSpec(rules=_rules(s, "rules"), max_block_size=max_block,
                        index_max_changed=s.integer("index_max_changed", 20_000, minimum=0))


def _rules(s: Section, key: str) -> tuple[BlockingRule, ...]:
    rules = []
    for rule in s.sections(key, required=True):
        rule.allow_only(["name", "keys"])
        name = _given(rule.string("name"), str)
        keys = _given(rule.string_list("keys"), tuple)
        if keys is not None and not keys:
            rule.problem("keys", "at least one expression", found="an empty list")
        rules.append(BlockingRule(name=name or "", keys=keys or ()))
    if s.has(key) and not rules:
        s.problem(key, "at least one blocking rule", found="none")
    _unique(s, key, [r.name for r in rules])
    return tuple(rules)


def _unique(s: Section, key: str, names: list[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            s.issues.add(s.file, f"{s.key(key)}[{i}].name", "a name not used before in this list", name)
        seen.add(name)


def _comparisons(top: Section) -> tuple[ComparisonSpec, ...]:
    out = []
    for c in top.sections("comparisons", required=True):
        c.allow_only(["name", "column", "term_frequency", "levels"])
        name = _given(c.string("name"), str)
        column = c.string("column", name)
        allowed = _STRING_COLUMNS + _DATE_COLUMNS
        if column is not None and column not in allowed:
            c.problem("column", f"a silver.party column, one of {list(allowed)}", column)
        levels = tuple(level for level in (_level(ls, column) for ls in c.sections("levels", required=True))
                       if level is not None)
        if levels and levels[0].kind != "missing":
            c.problem("levels[0].kind", "'missing' (the first level takes pairs where either value is null)",
                      levels[0].kind)
        if levels and levels[-1].kind != "else":
            c.problem(f"levels[{len(levels) - 1}].kind", "'else' (the last level takes every other pair)",
                      levels[-1].kind)
        _unique(c, "levels", [level.label for level in levels])
        out.append(ComparisonSpec(name=name or "", column=column or "", levels=levels,
                                  term_frequency=c.boolean("term_frequency", False)))
    _unique(top, "comparisons", [spec.name for spec in out])
    return tuple(out)


def _level(s: Section, column: str | None) -> LevelSpec | None:
    kind = cast("LevelKind | None", _given(s.choice("kind", LEVEL_KINDS), str))
    if kind is None:
        return None
    keys = {"similar": ["function", "threshold"], "phonetic": ["algorithm"], "date_within": ["days"]}
    s.allow_only(["kind", "label", "m", *keys.get(kind, [])])
    if column in _DATE_COLUMNS and kind in _STRING_KINDS:
        s.problem("kind", f"a level for a date column {list(('missing', 'exact') + _DATE_KINDS + ('else',))}",
                  kind)
    if column in _STRING_COLUMNS and kind in _DATE_KINDS:
        s.problem("kind", f"a level for a text column {list(('missing', 'exact') + _STRING_KINDS + ('else',))}",
                  kind)
    function = cast("SimilarityFunction | None", _given(s.choice("function", SIMILARITY_FUNCTIONS), str)) \
        if kind == "similar" else None
    threshold = _given(s.number("threshold", minimum=0.0, maximum=1.0), float) if kind == "similar" else None
    algorithm = s.choice("algorithm", PHONETIC_ALGORITHMS, "soundex") if kind == "phonetic" else None
    days = _given(s.integer("days", minimum=0), int) if kind == "date_within" else None
    default_label = {"similar": f"{function} >= {threshold}", "phonetic": f"{algorithm}",
                     "date_within": f"within {days} days", "date_transposed": "day/month transposed"}
    return LevelSpec(kind=kind, label=s.string("label", default_label.get(kind, kind)), function=function,
                     threshold=threshold, algorithm=algorithm, days=days,
                     m=s.number("m", None, minimum=0.0, maximum=1.0))


def _training(s: Section) -> TrainingSpec:
    s.allow_only(["seed", "u_sample_records", "u_from", "em", "sessions"])
    em = s.section("em")
    em.allow_only(["max_iterations", "tolerance", "initial_prior"])
    defaults = TrainingSpec()
    return TrainingSpec(
        seed=s.integer("seed", defaults.seed, minimum=0),
        u_sample_records=s.integer("u_sample_records", defaults.u_sample_records, minimum=10),
        u_from=s.choice("u_from", ["random_pairs", "candidates"], defaults.u_from),
        em=EmSettings(max_iterations=em.integer("max_iterations", defaults.em.max_iterations, minimum=1),
                      tolerance=em.number("tolerance", defaults.em.tolerance, minimum=0.0),
                      initial_prior=em.number("initial_prior", defaults.em.initial_prior, minimum=1e-9,
                                              maximum=0.5)),
        sessions=_rules(s, "sessions") if s.has("sessions") else defaults.sessions)


def _weighted(s: Section, comparisons: tuple[ComparisonSpec, ...]) -> WeightedSpec:
    s.allow_only(["auto_merge", "review", "signals"])
    thresholds = _thresholds(s, 0.8, 0.6)
    labels = {c.name: c.labels() for c in comparisons}
    signals = []
    for sig in s.sections("signals", required=True):
        sig.allow_only(["name", "comparison", "weight", "credit", "all_of"])
        name = sig.string("name", sig.data.get("comparison"))
        weight = _given(sig.number("weight", minimum=0.0), float)
        if sig.has("all_of") == sig.has("credit"):
            sig.problem("credit", "either 'credit' (with 'comparison') or 'all_of', not both",
                        found="both" if sig.has("credit") else "neither")
            continue
        if sig.has("all_of"):
            pairs = [(c, level, 1.0) for c, level in (sig.string_map("all_of") or {}).items()]
        else:
            comparison = _given(sig.string("comparison"), str)
            credits = sig.section("credit")
            pairs = [(comparison, str(label), credits.number(str(label), minimum=0.0, maximum=1.0))
                     for label in credits.data]
        for comparison, label, _ in pairs:
            key = "all_of" if sig.has("all_of") else "credit"
            if comparison not in labels:
                sig.problem(key, f"a configured comparison, one of {sorted(labels)}", comparison)
            elif label not in labels[comparison]:
                sig.problem(f"{key}.{label}" if key == "credit" else f"all_of.{comparison}",
                            f"a level label of comparison {comparison}, one of {list(labels[comparison])}", label)
        signals.append(Signal(name=name or "", weight=weight or 0.0,
                              credit=tuple((c, level, float(v or 0.0)) for c, level, v in pairs),
                              all_of=sig.has("all_of")))
    return WeightedSpec(signals=tuple(signals), thresholds=thresholds)
