"""The storage contract: what every adapter must do, checked on real Delta tables."""
from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, LongType, StringType, StructField, StructType, TimestampType

from customer_mdm.config import PipelineConfig
from customer_mdm.errors import SchemaMismatchError, StorageError, TableNotFoundError
from customer_mdm.storage import AppTxn, TableStore, open_store

SCHEMA = StructType([
    StructField("id", LongType()),
    StructField("name", StringType()),
    StructField("seen_at", TimestampType()),
    StructField("day", StringType()),
])
UTC = dt.timezone.utc


@pytest.fixture
def store(spark: SparkSession, config: PipelineConfig) -> TableStore:
    return open_store(spark, config)


def rows(spark: SparkSession, data: list[tuple[int, str, str]]):
    return spark.createDataFrame(
        [(i, n, dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), d) for i, n, d in data], SCHEMA)


def test_append_then_read_restores_every_column_and_partition(spark, store, lake):
    store.ensure_table("bronze.people", SCHEMA, partition_by=["day"])
    df = rows(spark, [(1, "ann", "2024-01-01"), (2, "bob", "2024-01-02"), (3, None, "2024-01-02")])
    result = store.append("bronze.people", df.repartition(3))
    assert (result.version, result.rows, result.skipped) == (1, 3, False)
    assert_df_equality(store.read("bronze.people"), df, ignore_row_order=True)
    assert sorted(p.name for p in (lake / "bronze" / "people").iterdir() if p.name.startswith("day=")) == [
        "day=2024-01-01", "day=2024-01-02"]
    # a standard Delta table: delta-rs opens it on its own
    assert DeltaTable(str(lake / "bronze" / "people")).to_pyarrow_table().num_rows == 3


def test_append_with_a_committed_transaction_is_skipped(spark, store):
    store.ensure_table("bronze.people", SCHEMA)
    df = rows(spark, [(1, "ann", "d1"), (2, "bob", "d1")])
    first = store.append("bronze.people", df, txn=AppTxn("file:abc", 1))
    again = store.append("bronze.people", df, txn=AppTxn("file:abc", 1))
    assert not first.skipped and again.skipped
    assert store.read("bronze.people").count() == 2
    assert store.version("bronze.people") == 1
    assert store.txn_version("bronze.people", "file:abc") == 1
    newer = store.append("bronze.people", df, txn=AppTxn("file:abc", 2))
    assert newer.version == 2 and store.read("bronze.people").count() == 4


