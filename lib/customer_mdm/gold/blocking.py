"""Candidate pairs from blocking rules: union over rules, deduplicated, canonical order, capped blocks.

A rule is a list of Spark SQL expressions over silver.party columns; records
that agree on all of them (none null) form a block and every two records of
a block are a candidate pair. A pair is written once, left key < right key by
(source_system, source_record_id), and carries the first rule (in config
order) that found it. A block larger than ``max_block_size`` would swamp the
job (n^2 pairs) and is skipped: its pairs are not generated and it is
reported instead.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence, Set
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType
from pyspark.errors import AnalysisException, ParseException

from customer_mdm.config.matching import BlockingRule, BlockingSpec, MatchingConfig
from customer_mdm.errors import ConfigIssue

RID = "_rid"
L_RID, R_RID = "l_rid", "r_rid"
BLOCK_KEYS = "block_keys"
KEY_COLUMNS = ("source_system", "source_record_id")
KEY_SEPARATOR = "\u001f"  # sorts below every printable character, so string order = (system, id) order


def record_id(source_system: Column, source_record_id: Column) -> Column:
    """One string key per record whose order is the order of (source_system, source_record_id)."""
    return F.concat_ws(KEY_SEPARATOR, source_system, source_record_id)


def with_record_id(records: DataFrame) -> DataFrame:
    return records.withColumn(RID, record_id(F.col(KEY_COLUMNS[0]), F.col(KEY_COLUMNS[1])))


def record_ids(table: pa.Table, *, prefix: str = "") -> pa.Array:
    """``record_id`` of each row of an Arrow table with the key columns (``prefix``ed: a pair's side): the
    driver-side twin."""
    if not table.num_rows:  # a table read with no chunks: the kernel cannot type an empty result
        return pa.array([], pa.string())
    return pc.binary_join_element_wise(table.column(prefix + KEY_COLUMNS[0]), table.column(prefix + KEY_COLUMNS[1]),
                                       KEY_SEPARATOR)


def check_rules(spark: SparkSession, config: MatchingConfig, schema: StructType) -> list[ConfigIssue]:
    """Issues for blocking expressions Spark cannot analyse over silver.party's schema (no data read)."""
    empty = spark.createDataFrame([], schema)
    issues = []
    for i, rule in enumerate(config.blocking.rules):
        for j, expression in enumerate(rule.keys):
            try:
                empty.select(F.expr(expression)).schema
            except (AnalysisException, ParseException) as exc:
                reason = str(exc).splitlines()[0][:160]
                issues.append(ConfigIssue(str(config.file), f"blocking.rules[{i}].keys[{j}]",
                                          f"a Spark SQL expression over silver.party columns ({reason})",
                                          repr(expression)))
    return issues


@dataclass(frozen=True)
class Blocked:
    """Candidate pairs (``l_rid``, ``r_rid``, ``blocking_rule``) and the blocks skipped for their size."""

    pairs: DataFrame
    skipped: DataFrame  # blocking_rule, block_key (JSON of the key values), records, pairs_skipped


def _key_json(columns: Sequence[Column], rule: BlockingRule) -> Column:
    """A block's key as one string, the way gold.blocking_skipped and gold.blocking_keys show it."""
    return F.to_json(F.struct(*[c.cast("string").alias(e) for c, e in zip(columns, rule.keys)]))


def rules_digest(spec: BlockingSpec) -> str:
    """Names the blocking rules a stored key list was computed with: other rules make it stale."""
    return hashlib.sha256(repr([(r.name, r.keys) for r in spec.rules]).encode()).hexdigest()[:16]


def _all_present(columns: Sequence[Column]) -> Column:
    """A record is in a rule's block only when every key expression has a value."""
    present = columns[0].isNotNull()
    for column in columns[1:]:
        present = present & column.isNotNull()
    return present


def block_keys(records: DataFrame, spec: BlockingSpec) -> DataFrame:
    """Each record's key and its block key per rule in rule order (null where a key expression is null)."""
    keys = []
    for rule in spec.rules:
        values = [F.expr(e) for e in rule.keys]
        keys.append(F.when(_all_present(values), _key_json(values, rule)))
    return records.select(RID, *KEY_COLUMNS, F.array(*keys).alias(BLOCK_KEYS))


def _keyed(records: DataFrame, rule: BlockingRule) -> DataFrame:
    keys = [F.expr(e).alias(f"_k{i}") for i, e in enumerate(rule.keys)]
    return records.select(RID, *keys).where(_all_present([F.col(f"_k{i}") for i in range(len(rule.keys))]))


def block(records: DataFrame, spec: BlockingSpec, *, focus: DataFrame | None = None) -> Blocked:
    """Pairs within and across sources for records with a ``_rid`` column (see ``with_record_id``).

    With ``focus`` (a frame of ``_rid``), only pairs with at least one focus record: an increment compared
    against everything, with block sizes still counted over all records.
    """
    found: list[DataFrame] = []
    skipped: list[DataFrame] = []
    for index, rule in enumerate(spec.rules):
        key_names = [f"_k{i}" for i in range(len(rule.keys))]
        # one shuffle by block key serves the size count and the self-join after it
        sized = _keyed(records, rule).withColumn("records", F.count(F.lit(1)).over(Window.partitionBy(*key_names)))
        too_big = sized.where(F.col("records") > spec.max_block_size)
        if focus is not None:
            too_big = too_big.join(focus, RID, "left_semi")
        oversized = too_big.select(*key_names, "records").distinct()
        skipped.append(oversized.select(
            F.lit(rule.name).alias("blocking_rule"),
            _key_json([F.col(k) for k in key_names], rule).alias("block_key"),
            F.col("records"), (F.col("records") * (F.col("records") - 1) / 2).cast("long").alias("pairs_skipped")))
        kept = sized.where(F.col("records") <= spec.max_block_size)
        left = (kept if focus is None else kept.join(focus, RID, "left_semi")).select(F.col(RID).alias("_a"),
                                                                                       *key_names)
        right = kept.select(F.col(RID).alias("_b"), *key_names)
        joined = left.join(right, key_names).where(F.col("_a") < F.col("_b") if focus is None
                                                   else F.col("_a") != F.col("_b"))
        found.append(joined.select(F.least("_a", "_b").alias(L_RID), F.greatest("_a", "_b").alias(R_RID),
                                   F.lit(index).alias("_rule")))
    union = _union(found)
    names = F.element_at(F.array(*[F.lit(r.name) for r in spec.rules]), F.col("_rule") + 1)
    pairs = union.groupBy(L_RID, R_RID).agg(F.min("_rule").alias("_rule")) \
        .select(L_RID, R_RID, names.alias("blocking_rule"))
    return Blocked(pairs=pairs, skipped=_union(skipped))


def block_indexed(keys: pa.Table, focus: Set[str], spec: BlockingSpec) -> tuple[pa.Table, pa.Table]:
    """``block`` with ``focus`` on the driver, over every live record's stored keys (``_rid``, ``block_keys``):
    (pairs ``l_rid``, ``r_rid``, ``blocking_rule``; skipped blocks), the same rows Spark finds."""
    wanted = pa.array(sorted(focus), pa.string())
    found, skipped = [], []
    for index, rule in enumerate(spec.rules):
        rule_keys = pc.list_element(keys.column(BLOCK_KEYS), index).cast(pa.string())
        keyed = pa.table({RID: keys.column(RID).cast(pa.string()), "key": rule_keys}).filter(pc.is_valid(rule_keys))
        in_focus = pc.is_in(keyed.column(RID), value_set=wanted)
        members = keyed.filter(pc.is_in(keyed.column("key"), value_set=pc.unique(keyed.filter(in_focus)
                                                                                   .column("key"))))
        sizes = members.group_by("key").aggregate([(RID, "count")])
        too_big = sizes.filter(pc.greater(sizes.column(f"{RID}_count"), spec.max_block_size))
        records = too_big.column(f"{RID}_count").cast(pa.int64())
        skipped.append(pa.table({"blocking_rule": pa.array([rule.name] * too_big.num_rows, pa.string()),
                                 "block_key": too_big.column("key"), "records": records,
                                 "pairs_skipped": pc.divide(pc.multiply(records, pc.subtract(records, 1)), 2)}))
        kept = members.filter(pc.invert(pc.is_in(members.column("key"), value_set=too_big.column("key"))))
        left = kept.filter(pc.is_in(kept.column(RID), value_set=wanted)).rename_columns(["_a", "key"])
        joined = left.join(kept.rename_columns(["_b", "key"]), "key", join_type="inner")
        a, b = joined.column("_a"), joined.column("_b")
        a_first = pc.less(a, b)
        found.append(pa.table({L_RID: pc.if_else(a_first, a, b), R_RID: pc.if_else(a_first, b, a),
                               "_rule": pa.array([index] * joined.num_rows, pa.int32())})
                     .filter(pc.not_equal(a, b)))
    pairs = pa.concat_tables(found).group_by([L_RID, R_RID]).aggregate([("_rule", "min")])
    names = pa.array([r.name for r in spec.rules], pa.string()).take(pairs.column("_rule_min"))
    pairs = pa.table({L_RID: pairs.column(L_RID), R_RID: pairs.column(R_RID), "blocking_rule": names})
    return pairs.sort_by([(L_RID, "ascending"), (R_RID, "ascending")]), pa.concat_tables(skipped)


def _union(frames: Sequence[DataFrame]) -> DataFrame:
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


@dataclass(frozen=True)
class BlockingReport:
    records: int
    candidate_pairs: int
    pairs_per_rule: dict[str, int]
    skipped_blocks: int
    pairs_skipped: int

    @property
    def reduction_ratio(self) -> float:
        """Share of all possible record pairs that blocking spared from comparison."""
        possible = self.records * (self.records - 1) // 2
        return 1.0 - self.candidate_pairs / possible if possible else 0.0

    def describe(self) -> str:
        rules = ", ".join(f"{name} {count:,}" for name, count in self.pairs_per_rule.items())
        return (f"{self.candidate_pairs:,} candidate pairs from {self.records:,} records (reduction ratio "
                f"{self.reduction_ratio:.6f}); by first rule: {rules}; {self.skipped_blocks} oversized "
                f"block(s) skipped ({self.pairs_skipped:,} pairs)")


def blocking_report(blocked: Blocked, *, records: int, spec: BlockingSpec) -> BlockingReport:
    """Counts the pairs and skipped blocks (runs Spark actions; call on cached pairs)."""
    per_rule = {r["blocking_rule"]: int(r["n"]) for r in
                blocked.pairs.groupBy("blocking_rule").agg(F.count(F.lit(1)).alias("n")).collect()}
    skipped = blocked.skipped.agg(F.count(F.lit(1)).alias("blocks"), F.sum("pairs_skipped").alias("pairs")).first()
    assert skipped is not None
    return BlockingReport(records=records, candidate_pairs=sum(per_rule.values()),
                          pairs_per_rule={r.name: per_rule.get(r.name, 0) for r in spec.rules},
                          skipped_blocks=int(skipped["blocks"]), pairs_skipped=int(skipped["pairs"] or 0))


def pair_records(pairs: DataFrame, records: DataFrame, columns: Sequence[str]) -> DataFrame:
    """Candidate pairs with both records' keys and ``columns`` as ``l_<column>`` / ``r_<column>``."""
    wanted = [*KEY_COLUMNS, *[c for c in columns if c not in KEY_COLUMNS]]

    def side(prefix: str, rid: str) -> DataFrame:
        return records.select(F.col(RID).alias(rid), *[F.col(c).alias(prefix + c) for c in wanted])

    return pairs.join(side("l_", L_RID), L_RID).join(side("r_", R_RID), R_RID)


def pair_rows(pairs: pa.Table, records: pa.Table, columns: Sequence[str]) -> pa.Table:
    """``pair_records`` on the driver: ``records`` (``_rid`` and the columns) holds every record a pair names."""
    wanted = [*KEY_COLUMNS, *[c for c in columns if c not in KEY_COLUMNS]]
    position = {key: i for i, key in enumerate(records.column(RID).to_pylist())}
    out = {name: pairs.column(name) for name in pairs.column_names}
    for prefix, side in (("l_", L_RID), ("r_", R_RID)):
        rows = pa.array([position[key] for key in pairs.column(side).to_pylist()], pa.int64())
        out.update({prefix + c: records.column(c).take(rows) for c in wanted})
    return pa.table(out)
