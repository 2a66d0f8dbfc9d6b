"""Manual overrides entered in gold.manual_overrides (jobs/override.py, or a UI appending rows), through the real
hops: they win over the model, persist across increments and end with a revoke; a bad row stops hop 2 and the runs
that end with it before any write; the job checks an entry as hop 2 would and writes nothing when it refuses one."""
from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest
from chispa import assert_df_equality

from customer_mdm.config import PipelineConfig
from customer_mdm.config.overrides import ManualPair, Overrides, Pin, RecordRef, with_table_rows
from customer_mdm.errors import ConfigError
from customer_mdm.gold.survivorship import GOLDEN_ATTRIBUTES
from customer_mdm.gold.tables import (BLOCKING_SKIPPED, ENTITY_MERGES, ENTITY_XREF, GOLDEN_HISTORY, GOLDEN_RECORD,
                                      MANUAL_OVERRIDES, MATCH_EDGES, MATCH_PAIRS, RESOLVE_LOG, REVIEW_QUEUE)
from customer_mdm.hops.batch import run_batch
from customer_mdm.hops.resolve import ensure_gold_tables
from customer_mdm.ops.runs import Run
from customer_mdm.ops.tables import RUNS
from customer_mdm.storage import TableStore
from test_replay import job_logging  # noqa: F401  (fixture)
from test_resolve import eid, entities, land_and_refine, record, resolve, settings, store  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
_SPEC = importlib.util.spec_from_file_location("override_job", REPO / "jobs" / "override.py")
assert _SPEC is not None and _SPEC.loader is not None
override_job = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(override_job)

GOLD = (RESOLVE_LOG, MATCH_PAIRS, BLOCKING_SKIPPED, REVIEW_QUEUE, MATCH_EDGES, ENTITY_MERGES, ENTITY_XREF,
        GOLDEN_RECORD, GOLDEN_HISTORY, MANUAL_OVERRIDES)
ENTERED = "kind string, action string, left_record string, right_record string, entity_id string, " \
          "attribute string, value string, entered_by string"


def enter(config: PipelineConfig, *flags: str) -> int:
    """jobs/override.py as a steward runs it, on this test's lake."""
    return int(override_job.main(["--conf", str(REPO / "conf"), "--lake", str(config.lake_root), "--quiet",
                                  "--by", "jo", *flags]))


def golden_email(store: TableStore, entity: str) -> tuple[str, str]:
    row = store.read(GOLDEN_RECORD).where(f"entity_id = '{entity}'").collect()[0]
    return row["email"], row["attribute_sources"]["email"]