def test_failed_write_commits_nothing_and_leaves_no_visible_file(spark, store, lake):
    store.ensure_table("bronze.people", SCHEMA)
    store.append("bronze.people", rows(spark, [(1, "ann", "d1")]))
    boom = F.udf(lambda i: i if i < 50 else 1 // 0, LongType())
    failing = spark.range(100).repartition(4).select(
        boom("id").alias("id"), F.lit("x").alias("name"), F.current_timestamp().alias("seen_at"),
        F.lit("d").alias("day"))
    with pytest.raises(Exception):
        store.append("bronze.people", failing)
    assert store.version("bronze.people") == 1
    assert store.read("bronze.people").count() == 1


def test_time_travel_reads_an_older_version(spark, store):
    store.ensure_table("bronze.people", SCHEMA)
    store.append("bronze.people", rows(spark, [(1, "ann", "d1")]))
    store.append("bronze.people", rows(spark, [(2, "bob", "d1")]))
    assert [r.id for r in store.read("bronze.people", version=1).collect()] == [1]
    assert store.read("bronze.people", version=2).count() == 2
    with pytest.raises(StorageError, match="no readable version 9"):
        store.read("bronze.people", version=9)


def test_read_added_returns_only_new_rows_with_their_commit_version(spark, store):
    store.ensure_table("bronze.people", SCHEMA, partition_by=["day"])
    for i in range(1, 4):
        store.append("bronze.people", rows(spark, [(i, f"p{i}", f"d{i}")]))
    added = store.read_added("bronze.people", after_version=1, up_to_version=3, version_column="_v")
    assert sorted((r.id, r.day, r._v) for r in added.collect()) == [(2, "d2", 2), (3, "d3", 3)]
    assert store.read_added("bronze.people", after_version=3, up_to_version=3).count() == 0


def test_schema_mismatch_names_the_difference(spark, store):
    store.ensure_table("bronze.people", SCHEMA)
    wrong = spark.createDataFrame([(1, "x")], "id string, extra string")
    with pytest.raises(SchemaMismatchError) as err:
        store.append("bronze.people", wrong)
    message = str(err.value)
    assert "column id is string, the table has int64" in message
    assert "unexpected column extra" in message and "missing column name" in message


def test_missing_table_says_what_to_do(spark, store):
    with pytest.raises(TableNotFoundError, match="table silver.nothing does not exist"):
        store.read("silver.nothing")
    assert store.version("silver.nothing") == -1


def test_table_paths_cannot_leave_the_lake(spark, config):
    from dataclasses import replace
    escaped = open_store(spark, replace(config, table_paths={"silver.party": "../../elsewhere"}))
    with pytest.raises(StorageError, match="outside the lake root"):
        escaped.path("silver.party")


def test_merge_upserts_and_reports_metrics(spark, store):
    store.ensure_table("silver.people", SCHEMA)
    store.append("silver.people", rows(spark, [(1, "ann", "d1"), (2, "bob", "d1")]))
    source = rows(spark, [(2, "bobby", "d2"), (3, "cy", "d2")])
    result = store.merge("silver.people", source, "t.id = s.id") \
        .when_matched_update({"name": "s.name", "day": "s.day"}) \
        .when_not_matched_insert({c: f"s.{c}" for c in SCHEMA.names}) \
        .execute()
    assert result.version == 2
    assert result.metrics["num_target_rows_updated"] == 1 and result.metrics["num_target_rows_inserted"] == 1
    got = store.read("silver.people").select("id", "name").orderBy("id").collect()
    assert [(r.id, r.name) for r in got] == [(1, "ann"), (2, "bobby"), (3, "cy")]
    again = store.merge("silver.people", source, "t.id = s.id", txn=AppTxn("hop", 7)) \
        .when_matched_update({"name": "s.name"}).execute()
    skipped = store.merge("silver.people", source, "t.id = s.id", txn=AppTxn("hop", 7)) \
        .when_matched_update({"name": "s.name"}).execute()
    assert not again.skipped and skipped.skipped


def test_concurrent_merges_on_the_same_rows_both_apply(spark, store):
    store.ensure_table("silver.people", SCHEMA)
    store.append("silver.people", rows(spark, [(1, "ann", "d1"), (2, "bob", "d1")]))
    sources = [rows(spark, [(1, "ann-2", "d1")]).toArrow(), rows(spark, [(2, "bob-2", "d1")]).toArrow()]
    errors: list[BaseException] = []

    def run(source) -> None:
        try:
            store.merge("silver.people", source, "t.id = s.id").when_matched_update({"name": "s.name"}).execute()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.name for r in store.read("silver.people").collect()) == ["ann-2", "bob-2"]


def test_append_rows_for_small_driver_side_tables(spark, store):
    store.ensure_table("ops.things", StructType([StructField("k", StringType()), StructField("d", DateType())]))
    result = store.append_rows("ops.things", [{"k": "a", "d": dt.date(2024, 5, 6)}], txn=AppTxn("run-1", 0))
    assert result.version == 1 and result.rows == 1
    assert store.append_rows("ops.things", [{"k": "a", "d": None}], txn=AppTxn("run-1", 0)).skipped
    assert [tuple(r) for r in store.read("ops.things").collect()] == [("a", dt.date(2024, 5, 6))]


def test_maintenance_compacts_and_vacuums(spark, store, lake: Path):
    store.ensure_table("bronze.people", SCHEMA)
    for i in range(3):
        store.append("bronze.people", rows(spark, [(i, "x", "d")]))
    metrics = store.compact("bronze.people")
    assert metrics["numFilesRemoved"] == 3 and metrics["numFilesAdded"] == 1
    removed = store.vacuum("bronze.people", retention_hours=0)
    assert len(removed) == 3
    assert store.read("bronze.people").count() == 3
    assert store.history("bronze.people", limit=1)[0]["operation"] in ("VACUUM END", "OPTIMIZE")
