"""Erasure: a person leaves every layer (files vacuumed), stays out after replay and re-sent rows, and the
pipeline keeps running on the lake afterwards. Each test erases in its own copy of the shared sample lake."""
from __future__ import annotations

import csv
import datetime as dt
import logging
import shutil
from collections import Counter
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from customer_mdm.config import load_config
from customer_mdm.config.operations import load_operations
from customer_mdm.config.resolve import load_resolve_settings
from customer_mdm.errors import MdmError
from customer_mdm.hops.batch import file_sources, run_batch
from customer_mdm.ops.erasure import erase, parse_record, plan_erasure
from customer_mdm.ops.runs import Run
from customer_mdm.ops.suppression import drop_suppressed, record_hash
from customer_mdm.ops.tables import ERASURE_SUPPRESSION
from customer_mdm.storage import open_store

KEYED = ("silver.party", "silver.party_history", "silver.quarantine", "gold.entity_xref")
PAIRED = ("gold.match_pairs", "gold.match_edges", "gold.review_queue")
NO_RETENTION = "maintenance:\n  min_retention_hours: 0\n  defaults: {retention_hours: 0}\n"


@pytest.fixture
def copied(sample_lake, tmp_path):
    """A private copy of the sample project and lake, with retention 0 so vacuum removes erased files now."""
    root = tmp_path / "project"
    shutil.copytree(sample_lake.root, root)
    (root / "conf" / "operations.yaml").write_text(NO_RETENTION, encoding="utf-8")
    config = load_config(root / "conf", lake=root / "lake")
    operations = load_operations(root / "conf" / "operations.yaml", known_sources=[s.name for s in config.sources])
    return root, config, operations


def _store(spark, config):
    return open_store(spark, config)


def _run_erasure(spark, config, operations, **target):
    store = _store(spark, config)
    plan = plan_erasure(store, config, **target)
    report = erase(spark, store, config, plan, resolve=load_resolve_settings(config),
                   maintenance=operations.maintenance, run_id="erase-test", reason="test request")
    return store, plan, report


def _keyed_rows(df, records, system="source_system", record="source_record_id"):
    wanted = F.lit(False)
    for s, i in records:
        wanted = wanted | ((F.col(system) == s) & (F.col(record) == i))
    return df.where(wanted)


def _pii_of(store, records):
    """E-mails and phones only the erased rows hold (another record may share a value and keep it)."""
    party = store.read("silver.party")
    erased = _keyed_rows(party, records)

    def values(df):
        return {v for r in df.select("email", "phone_e164").collect() for v in r if v}
    return values(erased) - values(party.subtract(erased))


def test_an_erased_entity_leaves_every_layer_and_its_files(spark, copied, caplog, fault_report):
    root, config, operations = copied
    store = _store(spark, config)
    current = store.read("gold.entity_xref").where("is_current").groupBy("entity_id").count() \
        .orderBy(F.desc("count"), "entity_id").first()
    entity, size = current["entity_id"], current["count"]
    assert size >= 2, "the sample should hold a multi-record entity"
    records = {(r["source_system"], r["source_record_id"]) for r in
               store.read("gold.entity_xref").where(F.col("entity_id") == entity).collect()}
    pii = _pii_of(store, records)
    others_before = store.read("silver.party").count() - len(records)
    assert pii
    # a steward pinned one of the person's values and split one of the records from someone else's
    pinned = sorted(pii)[0]
    one = "%s:%s" % sorted(records)[0]
    a, b = ["%s:%s" % (r["source_system"], r["source_record_id"]) for r in store.read("gold.entity_xref")
            .where(F.col("is_current") & (F.col("entity_id") != entity)).orderBy("source_record_id").take(2)]
    at = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    store.append_rows("gold.manual_overrides", [
        {"kind": "pin", "action": "add", "entity_id": entity, "attribute": "email" if "@" in pinned else "phone_e164",
         "value": pinned, "entered_by": "steward", "entered_at": at},
        {"kind": "force_split", "action": "add", "left_record": one, "right_record": a, "entered_by": "steward",
         "entered_at": at},
        {"kind": "force_split", "action": "add", "left_record": a, "right_record": b, "entered_by": "steward",
         "entered_at": at}])

    with caplog.at_level(logging.DEBUG, logger="customer_mdm"):
        store, plan, report = _run_erasure(spark, config, operations, entity_id=entity)

    assert set(plan.records) == records and plan.remaining == {}
    for table in KEYED:
        assert _keyed_rows(store.read(table), records).count() == 0, table
    for table in PAIRED:
        df = store.read(table)
        assert _keyed_rows(df, records, "l_source_system", "l_source_record_id").count() == 0, table
        assert _keyed_rows(df, records, "r_source_system", "r_source_record_id").count() == 0, table
    for source in file_sources(config):
        ids = [i for s, i in records if s == source.name]
        column = source.mapping["source_record_id"]
        assert store.read(source.bronze_table).where(F.trim(F.col(column)).isin(ids)).count() == 0
    assert store.read("gold.golden_record").where(F.col("entity_id") == entity).count() == 0
    assert store.read("gold.golden_record_history").where(F.col("entity_id") == entity).count() == 0
    assert store.read("silver.party").count() == others_before
    assert [(r["left_record"], r["right_record"]) for r in store.read("gold.manual_overrides").collect()] == [(a, b)]
    assert report.deleted["silver.party"] == len(records)

    hashes = store.read(ERASURE_SUPPRESSION)
    assert_df_equality(hashes.select("source_system", "record_hash", "reason"),
                       spark.createDataFrame([(s, record_hash(s, i), "test request") for s, i in sorted(records)],
                                             "source_system string, record_hash string, reason string"),
                       ignore_row_order=True, ignore_nullable=True)

    # no data file of any table still holds the erased values (retention 0: vacuumed now). Known gap: the
    # delete's change-data-feed files of gold tables (pre-images) stay until the table's next vacuum after them.
    leaks = {(p.relative_to(root / "lake").parts[:2], "_change_data" in p.parts)
             for p in (root / "lake").rglob("*.parquet") if "_delta_log" not in p.parts
             for v in pii if v.encode() in p.read_bytes()}
    assert {where for where, in_cdf in leaks if not in_cdf} == set()
    assert {where[0] for where, _ in leaks} <= {"gold"}
    # the log says how many, never who
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "erasure erase-test: %d source record(s)" % len(records) in logged
    assert not [v for v in pii | {i for _, i in records} if v in logged]
    fault_report("erasure request for an entity (`jobs/erase.py --entity`)",
                 expected="the person leaves every layer and its data files; a suppression hash keeps replays and "
                          "re-sent rows out",
                 observed=f"{len(records)} source records deleted from {len(KEYED) + len(PAIRED)} tables and bronze, "
                          f"files vacuumed, none of {len(pii)} PII values left outside gold's change-data files; "
                          f"the log names no id")


