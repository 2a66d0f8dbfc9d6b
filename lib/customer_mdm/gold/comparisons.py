"""Comparison levels evaluated vectorised over Arrow columns, the same code in Spark and on the driver.

A comparison is an ordered list of levels; the first level that holds for a
pair is its level (index 0 is always "missing", the last always "else").
``build_plan`` turns the plain settings into level objects once; ``levels_of``
runs a plan over a batch of pairs held as Arrow columns ``l_<column>`` and
``r_<column>``. Spark runs the same function inside ``mapInArrow``
(``comparison_vectors``), and issue 6's micro-batches call it directly.

Text is compared case-folded and trimmed; string similarity comes from
rapidfuzz (``process.cpdist``: element-wise, in C, over whole batches),
phonetic codes from jellyfish, nicknames from the ``nicknames`` table.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import jellyfish
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nicknames import NickNamer
from pyspark.sql import DataFrame
from pyspark.sql.types import ByteType, StructField, StructType
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from customer_mdm.config.matching import ComparisonSpec, LevelSpec

LEFT, RIGHT = "l_", "r_"
_CACHE = 200_000


class Level:
    """One level: ``holds`` answers, for pairs where both values are present, whether this level applies."""

    def __init__(self, label: str):
        self.label = label

    def holds(self, left: pa.Array, right: pa.Array) -> np.ndarray:
        raise NotImplementedError


class Exact(Level):
    def holds(self, left: pa.Array, right: pa.Array) -> np.ndarray:
        return _bools(pc.equal(left, right))


def _scorer(function: str) -> tuple[Callable[..., float], float]:
    """rapidfuzz scorer and its scale, looked up by name (its C functions do not pickle into Spark workers)."""
    scorers: dict[str, tuple[Callable[..., float], float]] = {
        "jaro_winkler": (JaroWinkler.normalized_similarity, 1.0),
        "levenshtein": (Levenshtein.normalized_similarity, 1.0),
        "token_set": (fuzz.token_set_ratio, 100.0)}
    return scorers[function]


class Similar(Level):
    def __init__(self, label: str, *, function: str, threshold: float):
        super().__init__(label)
        self.function = function
        self.cutoff = threshold * _scorer(function)[1]

    def holds(self, left: pa.Array, right: pa.Array) -> np.ndarray:
        scores = process.cpdist(left.to_pylist(), right.to_pylist(), scorer=_scorer(self.function)[0], workers=1,
                                dtype=np.float64)
        return np.asarray(scores >= self.cutoff - 1e-9)


@functools.cache
def _nick_namer() -> NickNamer:
    return NickNamer()


@functools.lru_cache(maxsize=_CACHE)
def _name_group(name: str) -> frozenset[str]:
    """A name with every name it can stand for: itself, its canonical forms and their nicknames."""
    namer = _nick_namer()
    canonicals = namer.canonicals_of(name) | {name}
    return frozenset(canonicals | {nick for c in canonicals for nick in namer.nicknames_of(c)})


class Nickname(Level):
    """Bob ~ Robert, Bob ~ Rob (nicknames of one canonical name)."""

    def holds(self, left: pa.Array, right: pa.Array) -> np.ndarray:
        return np.fromiter((b in _name_group(a) for a, b in zip(left.to_pylist(), right.to_pylist())),
                           dtype=bool, count=len(left))


@functools.lru_cache(maxsize=_CACHE)
def _phonetic_code(algorithm: str, value: str) -> str:
    encode: Callable[[str], str] = getattr(jellyfish, algorithm)
    return encode(value)


class Phonetic(Level):
    def __init__(self, label: str, *, algorithm: str):
        super().__init__(label)
        self.algorithm = algorithm

    def holds(self, left: pa.Array, right: pa.Array) -> np.ndarray:
        algorithm = self.algorithm
        return np.fromiter((_phonetic_code(algorithm, a) == _phonetic_code(algorithm, b)
                            for a, b in zip(left.to_pylist(), right.to_pylist())), dtype=bool, count=len(left))


class DateWithin(Level):
    def __init__(self, label: str, *, days: int):
        super().__init__(label)
        self.days = days

    def holds(self, left: pa.Array, right: pa.Array) -> np.ndarray:
        gap = np.abs(_days(left) - _days(right))
        return np.asarray(gap <= self.days)


class DateTransposed(Level):
    """Day and month swapped (03/04 vs 04/03), same year: a classic keying error."""

    def holds(self, left: pa.Array, right: pa.Array) -> np.ndarray:
        same_year = pc.equal(pc.year(left), pc.year(right))
        swapped = pc.and_(pc.equal(pc.month(left), pc.day(right)), pc.equal(pc.day(left), pc.month(right)))
        return _bools(pc.and_(same_year, swapped))


@dataclass(frozen=True)
class Comparison:
    """A plan for one attribute: its column and its levels, in order."""

    name: str
    column: str
    levels: tuple[Level, ...]
    term_frequency: bool

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(level.label for level in self.levels)

    @property
    def exact_index(self) -> int | None:
        """The level term-frequency adjustment applies to."""
        found = [i for i, level in enumerate(self.levels) if isinstance(level, Exact)]
        return found[0] if found else None


Plan = tuple[Comparison, ...]


def build_level(spec: LevelSpec) -> Level:
    match spec.kind:
        case "missing" | "else":
            return Level(spec.label)
        case "exact":
            return Exact(spec.label)
        case "similar":
            assert spec.function is not None and spec.threshold is not None
            return Similar(spec.label, function=spec.function, threshold=spec.threshold)
        case "nickname":
            return Nickname(spec.label)
        case "phonetic":
            assert spec.algorithm is not None
            return Phonetic(spec.label, algorithm=spec.algorithm)
        case "date_within":
            assert spec.days is not None
            return DateWithin(spec.label, days=spec.days)
        case "date_transposed":
            return DateTransposed(spec.label)
    raise ValueError(f"unknown level kind {spec.kind!r}")


def build_plan(specs: Sequence[ComparisonSpec]) -> Plan:
    return tuple(Comparison(name=s.name, column=s.column, levels=tuple(build_level(level) for level in s.levels),
                            term_frequency=s.term_frequency) for s in specs)


def plan_columns(plan: Plan) -> tuple[str, ...]:
    """The record columns a plan reads, each once, in plan order."""
    return tuple(dict.fromkeys(c.column for c in plan))


def _bools(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _days(dates: pa.Array) -> np.ndarray:
    return np.asarray(dates.cast(pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _normalised(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        cleaned = pc.utf8_trim_whitespace(pc.utf8_lower(values))
        return pc.if_else(pc.equal(cleaned, ""), pa.scalar(None, values.type), cleaned)
    return values


def comparison_levels(comparison: Comparison, left: pa.Array | pa.ChunkedArray,
                      right: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Level index per pair: the first level that holds, testing each level only on pairs still undecided."""
    left, right = _normalised(left), _normalised(right)
    n = len(left)
    present = ~(_bools(left.is_null()) | _bools(right.is_null()))
    out = np.full(n, len(comparison.levels) - 1, dtype=np.int8)
    out[~present] = 0
    undecided = np.flatnonzero(present)
    for index, level in enumerate(comparison.levels[1:-1], start=1):
        if undecided.size == 0:
            break
        taken = pa.array(undecided)
        hit = level.holds(left.take(taken), right.take(taken))
        out[undecided[hit]] = index
        undecided = undecided[~hit]
    return out


