"""The batch job end to end on generated sample data, as a user runs it: real processes, real crashes."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

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
               "gold.golden_record", "gold.golden_record_history", "gold.resolve_log", "gold.blocking_keys")


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


#: Every named point a batch run passes, in the order it reaches them. The kill test dies at each in turn: each run
#: resumes what the run before it left and dies at the next point.
BATCH_KILL_POINTS = ("ingest:after_discover", "delta_append:before_commit", "ingest:after_bronze_commit",
                     "batch:after_bronze", "refine:between_party_and_history", "batch:after_silver",
                     "resolve:after_scoring", "resolve:before_xref", "resolve:between_xref_and_golden",
                     "resolve:before_golden_history")
COMPARED_TABLES = ("bronze.crm", "bronze.ecommerce", "bronze.billing", "silver.party", "silver.party_history",
                   "silver.quarantine", *GOLD_TABLES)


@dataclass(frozen=True)
class Comparison:
    checked: int
    lost: int
    duplicated: int


def compare_lakes(spark, project: Path, lake: str, reference_lake: str) -> Comparison:
    """Rows of every compared table against the reference lake, as multisets (audit columns excluded).

    A table that differs fails here with chispa's side-by-side diff.
    """
    checked = lost = duplicated = 0
    for name in COMPARED_TABLES:
        got, want = table(spark, project, lake, name), table(spark, project, reference_lake, name)
        missing, extra = want.exceptAll(got).count(), got.exceptAll(want).count()
        if missing or extra:
            assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True)
        checked, lost, duplicated = checked + want.count(), lost + missing, duplicated + extra
    return Comparison(checked, lost, duplicated)


def _added_paths(log: Path) -> set[str]:
    actions = (json.loads(line) for commit in log.glob("*.json")
               for line in commit.read_text(encoding="utf-8").splitlines() if line.strip())
    return {unquote(action["add"]["path"]) for action in actions if "add" in action}


def never_committed_files(lake: Path) -> dict[str, list[Path]]:
    """Per table, the data files that no commit in its log ever added (what a killed write leaves)."""
    found = {}
    for log in sorted(lake.glob("*/*/_delta_log")):
        root, added = log.parent, _added_paths(log)
        orphans = [f for f in root.rglob("*.parquet")
                   if f.relative_to(root).parts[0] not in ("_delta_log", "_change_data")
                   and str(f.relative_to(root)) not in added]
        if orphans:
            found[f"{root.parent.name}.{root.name}"] = orphans
    return found


@pytest.mark.slow
def test_batch_job_lands_every_layer_and_a_kill_at_every_point_loses_and_doubles_nothing(spark, project, reference,
                                                                                          fault_report):
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

    for point in BATCH_KILL_POINTS:
        killed = batch_job(project, "lake_crash", MDM_KILL_AT=point)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-3000:])
    resumed = batch_job(project, "lake_crash")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    orphans = never_committed_files(project / "lake_crash")
    # the tasks of the append killed before its commit (the first source's bronze) wrote files no commit references
    [(killed_table, killed_files)] = orphans.items()
    assert killed_table.startswith("bronze.")
    compared = compare_lakes(spark, project, "lake_crash", "lake_ref")  # the orphans are invisible to reads
    assert (compared.lost, compared.duplicated) == (0, 0)
    for point in BATCH_KILL_POINTS:
        fault_report(f"SIGKILL of the batch job at `{point}`", expected="the next run resumes; the lake ends equal to "
                     "an uninterrupted run's", observed="exit -9, resumed by the next run")
    fault_report(f"the {len(BATCH_KILL_POINTS)} kills above, one after another, then one clean run",
                 expected="every table equals the uninterrupted reference run's (audit columns aside)",
                 observed=f"{len(COMPARED_TABLES)} tables equal", checked=compared.checked, lost=compared.lost,
                 duplicated=compared.duplicated)

    store = open_store(spark, load_config(project / "conf", lake=project / "lake_crash"))
    vacuumed = store.vacuum(killed_table, retention_hours=0)
    assert never_committed_files(project / "lake_crash") == {}
    assert len(vacuumed) >= len(killed_files)
    assert_df_equality(table(spark, project, "lake_crash", killed_table),
                       table(spark, project, "lake_ref", killed_table), ignore_row_order=True, ignore_nullable=True)
    fault_report("SIGKILL inside a Delta append (`delta_append:before_commit`: files written, not committed)",
                 expected="the files are never visible; vacuum deletes them",
                 observed=f"{len(killed_files)} uncommitted file(s) in {killed_table}, invisible to reads, "
                          f"deleted by vacuum")

    versions = {n: DeltaTable(str(project / "lake_ref" / n)).version()
                for n in ("bronze/crm", "silver/party", "silver/party_history", "gold/entity_xref", "gold/golden_record")}
    again = batch_job(project, "lake_ref")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing new in bronze" in again.stdout and "nothing new in silver" in again.stdout
    assert {n: DeltaTable(str(project / "lake_ref" / n)).version() for n in versions} == versions


@pytest.mark.slow
def test_two_batch_jobs_started_at_once_on_one_lake_both_finish_and_nothing_is_doubled(spark, project, reference,
                                                                                        fault_report):
    assert reference.returncode == 0, reference.stderr[-3000:]
    jobs = [subprocess.Popen(_command(project, "lake_twin"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True) for _ in range(2)]
    outputs = [job.communicate(timeout=900) for job in jobs]

    assert [job.returncode for job in jobs] == [0, 0], [err[-3000:] for _, err in outputs]
    assert any("waiting for lake lock" in err for _, err in outputs)  # one waited for the other, then went on
    compared = compare_lakes(spark, project, "lake_twin", "lake_ref")
    assert (compared.lost, compared.duplicated) == (0, 0)
    store = open_store(spark, load_config(project / "conf", lake=project / "lake_twin"))
    statuses = [r.status for r in store.read("ops.runs").where("status != 'RUNNING'").collect()]
    assert statuses == ["SUCCEEDED", "SUCCEEDED"]
    manifest = store.read("ops.file_manifest").groupBy("file_path").pivot("status").count().collect()
    assert {(r["ingested"], r["skipped"]) for r in manifest} == {(1, 1)}  # each file once, then seen as done
    fault_report("two batch jobs started at once on one lake", expected="both finish; nothing lost or doubled",
                 observed="both exit 0, one waited for the lake lock; each file ingested once, skipped once; "
                          f"{len(COMPARED_TABLES)} tables equal an uninterrupted run's", checked=compared.checked,
                 lost=compared.lost, duplicated=compared.duplicated)
