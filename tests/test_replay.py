"""Replay from bronze (batch job --replay / --rebuild-silver): the same hop-1 code re-applies bronze rows; replaying
twice changes nothing, errors-only moves fixed rows into silver once, a rebuild gives the same silver."""
from __future__ import annotations

import datetime as dt
import importlib.util
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import MapType

from customer_mdm.bronze import kafka as bronze_kafka
from customer_mdm.bronze.audit import PARTITION_COLUMNS
from customer_mdm.bronze.files import bronze_file_schema, to_bronze
from customer_mdm.config import PipelineConfig, SourceConfig, load_config
from customer_mdm.config.quality import QualityRule, load_quality_rules
from customer_mdm.hops.refine import HISTORY, PARTY, refine_source, watermark
from customer_mdm.hops.replay import ReplaySelection, rebuild_silver, replay_source
from customer_mdm.ops.tables import DEAD_LETTER
from customer_mdm.silver.quarantine import QUARANTINE
from customer_mdm.sources.kafka import KAFKA_SCHEMA
from customer_mdm.storage import AppTxn, TableStore, open_store

REPO = Path(__file__).resolve().parents[1]
_SPEC = importlib.util.spec_from_file_location("batch_job", REPO / "jobs" / "batch_job.py")
assert _SPEC is not None and _SPEC.loader is not None
batch_job = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(batch_job)

COLUMNS = ("id", "first", "last", "email", "updated", "status")
MAPPING = {"source_record_id": "id", "first_name": "first", "last_name": "last", "email": "email",
           "source_updated_at": "updated"}
CRM = SourceConfig(name="crm", format="csv", file=Path("crm.yaml"), path="unused/*.csv", columns=COLUMNS,
                   mapping=MAPPING, sequence_column="updated", timestamp_format="yyyy-MM-dd HH:mm:ss",
                   delete_when="status = 'DELETED'")
EVENTS = SourceConfig(name="events", format="kafka", file=Path("events.yaml"), topic="crm.events", columns=COLUMNS,
                      mapping=MAPPING, sequence_column="updated", timestamp_format="yyyy-MM-dd HH:mm:ss",
                      delete_when="status = 'DELETED'")
SILVER = (PARTY, HISTORY, QUARANTINE, DEAD_LETTER)
#: The quarantine rule before and after the "fix": e-mail domains the business accepts.
STRICT = r"'@x\.com$'"
FIXED = r"'@(x|y)\.com$'"


def rules(tmp_path: Path, pattern: str) -> tuple[QualityRule, ...]:
    path = tmp_path / f"quality-{len(pattern)}.yaml"
    path.write_text("rules:\n  - name: email_domain\n    type: pattern\n    column: email\n"
                    f"    pattern: {pattern}\n    action: quarantine\n")
    return load_quality_rules(path)


@pytest.fixture
def store(spark: SparkSession, config: PipelineConfig) -> TableStore:
    return open_store(spark, config)


def row(key: str, minute: int, first: str, domain: str = "x.com", *, deleted: bool = False) -> dict[str, str | None]:
    return {"id": key, "first": first, "last": "Smith", "email": f"{first.lower()}@{domain}",
            "updated": f"2024-01-01 10:{minute:02d}:00", "status": "DELETED" if deleted else "ACTIVE"}


def land_file(spark: SparkSession, store: TableStore, rows: list[dict[str, str | None]], *, name: str, run_id: str,
              malformed: str | None = None) -> int:
    """Appends rows to bronze.crm as if ingested from file ``name`` by run ``run_id`` (+ one malformed line)."""
    values = [tuple(r.get(c) for c in COLUMNS) + (None, name) for r in rows]
    if malformed is not None:
        values.append((None,) * len(COLUMNS) + (malformed, name))
    raw = spark.createDataFrame(values, ", ".join(f"{c} string" for c in [*COLUMNS, "_raw_record", "_source_file"]))
    store.ensure_table(CRM.bronze_table, bronze_file_schema(CRM), partition_by=PARTITION_COLUMNS)
    return store.append(CRM.bronze_table, to_bronze(raw.coalesce(1), source=CRM, checksums={name: name},
                                                    run_id=run_id)).version or 0


def land_events(spark: SparkSession, store: TableStore, values: list[bytes], *, first_offset: int, run_id: str) -> int:
    """Appends Kafka records (raw values, keyed by nothing) to bronze.events, partition 0 from ``first_offset``."""
    stamp = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
    records = spark.createDataFrame([(None, v, EVENTS.topic, 0, first_offset + i, stamp, 0, [])
                                     for i, v in enumerate(values)], KAFKA_SCHEMA)
    store.ensure_table(EVENTS.bronze_table, bronze_kafka.BRONZE_KAFKA_SCHEMA, partition_by=PARTITION_COLUMNS)
    return store.append(EVENTS.bronze_table, bronze_kafka.to_bronze(records, run_id=run_id,
                                                                    source_system=EVENTS.name)).version or 0


