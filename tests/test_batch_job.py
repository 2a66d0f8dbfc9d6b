"""The batch job end to end on generated sample data, as a user runs it: real processes, real crashes."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable
from pyspark.sql import functions as F
from pyspark.sql.types import MapType

from customer_mdm.config import load_config
from customer_mdm.samples.generator import generate
from customer_mdm.storage import open_store

REPO = Path(__file__).resolve().parents[1]
#: Columns that say when and by which run a row was written, not what it holds.
AUDIT_COLUMNS = ("_ingest_run_id", "_recorded_at", "_ingested_at", "_ingest_date", "run_id", "quarantined_at",
                 "recorded_at", "scored_at", "updated_at")
#: Gold's SCD2 tables stamp versions with the wall clock; their increment columns say the same in a comparable way.
GOLD_AUDIT_COLUMNS = ("valid_from", "valid_to")
GOLD_TABLES = ("gold.match_pairs", "gold.match_edges", "gold.review_queue", "gold.entity_xref", "gold.entity_merges",
               "gold.golden_record", "gold.golden_record_history", "gold.resolve_log")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "conf", root / "conf")
    shutil.copytree(REPO / "models", root / "models")
    for name in ("crm_events.yaml",):  # Kafka sources are not part of a batch run
        (root / "conf" / "sources" / name).unlink()
    (root / "conf" / "operations.yaml").write_text(
        "sla:\n  freshness_hours: {crm: 26, ecommerce: 26, billing: 26}\n  max_hop_lag_versions: 0\n")
    generate(root / "data" / "landing", records=300, seed=7, extracts=2, malformed=2)
    return root


def _command(project: Path, lake: str) -> list[str]:
    return [sys.executable, str(REPO / "jobs" / "batch_job.py"), "--conf", str(project / "conf"),
            "--lake", str(project / lake)]


def batch_job(project: Path, lake: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(project, lake), env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=900, start_new_session=True)


@pytest.fixture(scope="module")
def reference(project: Path) -> subprocess.CompletedProcess[str]:
    """One uninterrupted run into lake_ref: what every other run on these files must end with."""
    return batch_job(project, "lake_ref")


def table(spark, project: Path, lake: str, name: str):
    """The table without audit columns; maps as JSON text, since row-order-free comparison sorts by every column."""
    store = open_store(spark, load_config(project / "conf", lake=project / lake))
    df = store.read(name).drop(*AUDIT_COLUMNS, *(GOLD_AUDIT_COLUMNS if name.startswith("gold.") else ()))
    return df.select([F.to_json(f.name).alias(f.name) if isinstance(f.dataType, MapType) else F.col(f.name)
                      for f in df.schema.fields])


@pytest.mark.slow
def test_batch_job_lands_every_layer_and_crashes_between_silver_or_gold_commits_change_nothing(spark, project,
                                                                                               reference):
    assert reference.returncode == 0, reference.stderr[-3000:]
    assert "SUCCEEDED" in reference.stdout and "silver <- crm" in reference.stdout
    for path in ("bronze/crm", "bronze/ecommerce", "bronze/billing", "silver/party", "silver/party_history",
                 "silver/quarantine", "ops/runs", "ops/file_manifest", "ops/dq_metrics", "gold/entity_xref",
                 "gold/golden_record", "gold/match_pairs"):
        assert DeltaTable(str(project / "lake_ref" / path)).version() >= 1, path
    quarantine = table(spark, project, "lake_ref", "silver.quarantine")
    assert quarantine.where("rule = 'malformed_row'").count() == 2  # the generator's malformed CSV lines

    assert "gold   <- silver" in reference.stdout
    # the run ends with the SLA checks of operations.yaml over its sources
    sla = [line.split() for line in reference.stdout.splitlines() if line.strip().startswith("sla ")]
    assert [words[1:3] for words in sla] == [["OK", f"{check}.{source}"] for check in ("freshness_hours",
                                            "hop_lag_versions") for source in ("billing", "crm", "ecommerce")]
    assert [words[3:] for words in sla[3:]] == [["0", "<=0"]] * 3
    assert table(spark, project, "lake_ref", "gold.golden_record").count() > 100

    for point in ("refine:between_party_and_history", "resolve:between_xref_and_golden"):
        killed = batch_job(project, "lake_crash", MDM_KILL_AT=point)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-3000:])
    resumed = batch_job(project, "lake_crash")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name in ("bronze.crm", "silver.party", "silver.party_history", "silver.quarantine", *GOLD_TABLES):
        assert_df_equality(table(spark, project, "lake_crash", name), table(spark, project, "lake_ref", name),
                           ignore_row_order=True, ignore_nullable=True)

    versions = {n: DeltaTable(str(project / "lake_ref" / n)).version()
                for n in ("bronze/crm", "silver/party", "silver/party_history", "gold/entity_xref", "gold/golden_record")}
    again = batch_job(project, "lake_ref")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing new in bronze" in again.stdout and "nothing new in silver" in again.stdout
    assert {n: DeltaTable(str(project / "lake_ref" / n)).version() for n in versions} == versions


@pytest.mark.slow
def test_two_batch_jobs_started_at_once_on_one_lake_both_finish_and_nothing_is_doubled(spark, project, reference):
    assert reference.returncode == 0, reference.stderr[-3000:]
    jobs = [subprocess.Popen(_command(project, "lake_twin"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True) for _ in range(2)]
    outputs = [job.communicate(timeout=900) for job in jobs]

    assert [job.returncode for job in jobs] == [0, 0], [err[-3000:] for _, err in outputs]
    assert any("waiting for lake lock" in err for _, err in outputs)  # one waited for the other, then went on
    for name in ("bronze.crm", "bronze.ecommerce", "bronze.billing", "silver.party", "silver.party_history",
                 "silver.quarantine", *GOLD_TABLES):
        assert_df_equality(table(spark, project, "lake_twin", name), table(spark, project, "lake_ref", name),
                           ignore_row_order=True, ignore_nullable=True)
    store = open_store(spark, load_config(project / "conf", lake=project / "lake_twin"))
    statuses = [r.status for r in store.read("ops.runs").where("status != 'RUNNING'").collect()]
    assert statuses == ["SUCCEEDED", "SUCCEEDED"]
    manifest = store.read("ops.file_manifest").groupBy("file_path").pivot("status").count().collect()
    assert {(r["ingested"], r["skipped"]) for r in manifest} == {(1, 1)}  # each file once, then seen as done