def levels_of(plan: Plan, pairs: pa.Table) -> np.ndarray:
    """An (n pairs x n comparisons) matrix of level indexes for pairs with ``l_``/``r_`` columns."""
    matrix = np.empty((pairs.num_rows, len(plan)), dtype=np.int8)
    for j, comparison in enumerate(plan):
        matrix[:, j] = comparison_levels(comparison, pairs.column(LEFT + comparison.column),
                                         pairs.column(RIGHT + comparison.column))
    return matrix


def vector_schema(plan: Plan, keep: Sequence[StructField]) -> StructType:
    return StructType(list(keep) + [StructField(c.name, ByteType(), nullable=False) for c in plan])


def comparison_vectors(plan: Plan, pairs: DataFrame, *, keep: Sequence[str] = ()) -> DataFrame:
    """The level index of every comparison for every pair (Spark, via the same Arrow evaluation)."""
    kept = [pairs.schema[name] for name in keep]

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            matrix = levels_of(plan, pa.Table.from_batches([batch]))
            columns = [batch.column(name) for name in keep] + [pa.array(matrix[:, j], pa.int8())
                                                                 for j in range(len(plan))]
            yield pa.RecordBatch.from_arrays(columns, names=[*keep, *(c.name for c in plan)])

    return pairs.mapInArrow(run, vector_schema(plan, kept))