def event(key: str, minute: int, first: str, domain: str = "x.com") -> bytes:
    return json.dumps(row(key, minute, first, domain)).encode()


def snapshot(store: TableStore) -> dict[str, DataFrame]:
    tables = {t: store.read(t).cache() for t in SILVER}
    for df in tables.values():
        df.count()
    return tables


def assert_unchanged(store: TableStore, before: dict[str, DataFrame]) -> None:
    for name, df in before.items():
        assert_df_equality(store.read(name), df, ignore_row_order=True, ignore_nullable=True)


def without_recorded_at(df: DataFrame) -> DataFrame:
    return df.drop("_recorded_at")


def build_lake(spark: SparkSession, store: TableStore, checks: tuple[QualityRule, ...]) -> dt.datetime:
    """Two file increments (updates, a late older version, a delete, a quarantined row, a malformed line) and two
    Kafka increments (a quarantined event, an unparseable one), each refined by the normal hop as it lands.
    Returns a time between the two ingests."""
    land_file(spark, store, [row("1", 0, "Ann"), row("2", 0, "Bob"), row("1", 5, "Anne"), row("3", 1, "Cy", "z.com")],
              name="a.csv", run_id="ingest-a", malformed='"broken,line')
    land_events(spark, store, [event("e1", 0, "Eve"), b"{not json", event("e2", 0, "Fay", "z.com")], first_offset=0,
                run_id="stream-1")
    for source in (CRM, EVENTS):
        refine_source(store, source, rules=checks, run_id="run-1", mode="batch")
    between = dt.datetime.now(dt.timezone.utc)
    land_file(spark, store, [row("1", 3, "Annie"), row("2", 9, "Bob", deleted=True), row("4", 2, "Dee")],
              name="b.csv", run_id="ingest-b")
    land_events(spark, store, [event("e1", 7, "Evie")], first_offset=3, run_id="stream-2")
    for source in (CRM, EVENTS):
        refine_source(store, source, rules=checks, run_id="run-2", mode="batch")
    return between


def test_replaying_a_range_or_an_ingest_run_twice_changes_nothing(spark, store, tmp_path):
    checks = rules(tmp_path, STRICT)
    between = build_lake(spark, store, checks)
    before = snapshot(store)
    assert before[QUARANTINE].count() == 3 and before[DEAD_LETTER].count() == 1
    marks = {s.name: watermark(store, s) for s in (CRM, EVENTS)}

    for attempt in (1, 2):
        everything = replay_source(store, CRM, ReplaySelection(from_version=0, to_version=99), rules=checks,
                                   run_id=f"replay-range-{attempt}")
        c = everything.replay.counts
        assert everything.catch_up.skipped and (everything.replay.from_version, everything.replay.to_version) == (
            -1, marks["crm"])
        # 8 bronze rows: 6 already in silver (unchanged), 1 quarantined again, 1 malformed line quarantined again
        assert (c.read, c.upserted, c.superseded, c.unchanged, c.quarantined) == (8, 0, 0, 6, 2) and c.balanced
        events = replay_source(store, EVENTS, ReplaySelection(), rules=checks, run_id=f"replay-events-{attempt}")
        c = events.replay.counts
        assert (c.read, c.upserted, c.unchanged, c.quarantined, c.dead_lettered) == (4, 0, 2, 1, 1)

    second_run = replay_source(store, CRM, ReplaySelection(ingest_run_id="ingest-b"), rules=checks,
                               run_id="replay-run")
    assert (second_run.replay.counts.read, second_run.replay.counts.unchanged) == (3, 3)
    window = replay_source(store, CRM, ReplaySelection(since=between, until=between + dt.timedelta(hours=1)),
                           rules=checks, run_id="replay-window")
    assert (window.replay.counts.read, window.replay.counts.unchanged) == (3, 3)
    # silver is merged and quarantine / dead letters appended: whatever one of the five replays changed would show
    assert_unchanged(store, before)
    # replays never move the normal hop's watermark
    assert {s.name: watermark(store, s) for s in (CRM, EVENTS)} == marks