def test_table_overrides_win_persist_and_end_with_a_revoke(spark, store, settings, config, job_logging, capsys):
    """The model merges ann1 and ann2 and keeps bob1 and cy1 apart: the last increment, after the revokes, shows it."""
    land_and_refine(spark, store, [record("ann1", "ann", 0), record("ann2", "ann", 1), record("bob1", "bob", 2),
                                   record("cy1", "cy", 3)], "a.csv")
    assert enter(config, "--force-link", "crm:bob1", "crm:cy1", "--reason", "same person") == 0  # creates the table
    assert enter(config, "--force-split", "crm:ann2", "crm:ann1") == 0
    assert enter(config, "--pin", eid("bob1"), "email", "pinned@example.com", "--reason", "ticket 7") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("appended to gold.manual_overrides: add force_link crm:bob1 crm:cy1 (by jo at ")
    assert out[0].endswith(" UTC, reason: same person); in effect from the next gold increment")
    assert_df_equality(store.read(MANUAL_OVERRIDES).drop("reason", "entered_at"), spark.createDataFrame([
        ("force_link", "add", "crm:bob1", "crm:cy1", None, None, None, "jo"),
        ("force_split", "add", "crm:ann2", "crm:ann1", None, None, None, "jo"),
        ("pin", "add", None, None, eid("bob1"), "email", "pinned@example.com", "jo")], ENTERED), ignore_row_order=True)
    version = store.version(MANUAL_OVERRIDES)
    assert enter(config, "--force-split", "crm:cy1", "crm:bob1") == 2  # linked already: refused, nothing written
    assert "row 4.kind: expected no pair that a force_link in effect" in capsys.readouterr().err
    assert store.version(MANUAL_OVERRIDES) == version

    resolve(spark, store, settings)
    ids = entities(store)
    assert ids == {"ann1": eid("ann1"), "ann2": eid("ann2"), "bob1": eid("bob1"), "cy1": eid("bob1")}
    assert golden_email(store, eid("bob1")) == ("pinned@example.com", "pin")

    assert enter(config, "--pin", eid("bob1"), "email", "second@example.com") == 0  # a new value replaces the pin
    capsys.readouterr()
    land_and_refine(spark, store, [record("ann3", "ann", 4)], "b.csv")  # an increment that leaves bob's entity alone
    resolve(spark, store, settings)
    assert {k: v for k, v in entities(store).items() if k != "ann3"} == ids
    assert golden_email(store, eid("bob1")) == ("second@example.com", "pin")

    assert enter(config, "--revoke", "--force-link", "crm:cy1", "crm:bob1") == 0
    assert enter(config, "--revoke", "--force-split", "crm:ann1", "crm:ann2") == 0
    assert enter(config, "--revoke", "--pin", eid("bob1"), "email") == 0
    assert capsys.readouterr().out.splitlines()[2].startswith(
        f"appended to gold.manual_overrides: revoke pin {eid('bob1')} email (by jo at ")
    land_and_refine(spark, store, [record("bob3", "bob", 5)], "c.csv")
    resolve(spark, store, settings)
    after = entities(store)
    assert after["ann1"] == after["ann2"] == eid("ann1")  # the model's merge is back, the older id survives
    assert after["bob1"] == after["bob3"] == eid("bob1") != after["cy1"]
    email, source = golden_email(store, eid("bob1"))
    assert email == "bob.ray@example.com" and source.startswith("crm:bob")  # survivorship decides again


def test_a_bad_row_stops_hop_2_and_a_batch_run_before_they_write(spark, store, settings, config):
    land_and_refine(spark, store, [record("ann1", "ann", 0), record("bob1", "bob", 1)], "a.csv")
    ensure_gold_tables(store)  # an increment is due: silver.party has records gold has not resolved
    at = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    row = dict.fromkeys(("left_record", "right_record", "entity_id", "attribute", "value", "reason", "entered_by"))
    store.append_rows(MANUAL_OVERRIDES, [  # as a UI might write them, without the job's checks
        {**row, "kind": "force_link", "action": "add", "left_record": "crm:ann1", "right_record": "bob1",
         "entered_at": at},
        {**row, "kind": "pin", "action": "add", "entity_id": eid("ann1"), "attribute": "shoe_size", "value": "44",
         "entered_at": at + dt.timedelta(minutes=1)},
        {**row, "kind": "pin", "action": "add", "entity_id": eid("ann1"), "attribute": "date_of_birth",
         "value": "04/03/1980", "entered_at": at + dt.timedelta(minutes=2)},
        {**row, "kind": "merge", "action": "add", "entered_at": at + dt.timedelta(minutes=3)},
        {**row, "kind": "force_split", "action": "add", "left_record": "crm:ann1", "right_record": "crm:bob1",
         "entered_at": None}])
    versions = {t: store.version(t) for t in GOLD}

    with pytest.raises(ConfigError) as raised:
        resolve(spark, store, settings)
    assert [(i.file, i.key, i.got) for i in raised.value.issues] == [
        (MANUAL_OVERRIDES, "row 1.right_record", "'bob1'"),
        (MANUAL_OVERRIDES, "row 2.attribute", "'shoe_size'"),
        (MANUAL_OVERRIDES, "row 3.value", "'04/03/1980'"),
        (MANUAL_OVERRIDES, "row 4.kind", "'merge'"),
        (MANUAL_OVERRIDES, "row 5.entered_at", "nothing (the column is required)")]
    assert {t: store.version(t) for t in GOLD} == versions

    # a batch (or replay, stream, erasure) run reads the table first: not even its run row is written
    with pytest.raises(ConfigError) as raised_again:
        run_batch(spark, store, config, Run(store, "r1", "batch_job", "batch", {}), sources=config.sources[:1],
                  resolve=settings)
    assert raised_again.value.issues == raised.value.issues
    assert not store.exists(RUNS) and {t: store.version(t) for t in GOLD} == versions


