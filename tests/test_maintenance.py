"""Maintenance on a small real lake: compaction keeps the rows, vacuum keeps what the retention promises."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql.types import LongType, StringType, StructField, StructType

from customer_mdm.config.operations import load_operations
from customer_mdm.errors import ConfigError
from customer_mdm.ops.maintenance import lake_tables, maintain
from customer_mdm.storage import open_store

REPO = Path(__file__).resolve().parents[1]
SCHEMA = StructType([StructField("id", LongType()), StructField("city", StringType())])
SOURCES = ["crm", "ecommerce"]


def operations(tmp_path: Path, text: str):
    file = tmp_path / "operations.yaml"
    file.write_text(text, encoding="utf-8")
    return load_operations(file, known_sources=SOURCES)


@pytest.fixture
def store(spark, config):
    """silver.people in three appends (three files) and bronze.crm in two."""
    store = open_store(spark, config)
    store.ensure_table("silver.people", SCHEMA)
    for start in (1, 3, 5):
        store.append_rows("silver.people", [{"id": i, "city": f"c{i % 3}"} for i in (start, start + 1)])
    store.ensure_table("bronze.crm", SCHEMA)
    for i in (1, 2):
        store.append_rows("bronze.crm", [{"id": i, "city": "x"}])
    return store


def test_compaction_merges_files_keeps_rows_and_time_travel_within_the_retention(spark, store, tmp_path):
    config = operations(tmp_path, "maintenance:\n  tables:\n    bronze.*: {compact: false}\n")
    rows_before = store.read("silver.people")
    version_before = store.version("silver.people")

    results = {r.table: r for r in maintain(store, config.maintenance, file=str(config.file))}

    assert sorted(results) == ["bronze.crm", "silver.people"] == lake_tables(store)
    people = results["silver.people"]
    assert (people.rewrite, people.files_before, people.files_after, people.vacuumed) == ("compact", 3, 1, ())
    assert_df_equality(store.read("silver.people"), rows_before, ignore_row_order=True)
    # 168 h retention: the compacted-away files stay, so the old snapshot still reads
    assert_df_equality(store.read("silver.people", version=version_before), rows_before, ignore_row_order=True)
    crm = results["bronze.crm"]
    assert (crm.rewrite, crm.files_before, crm.files_after) == ("none", 2, 2)
    # a log checkpoint at each table's current version, so readers replay few JSON commits
    for table, result in results.items():
        assert result.checkpoint_version == store.version(table)
        log = Path(store.path(table)) / "_delta_log"
        assert (log / f"{result.checkpoint_version:020d}.checkpoint.parquet").is_file(), sorted(log.iterdir())


def test_z_order_clusters_by_the_configured_columns_and_keeps_rows(spark, store, tmp_path):
    config = operations(tmp_path, "maintenance:\n  tables:\n    silver.people: {z_order: [city]}\n")
    rows_before = store.read("silver.people")

    [result] = maintain(store, config.maintenance, file=str(config.file), tables=["silver.people"])

    assert (result.rewrite, result.files_before, result.files_after) == ("z-order", 3, 1)
    assert_df_equality(store.read("silver.people"), rows_before, ignore_row_order=True)
    assert store.history("silver.people", limit=1)[0]["operation"] == "OPTIMIZE"


def test_a_retention_below_the_configured_minimum_is_refused_naming_file_and_key(tmp_path):
    with pytest.raises(ConfigError) as error:
        operations(tmp_path, "maintenance:\n  tables:\n    silver.people: {retention_hours: 0}\n"
                             "sla:\n  freshness_hours: {nowhere: 1}\n")
    file = tmp_path / "operations.yaml"
    assert [str(i) for i in error.value.issues] == [
        f"{file}: maintenance.tables.silver.people.retention_hours: expected at least "
        "maintenance.min_retention_hours (168): replay and time travel need the files of that many hours back "
        "(got 0)",
        f"{file}: sla.freshness_hours.nowhere: expected a configured source, one of ['crm', 'ecommerce'] "
        "(got an unknown source)",
    ]


def test_zero_retention_when_the_minimum_allows_it_dry_run_first_then_vacuum(spark, store, tmp_path):
    week = operations(tmp_path, "maintenance: {}\n")
    people = Path(store.path("silver.people"))
    original = sorted(p.name for p in people.glob("*.parquet"))
    maintain(store, week.maintenance, file=str(week.file), tables=["silver.people"])  # compacts, deletes nothing
    assert len(list(people.glob("*.parquet"))) == 4
    zero = operations(tmp_path, "maintenance:\n  min_retention_hours: 0\n  defaults: {retention_hours: 0}\n")

    [dry] = maintain(store, zero.maintenance, file=str(zero.file), tables=["silver.people"], dry_run=True)
    assert sorted(Path(p).name for p in dry.vacuumed) == original  # the files compacted away
    assert len(list(people.glob("*.parquet"))) == 4  # a dry run deletes nothing

    [done] = maintain(store, zero.maintenance, file=str(zero.file), tables=["silver.people"])
    assert sorted(Path(p).name for p in done.vacuumed) == original
    assert len(list(people.glob("*.parquet"))) == 1
    assert store.read("silver.people").count() == 6


def test_z_order_on_a_missing_column_fails_before_any_table_is_touched(spark, store, tmp_path):
    config = operations(tmp_path, "maintenance:\n  tables:\n    silver.people: {z_order: [postcode]}\n")
    versions = {t: store.version(t) for t in ("silver.people", "bronze.crm")}
    with pytest.raises(ConfigError) as error:
        maintain(store, config.maintenance, file=str(config.file))
    assert [str(i) for i in error.value.issues] == [
        f"{config.file}: maintenance.tables.silver.people.z_order: expected columns of silver.people: "
        "['city', 'id'] (got 'postcode')"]
    assert {t: store.version(t) for t in versions} == versions


def test_the_job_records_a_run_and_a_dry_run_writes_nothing(spark, store, config, tmp_path):
    file = tmp_path / "operations.yaml"
    file.write_text("maintenance:\n  tables:\n    bronze.*: {compact: false}\n", encoding="utf-8")

    def job(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(REPO / "jobs" / "maintain.py"), "--conf", str(REPO / "conf"),
                               "--lake", str(config.lake_root), "--operations", str(file), "--quiet", *flags],
                              capture_output=True, text=True, timeout=600)

    dry = job("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert not store.exists("ops.runs") and store.version("silver.people") == 3
    done = job()
    assert done.returncode == 0, done.stderr
    [run] = store.read("ops.runs").where("status != 'RUNNING'").collect()
    assert (run.job, run.mode, run.status) == ("maintain", "maintenance", "SUCCEEDED")
    assert {k: run.counts[k] for k in ("tables", "files_before", "files_after", "files_vacuumed")} == \
        {"tables": 2, "files_before": 5, "files_after": 3, "files_vacuumed": 0}