def test_replay_catches_the_normal_hop_up_first_and_never_reads_past_it(spark, store, tmp_path):
    checks = rules(tmp_path, STRICT)
    land_file(spark, store, [row("1", 0, "Ann")], name="a.csv", run_id="ingest-a")
    refine_source(store, CRM, rules=checks, run_id="run-1", mode="batch")
    newest = land_file(spark, store, [row("1", 4, "Anne"), row("2", 0, "Bob")], name="b.csv", run_id="ingest-b")
    result = replay_source(store, CRM, ReplaySelection(from_version=0), rules=checks, run_id="replay-1")
    assert (result.catch_up.counts.read, result.catch_up.counts.upserted) == (2, 2)
    assert result.replay.to_version == newest == watermark(store, CRM)
    assert (result.replay.counts.read, result.replay.counts.unchanged) == (3, 3)
    assert store.read(HISTORY).count() == 3


def test_errors_only_replay_after_a_rule_fix_moves_the_fixed_rows_into_silver_exactly_once(spark, store, tmp_path):
    build_lake(spark, store, rules(tmp_path, STRICT))
    # quarantined under the strict rule: crm 3 (z.com), events e2 (z.com); and now a y.com row for each source
    land_file(spark, store, [row("5", 0, "Gus", "y.com"), row("1", 8, "Ann", "y.com")], name="c.csv",
              run_id="ingest-c")
    land_events(spark, store, [event("e3", 0, "Hal", "y.com")], first_offset=4, run_id="stream-3")
    for source in (CRM, EVENTS):
        refine_source(store, source, rules=rules(tmp_path, STRICT), run_id="run-3", mode="batch")
    assert store.read(QUARANTINE).where(F.col("rule") == "email_domain").count() == 5
    party_before = store.read(PARTY).count()

    fixed = rules(tmp_path, FIXED)  # the rule fix: y.com is accepted from now on
    first = {s.name: replay_source(store, s, ReplaySelection(errors_only=True), rules=fixed, run_id="errors-1")
             for s in (CRM, EVENTS)}
    crm, events = first["crm"].replay.counts, first["events"].replay.counts
    # crm: the two y.com rows become silver (5 new, 1's newest version), 3 (z.com) stays quarantined; the malformed
    # line is not selected (replay cannot repair it)
    assert (crm.read, crm.upserted, crm.quarantined) == (3, 2, 1)
    # events: e3 becomes silver; e2 stays quarantined; the unparseable event is re-read and stays one dead letter
    assert (events.read, events.upserted, events.quarantined, events.dead_lettered) == (3, 1, 1, 1)
    party = store.read(PARTY)
    assert party.count() == party_before + 2
    assert party.where(F.col("source_record_id") == "1").select("email").first()["email"] == "ann@y.com"
    history = store.read(HISTORY)
    assert history.where(F.col("email").endswith("@y.com")).count() == 3
    assert history.groupBy("version_id").count().where("count > 1").count() == 0
    # rows that still fail are quarantined once, not twice; the dead letter is not duplicated
    quarantine = store.read(QUARANTINE)
    assert quarantine.where(F.col("rule") == "email_domain").count() == 5
    assert quarantine.groupBy("_source_ref", "_bronze_version", "rule", "column").count() \
        .where("count > 1").count() == 0
    assert store.read(DEAD_LETTER).count() == 1

    after_first = snapshot(store)
    again = {s.name: replay_source(store, s, ReplaySelection(errors_only=True), rules=fixed, run_id="errors-2")
             for s in (CRM, EVENTS)}
    assert (again["crm"].replay.counts.read, again["crm"].replay.counts.upserted) == (1, 0)
    assert (again["events"].replay.counts.read, again["events"].replay.counts.upserted) == (2, 0)
    assert_unchanged(store, after_first)


def test_rebuild_silver_gives_the_same_silver_and_keeps_the_old_versions_readable(spark, store, tmp_path):
    checks = rules(tmp_path, STRICT)
    build_lake(spark, store, checks)
    before = {t: without_recorded_at(store.read(t)).cache() for t in (PARTY, HISTORY)}
    for df in before.values():
        df.count()
    old_history = store.version(HISTORY)
    quarantine, dead = store.read(QUARANTINE).count(), store.read(DEAD_LETTER).count()
    marks = {s.name: watermark(store, s) for s in (CRM, EVENTS)}

    generation, results, versions = rebuild_silver(store, [CRM, EVENTS], rules=checks, run_id="rebuild-1")
    assert generation == 1 and versions[HISTORY] == old_history
    assert {r.source: r.replay.counts.read for r in results} == {"crm": 8, "events": 4}
    for name, df in before.items():
        assert_df_equality(without_recorded_at(store.read(name)), df, ignore_row_order=True, ignore_nullable=True)
    # old silver by time travel, nothing duplicated in quarantine or dead letters, the hop's watermark kept
    assert_df_equality(without_recorded_at(store.read(HISTORY, version=old_history)), before[HISTORY],
                       ignore_row_order=True, ignore_nullable=True)
    assert (store.read(QUARANTINE).count(), store.read(DEAD_LETTER).count()) == (quarantine, dead)
    assert {s.name: watermark(store, s) for s in (CRM, EVENTS)} == marks
    assert refine_source(store, CRM, rules=checks, run_id="after", mode="batch").skipped

    # a rebuild that crashed right after emptying silver is resumed (same number), not started over
    store.truncate(PARTY, txn=AppTxn("rebuild", 2))
    store.truncate(HISTORY, txn=AppTxn("rebuild", 2))
    generation, results, _ = rebuild_silver(store, [CRM, EVENTS], rules=checks, run_id="rebuild-2")
    assert generation == 2 and all(r.catch_up.skipped for r in results)
    for name, df in before.items():
        assert_df_equality(without_recorded_at(store.read(name)), df, ignore_row_order=True, ignore_nullable=True)