def test_the_latest_row_per_key_is_in_effect_and_must_agree_with_the_yaml():
    at = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    row = dict.fromkeys(("left_record", "right_record", "entity_id", "attribute", "value", "reason", "entered_by"))

    def pin(minute: int, action: str, value: str | None) -> dict[str, object]:
        return {**row, "kind": "pin", "action": action, "entity_id": "E1", "attribute": "email", "value": value,
                "entered_at": at + dt.timedelta(minutes=minute)}

    def pair(minute: int, kind: str, action: str, left: str, right: str) -> dict[str, object]:
        return {**row, "kind": kind, "action": action, "left_record": left, "right_record": right,
                "entered_at": at + dt.timedelta(minutes=minute)}

    yaml = Overrides(file=Path("conf/overrides.yaml"), force_link=(ManualPair(RecordRef("crm", "y"),
                                                                              RecordRef("crm", "z"), "yaml"),))
    rows = [pin(3, "add", "new@example.com"), pin(1, "add", "old@example.com"),
            pair(2, "force_link", "add", "crm:a", "crm:b"), pair(4, "force_link", "revoke", "crm:b", "crm:a"),
            pair(5, "force_split", "add", "crm:b", "crm:a")]
    combined = with_table_rows(yaml, rows, table=MANUAL_OVERRIDES, attributes=GOLDEN_ATTRIBUTES)
    assert combined == Overrides(file=yaml.file, force_link=yaml.force_link,
                                 force_split=(ManualPair(RecordRef("crm", "b"), RecordRef("crm", "a"), ""),),
                                 pins=(Pin("E1", "email", "new@example.com", ""),),
                                 unlinked=(ManualPair(RecordRef("crm", "b"), RecordRef("crm", "a"), ""),))

    clashing = [*rows, pair(6, "force_split", "add", "crm:z", "crm:y"), pin(7, "add", "x@example.com"),
                pin(7, "revoke", None)]
    with pytest.raises(ConfigError) as raised:
        with_table_rows(yaml, clashing, table=MANUAL_OVERRIDES, attributes=GOLDEN_ATTRIBUTES)
    assert [str(i) for i in raised.value.issues] == [
        "gold.manual_overrides: row 8.entered_at: expected a time after that of row 7, which sets the same override "
        "(got '2024-05-01 00:07:00+00:00')",
        "gold.manual_overrides: row 6.kind: expected no pair that a force_link in effect (conf/overrides.yaml or an "
        "earlier row) names too (got force_split of crm:y / crm:z)"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--pin", "some-id", "email"], "--pin takes ENTITY_ID ATTRIBUTE VALUE, and with --revoke ENTITY_ID ATTRIBUTE "
                                    "(got 2 value(s))"),
    (["--force-link", "crm:a"], "argument --force-link: expected 2 arguments"),
    (["--force-link", "crm:a", "crm:b", "--pin", "x", "email", "y"],
     "argument --pin: not allowed with argument --force-link"),
])
def test_bad_flags_exit_2_before_anything_is_written(spark, store, config, job_logging, capsys, flags, message):
    with pytest.raises(SystemExit) as exited:
        enter(config, *flags)
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip().endswith(f": error: {message}")
    assert not store.exists(MANUAL_OVERRIDES)


@pytest.mark.parametrize(("flags", "message"), [
    (["--force-link", "crm:a", "crm:a"], "gold.manual_overrides: row 1.right_record: expected a record other than "
                                         "left_record (got 'crm:a')"),
    (["--force-split", "crm:a", "b"], "gold.manual_overrides: row 1.right_record: expected a record as "
                                      "'<source_system>:<source_record_id>' (got 'b')"),
    (["--pin", "some-id", "shoe_size", "44"], "gold.manual_overrides: row 1.attribute: expected one of ['full_name'"),
    (["--revoke", "--force-split", "crm:a", "crm:b"], "error: nothing to revoke: gold.manual_overrides has no "
                                                      "force_split in effect for crm:a crm:b"),
])
def test_a_bad_entry_is_refused_with_exit_2_and_nothing_written(spark, store, config, job_logging, capsys, flags,
                                                                 message):
    assert enter(config, *flags) == 2
    assert message in capsys.readouterr().err
    assert not store.exists(MANUAL_OVERRIDES)
