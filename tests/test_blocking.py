"""Blocking on hand-made records: union over rules, one row per pair, canonical order, capped blocks."""
from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from customer_mdm.config.matching import BlockingRule, BlockingSpec, load_matching
from customer_mdm.gold.blocking import (RID, block, block_indexed, block_keys, blocking_report, check_rules,
                                       pair_records, pair_rows, with_record_id)
from customer_mdm.silver.versions import PARTY_SCHEMA

SEP = "\u001f"
RULES = (BlockingRule("email", ("email",)), BlockingRule("phone", ("phone_e164",)),
         BlockingRule("surname_sound_postcode", ("soundex(last_name)", "postcode")))


def _records(spark: SparkSession, rows: list[tuple[str, str, str | None, str | None, str | None, str]]) -> DataFrame:
    def record(system: str, rid: str, last: str | None, email: str | None, phone: str | None,
               postcode: str) -> dict[str, object]:
        values: dict[str, object] = dict.fromkeys(PARTY_SCHEMA.names)
        values.update(source_system=system, source_record_id=rid, last_name=last, email=email, phone_e164=phone,
                      postcode=postcode, date_of_birth=dt.date(1980, 1, 1), is_deleted=False)
        return values
    return with_record_id(spark.createDataFrame([record(*r) for r in rows], PARTY_SCHEMA))


ROWS = [
    ("web", "7", "Smith", "ann@x.com", "+15550001", "02139"),
    ("crm", "1", "Smyth", "ann@x.com", "+15550001", "02139"),   # email + phone + soundex/postcode: one pair
    ("crm", "2", "Jones", None, "+15550001", "10001"),           # phone only, within and across sources
    ("crm", "10", "Brown", None, None, "10001"),                 # shares nothing with anyone
    ("billing", "3", None, None, None, "02139"),                 # null surname: never blocked on it
]


def test_pairs_are_the_union_over_rules_once_each_in_key_order(spark: SparkSession) -> None:
    blocked = block(_records(spark, ROWS), BlockingSpec(RULES, max_block_size=10))
    expected = spark.createDataFrame([
        (f"crm{SEP}1", f"web{SEP}7", "email"),
        (f"crm{SEP}1", f"crm{SEP}2", "phone"),     # "crm\x1f1" < "crm\x1f2"
        (f"crm{SEP}2", f"web{SEP}7", "phone"),
    ], "l_rid string, r_rid string, blocking_rule string")
    assert_df_equality(blocked.pairs, expected, ignore_row_order=True, ignore_nullable=True)
    report = blocking_report(blocked, records=5, spec=BlockingSpec(RULES, max_block_size=10))
    assert (report.candidate_pairs, report.pairs_per_rule, report.skipped_blocks) == (
        3, {"email": 1, "phone": 2, "surname_sound_postcode": 0}, 0)
    assert report.reduction_ratio == pytest.approx(1 - 3 / 10)


def test_oversized_blocks_are_skipped_and_reported(spark: SparkSession) -> None:
    rows = ROWS + [("crm", "11", "Snaith", None, None, "02139"), ("crm", "12", "Smithe", None, None, "02139")]
    spec = BlockingSpec(RULES, max_block_size=3)
    blocked = block(_records(spark, rows), spec)
    skipped = spark.createDataFrame([("surname_sound_postcode", '{"soundex(last_name)":"S530","postcode":"02139"}',
                                      4, 6)], "blocking_rule string, block_key string, records long, "
                                              "pairs_skipped long")
    assert_df_equality(blocked.skipped, skipped, ignore_nullable=True)
    pairs = sorted((r["l_rid"], r["r_rid"]) for r in blocked.pairs.collect())
    assert pairs == [(f"crm{SEP}1", f"crm{SEP}2"), (f"crm{SEP}1", f"web{SEP}7"), (f"crm{SEP}2", f"web{SEP}7")]
    report = blocking_report(blocked, records=7, spec=spec)
    assert (report.skipped_blocks, report.pairs_skipped) == (1, 6)
    assert "1 oversized block(s) skipped (6 pairs)" in report.describe()


def test_pair_records_carries_both_sides(spark: SparkSession) -> None:
    records = _records(spark, ROWS[:2])
    pairs = block(records, BlockingSpec(RULES[:1], max_block_size=10)).pairs
    got = pair_records(pairs, records, ["last_name"]).select(
        "l_source_system", "l_source_record_id", "l_last_name", "r_source_system", "r_source_record_id",
        "r_last_name", "blocking_rule")
    expected = spark.createDataFrame([("crm", "1", "Smyth", "web", "7", "Smith", "email")], got.schema)
    assert_df_equality(got, expected, ignore_nullable=True)


def test_stored_keys_give_the_pairs_and_skipped_blocks_spark_finds_for_a_focus(spark: SparkSession) -> None:
    """Hop 2's small increments block on the driver over gold.blocking_keys: it must be the same blocking."""
    draw = random.Random(11)
    rows = [(draw.choice(["crm", "web"]), str(i), draw.choice(["Smith", "Smyth", "Jones", "Brown", None]),
             draw.choice(["a@x.com", "b@x.com", None, None]), draw.choice(["+1555", "+1666", None]),
             draw.choice(["02139", "10001"])) for i in range(60)]
    records = _records(spark, rows)
    spec = BlockingSpec(RULES, max_block_size=12)
    keys = block_keys(records, spec).toArrow()
    outcomes = []
    for focus in ([f"crm{SEP}3"], draw.sample(keys.column(RID).to_pylist(), 9)):
        spark_side = block(records, spec, focus=spark.createDataFrame([(f,) for f in focus], f"{RID} string"))
        pairs, skipped = block_indexed(keys, set(focus), spec)
        assert_df_equality(spark.createDataFrame(pairs), spark_side.pairs, ignore_row_order=True,
                           ignore_nullable=True)
        assert_df_equality(spark.createDataFrame(skipped), spark_side.skipped, ignore_row_order=True,
                           ignore_nullable=True)
        outcomes.append((pairs.num_rows, skipped.num_rows))
    assert all(sum(counts) for counts in zip(*outcomes)), outcomes  # pairs found and blocks skipped, both seen
    got = pair_rows(pairs, records.toArrow(), ["last_name"])
    assert_df_equality(spark.createDataFrame(got).select(*sorted(got.column_names)),
                       pair_records(spark_side.pairs, records, ["last_name"]).select(*sorted(got.column_names)),
                       ignore_row_order=True, ignore_nullable=True)


def test_bad_blocking_expressions_name_file_and_key(spark: SparkSession, tmp_path: Path) -> None:
    file = tmp_path / "matching.yaml"
    file.write_text("""
blocking:
  rules:
    - {name: ok, keys: [email]}
    - {name: bad, keys: [postcode, "soundex(surname)"]}
comparisons:
  - name: email
    levels: [{kind: missing}, {kind: exact}, {kind: else}]
""")
    issues = check_rules(spark, load_matching(file), PARTY_SCHEMA)
    assert [(i.file, i.key, i.got) for i in issues] == [(str(file), "blocking.rules[1].keys[1]", "'soundex(surname)'")]
    assert issues[0].expected.startswith("a Spark SQL expression over silver.party columns ([UNRESOLVED_COLUMN")