def test_after_erasing_one_record_the_rest_is_rebuilt_and_replays_and_resends_keep_it_out(spark, copied):
    root, config, operations = copied
    store = _store(spark, config)
    xref = store.read("gold.entity_xref").where("is_current")
    shared = xref.groupBy("entity_id").agg(F.count("*").alias("n"), F.max(F.when(
        F.col("source_system") == "crm", F.col("source_record_id"))).alias("crm_id")) \
        .where("n >= 2 AND crm_id IS NOT NULL").orderBy("entity_id").first()
    record, entity = ("crm", shared["crm_id"]), shared["entity_id"]
    erased_email = _pii_of(store, [record])
    crm_row = {k: v for k, v in next(r for p in sorted((root / "data/landing/crm").glob("*.csv"))
                                     for r in csv.DictReader(p.open(encoding="utf-8"))
                                     if r["customer_id"] == record[1]).items()}

    store, plan, report = _run_erasure(spark, config, operations, record=parse_record(f"crm:{record[1]}"))

    assert plan.records == (record,) and plan.remaining == {entity: shared["n"] - 1}
    golden = store.read("gold.golden_record").where(F.col("entity_id") == entity)
    assert [r["run_id"] for r in golden.collect()] == ["erase-test"], "rebuilt from the records that remain"
    assert not [e for e in erased_email if e in str(golden.first().asDict())]

    # re-send: a new extract lands with the erased record (changed) and a new one; the batch runs again
    landing = root / "data/landing/crm/crm_9999.csv"
    with landing.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(crm_row))
        writer.writeheader()
        writer.writerow({**crm_row, "updated_at": "2031-01-01 00:00:00"})
        writer.writerow({**crm_row, "customer_id": "NEW-1", "updated_at": "2031-01-01 00:00:00"})
    crm = config.source("crm")
    summary = run_batch(spark, store, config, Run(store, "run-after-erasure", "test", "batch", {}),
                        sources=[crm], resolve=load_resolve_settings(config))
    refined = summary.refines[0]
    assert (refined.counts.read, refined.counts.suppressed, refined.counts.balanced) == (2, 1, True)
    party = store.read("silver.party")
    assert party.where(F.col("source_record_id") == "NEW-1").count() == 1
    assert _keyed_rows(party, [record]).count() == 0
    assert _keyed_rows(store.read("gold.entity_xref"), [record]).count() == 0
    assert store.read("gold.entity_xref").where(F.col("source_record_id") == "NEW-1").count() == 1

    # replay: the whole bronze table again through hop 1's filter keeps the record out
    replayed = drop_suppressed(store.read(crm.bronze_table), store.read(ERASURE_SUPPRESSION), source=crm)
    assert replayed.where(F.trim("customer_id") == record[1]).count() == 0
    assert replayed.where(F.col("customer_id") == "NEW-1").count() == 1


def test_a_resent_kafka_event_of_an_erased_record_is_dropped_by_its_key(spark, config):
    events = config.source("crm_events")
    bronze = spark.createDataFrame([(b"C-1", b'{"customer_id": "C-1"}'), (b" C-2", b"not json"),
                                    (b"C-3", b"{}"), (None, b"{}")], "key binary, value binary")
    suppressions = spark.createDataFrame([("crm_events", record_hash("crm_events", "C-1")),
                                          ("crm_events", record_hash("crm_events", "C-2")),
                                          ("crm", record_hash("crm", "C-3"))], "source_system string, record_hash string")
    kept = drop_suppressed(bronze, suppressions, source=events)
    assert_df_equality(kept, spark.createDataFrame([(b"C-3", b"{}"), (None, b"{}")], "key binary, value binary"),
                       ignore_row_order=True)


def test_requests_that_name_nothing_known_are_refused_before_any_write(spark, copied):
    _, config, _ = copied
    store = _store(spark, config)
    versions = Counter({t: store.version(t) for t in ("silver.party", "gold.entity_xref")})
    with pytest.raises(MdmError, match=r"^entity no-such-id is not in gold.entity_xref"):
        plan_erasure(store, config, entity_id="no-such-id")
    with pytest.raises(MdmError, match=r"^--source-record: unknown source system 'hr'; configured: "):
        plan_erasure(store, config, record=("hr", "1"))
    with pytest.raises(MdmError, match=r"^--source-record: expected SYSTEM:ID such as crm:C-1001 \(got 'crm'\)$"):
        parse_record("crm")
    assert Counter({t: store.version(t) for t in versions}) == versions
    assert not store.exists(ERASURE_SUPPRESSION)
