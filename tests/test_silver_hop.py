"""Hop 1 (bronze -> silver): sequenced upserts, SCD2 history, tombstones, idempotence, conservation."""
from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_mdm.bronze.audit import PARTITION_COLUMNS
from customer_mdm.bronze.files import bronze_file_schema, to_bronze
from customer_mdm.config import PipelineConfig, SourceConfig
from customer_mdm.config.quality import load_quality_rules
from customer_mdm.errors import DataQualityFailure
from customer_mdm.hops.refine import HISTORY, PARTY, refine_source
from customer_mdm.storage import TableStore, open_store

COLUMNS = ("id", "first", "last", "email", "updated", "status")
SOURCE = SourceConfig(
    name="crm", format="csv", file=Path("crm.yaml"), path="unused/*.csv", columns=COLUMNS,
    mapping={"source_record_id": "id", "first_name": "first", "last_name": "last", "email": "email",
             "source_updated_at": "updated"},
    sequence_column="updated", timestamp_format="yyyy-MM-dd HH:mm:ss", delete_when="status = 'DELETED'")
FIRST = ["Ann", "Bob", "Cy", "Dee", "Eve", "Fay"]


@pytest.fixture
def store(spark: SparkSession, config: PipelineConfig) -> TableStore:
    return open_store(spark, config)


def land(spark: SparkSession, store: TableStore, rows: list[dict[str, str | None]], *, name: str) -> int:
    """Appends rows to bronze.crm as if read from file ``name``; returns the bronze version."""
    raw = spark.createDataFrame([tuple(r.get(c) for c in COLUMNS) + (None, name) for r in rows],
                                ", ".join(f"{c} string" for c in [*COLUMNS, "_raw_record", "_source_file"]))
    store.ensure_table(SOURCE.bronze_table, bronze_file_schema(SOURCE), partition_by=PARTITION_COLUMNS)
    bronze = to_bronze(raw.coalesce(1), source=SOURCE, checksums={name: name}, run_id="test")
    return store.append(SOURCE.bronze_table, bronze).version or -1


def refine(spark, store, config):
    return refine_source(store, SOURCE, rules=(), run_id="test", mode="batch")


def version(key: str, minute: int, first: str, *, deleted: bool = False) -> dict[str, str | None]:
    return {"id": key, "first": first, "last": "Smith", "email": f"{first.lower()}@x.com",
            "updated": f"2024-01-01 10:{minute:02d}:00", "status": "DELETED" if deleted else "ACTIVE"}


def current_party(store: TableStore):
    return store.read(PARTY).select("source_record_id", "first_name", "is_deleted", "valid_from") \
        .orderBy("source_record_id")


def test_updates_history_and_conservation(spark, store, config):
    land(spark, store, [version("1", 0, "Ann"), version("2", 0, "Bob"), version("1", 5, "Anne")], name="a.csv")
    report = refine(spark, store, config)
    c = report.counts
    assert (c.read, c.upserted, c.superseded, c.unchanged) == (3, 2, 1, 0) and c.balanced
    assert [tuple(r) for r in current_party(store).collect()] == [
        ("1", "Anne", False, dt.datetime(2024, 1, 1, 10, 5)), ("2", "Bob", False, dt.datetime(2024, 1, 1, 10, 0))]
    history = store.read(HISTORY).where(F.col("source_record_id") == "1").orderBy("valid_from") \
        .select("first_name", "valid_from", "valid_to", "is_current").collect()
    assert [tuple(r) for r in history] == [
        ("Ann", dt.datetime(2024, 1, 1, 10, 0), dt.datetime(2024, 1, 1, 10, 5), False),
        ("Anne", dt.datetime(2024, 1, 1, 10, 5), None, True)]


def test_applying_the_same_rows_again_changes_nothing(spark, store, config):
    rows = [version("1", 0, "Ann"), version("2", 3, "Bob"), version("2", 4, "Bob", deleted=True)]
    land(spark, store, rows, name="a.csv")
    refine(spark, store, config)
    party, history = store.read(PARTY).cache(), store.read(HISTORY).cache()
    party.count(), history.count()
    party_version, history_version = store.version(PARTY), store.version(HISTORY)
    land(spark, store, rows, name="a-resent.csv")
    report = refine(spark, store, config)
    assert (report.counts.read, report.counts.unchanged, report.counts.upserted) == (3, 3, 0)
    assert store.version(PARTY) == party_version  # nothing to merge: no party commit at all
    assert_df_equality(store.read(PARTY), party, ignore_row_order=True)
    assert_df_equality(store.read(HISTORY), history, ignore_row_order=True)
    assert store.version(HISTORY) == history_version + 1  # only the watermark moved
    assert refine(spark, store, config).skipped