@pytest.fixture
def job_logging():
    """The job sets up logging on the captured stderr: put the root logger back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(("flags", "message"), [
    (["--from-version", "3"], "--from-version: these flags select bronze rows to replay and need --replay"),
    (["--errors-only", "--since", "2024-01-01"],
     "--since, --errors-only: these flags select bronze rows to replay and need --replay"),
    (["--replay", "--from-version", "5", "--to-version", "2"],
     "--from-version 5 is after --to-version 2: the range is empty"),
    (["--replay", "--since", "2024-02-01", "--until", "2024-01-01T00:00:00Z"],
     "--since 2024-02-01T00:00:00+00:00 is not before --until 2024-01-01T00:00:00+00:00: the window [since, until) "
     "is empty"),
    (["--replay", "--since", "last tuesday"],
     "argument --since: 'last tuesday' is not an ISO-8601 timestamp (e.g. 2024-05-01T12:00:00Z)"),
    (["--rebuild-silver", "--source", "crm", "--to-version", "4"],
     "--rebuild-silver rebuilds silver from all of bronze of every source: it takes no --source, --run-id, "
     "--from-version, --to-version, --since, --until or --errors-only (got --to-version --source)"),
    (["--replay", "--rebuild-silver"], "argument --rebuild-silver: not allowed with argument --replay"),
])
def test_flag_misuse_is_exit_2_before_anything_is_written(tmp_path, capsys, job_logging, flags, message):
    lake = tmp_path / "lake"
    with pytest.raises(SystemExit) as exited:
        batch_job.main(["--conf", str(REPO / "conf"), "--lake", str(lake), *flags])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip().endswith(f": error: {message}")
    assert not lake.exists()


def test_an_unknown_replay_source_is_exit_2_before_anything_is_written(tmp_path, capsys, job_logging):
    lake = tmp_path / "lake"
    code = batch_job.main(["--conf", str(REPO / "conf"), "--lake", str(lake), "--replay", "--source", "crm",
                           "--source", "nope"])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "error: unknown source(s) ['nope']; configured sources: billing, crm, crm_events, ecommerce")
    assert not lake.exists()


@pytest.mark.slow
def test_the_batch_job_replays_by_flags_and_gold_keeps_its_ids(spark, sample_lake, tmp_path):
    """One real run of the job: --replay of the sample's crm rows changes nothing in silver or gold."""
    root = tmp_path / "project"
    shutil.copytree(sample_lake.root, root)
    config = load_config(root / "conf", lake=root / "lake")
    store = open_store(spark, config)
    tables = (*SILVER[:3], "gold.entity_xref", "gold.golden_record")

    def comparable(name: str) -> DataFrame:  # maps as JSON: a row-order-free comparison sorts by every column
        df = store.read(name)
        return df.select([F.to_json(f.name).alias(f.name) if isinstance(f.dataType, MapType) else F.col(f.name)
                          for f in df.schema.fields])
    before = {t: comparable(t).cache() for t in tables}
    for df in before.values():
        df.count()
    done = subprocess.run([sys.executable, str(REPO / "jobs" / "batch_job.py"), "--conf", str(root / "conf"),
                           "--lake", str(root / "lake"), "--replay", "--source", "crm", "--run-id", "run-sample",
                           "--quiet"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()  # Spark's JVM may print its own warnings there too
    assert any(line.startswith("run replay-") and ": SUCCEEDED  (replay: sources crm; ingest run run-sample; lake:"
               in line for line in lines), done.stdout
    replayed = next(line for line in lines if line.startswith("  replay <- crm"))
    read = int(replayed.split(": ")[1].split(" rows")[0])
    assert read == store.read("bronze.crm").count() and " 0 upserted + " in replayed
    for name, df in before.items():
        assert_df_equality(comparable(name), df, ignore_row_order=True, ignore_nullable=True)