def test_late_older_update_cannot_resurrect_a_deleted_record(spark, store, config):
    land(spark, store, [version("7", 0, "Ann"), version("7", 9, "Ann", deleted=True)], name="a.csv")
    refine(spark, store, config)
    land(spark, store, [version("7", 5, "Annie")], name="late.csv")
    report = refine(spark, store, config)
    assert (report.counts.upserted, report.counts.superseded) == (0, 1)
    assert [tuple(r) for r in current_party(store).collect()] == [("7", "Ann", True, dt.datetime(2024, 1, 1, 10, 9))]
    history = store.read(HISTORY).orderBy("valid_from").select("first_name", "is_deleted", "valid_to",
                                                                 "is_current").collect()
    assert [tuple(r) for r in history] == [
        ("Ann", False, dt.datetime(2024, 1, 1, 10, 5), False),
        ("Annie", False, dt.datetime(2024, 1, 1, 10, 9), False),
        ("Ann", True, None, True)]


@pytest.mark.parametrize("seed", [11, 29])
def test_any_arrival_order_ends_in_the_same_state(spark, store, config, seed):
    """Random versions and deletes, shuffled and split into increments, end where sequence order says."""
    rng = random.Random(seed)
    versions = []
    for key in ("1", "2", "3", "4"):
        minutes = rng.sample(range(60), rng.randint(1, 5))
        for minute in minutes:
            versions.append(version(key, minute, rng.choice(FIRST), deleted=rng.random() < 0.25))
    rng.shuffle(versions)
    cuts = sorted(rng.sample(range(1, len(versions)), min(2, len(versions) - 1)))
    for i, (start, end) in enumerate(zip([0, *cuts], [*cuts, len(versions)])):
        land(spark, store, versions[start:end], name=f"part{i}.csv")
        assert refine(spark, store, config).counts.balanced

    latest = {}
    for v in sorted(versions, key=lambda v: v["updated"]):
        latest[v["id"]] = v
    expected = sorted((k, v["first"], v["status"] == "DELETED") for k, v in latest.items())
    assert [tuple(r)[:3] for r in current_party(store).collect()] == expected
    history = store.read(HISTORY)
    per_key = history.groupBy("source_record_id").agg(F.sum(F.col("is_current").cast("int")).alias("current"))
    assert {r.source_record_id: r.current for r in per_key.collect()} == {k: 1 for k in latest}
    # the chain is contiguous: each version ends where the next one starts
    for key in latest:
        chain = history.where(F.col("source_record_id") == key).orderBy("valid_from").collect()
        assert all(a.valid_to == b.valid_from for a, b in zip(chain, chain[1:]))
        assert chain[-1].valid_to is None and chain[-1].is_current


def fail_rules(tmp_path: Path):
    path = tmp_path / "quality.yaml"
    path.write_text("rules:\n  - name: email_required\n    type: mandatory\n    column: email\n    action: fail\n")
    return load_quality_rules(path)


def test_fail_rule_stops_a_batch_before_any_silver_write(spark, store, config, tmp_path):
    land(spark, store, [version("1", 0, "Ann"), {**version("2", 0, "Bob"), "email": None}], name="a.csv")
    with pytest.raises(DataQualityFailure, match=r"email_required \(1 of 2 rows\)"):
        refine_source(store, SOURCE, rules=fail_rules(tmp_path), run_id="r1", mode="batch",
                      report_dir=tmp_path / "report")
    assert {t: store.version(t) for t in (PARTY, HISTORY, "silver.quarantine")} == {
        PARTY: 0, HISTORY: 0, "silver.quarantine": 0}
    checklist = json.loads((tmp_path / "report" / "validation_checklist.json").read_text())
    assert checklist["status"] == "FAIL"


def test_fail_rule_in_a_stream_quarantines_and_reports_a_breach(spark, store, config, tmp_path):
    land(spark, store, [version("1", 0, "Ann"), {**version("2", 0, "Bob"), "email": None}], name="a.csv")
    report = refine_source(store, SOURCE, rules=fail_rules(tmp_path), run_id="r1", mode="stream")
    assert report.breached_rules == ("email_required",)
    assert (report.counts.upserted, report.counts.quarantined) == (1, 1)
    rows = store.read("silver.quarantine").select("source_record_id", "rule", "action", "_raw").collect()
    assert [(r.source_record_id, r.rule, r.action) for r in rows] == [("2", "email_required", "fail")]
    assert json.loads(rows[0]._raw)["first"] == "Bob"
