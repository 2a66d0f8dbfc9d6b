"""Files -> bronze: raw values kept, audit columns, malformed rows flagged, each file exactly once."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from customer_mdm.config import load_config
from customer_mdm.hops.ingest_files import IngestReport, ingest_source
from customer_mdm.hops.refine import refine_source
from customer_mdm.storage import open_store
from project_conf import write_weighted_matching

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["id", "name", "email", "updated"]


def write_conf(root: Path) -> Path:
    conf = root / "conf"
    (conf / "sources").mkdir(parents=True)
    (conf / "pipeline.yaml").write_text("lake_root: lake\nspark: {shuffle_partitions: 2}\n")
    write_weighted_matching(conf)
    mapping = "{source_record_id: id, full_name: name, email: email, source_updated_at: updated}"
    for name, fmt, ext in [("crm", "csv", "csv"), ("shop", "json", "jsonl"), ("billing", "parquet", "parquet")]:
        options = '{header: "true", escape: "\\""}' if fmt == "csv" else "{}"
        (conf / "sources" / f"{name}.yaml").write_text(
            f"name: {name}\nformat: {fmt}\npath: landing/{name}/*.{ext}\noptions: {options}\n"
            f"columns: {COLUMNS}\nmapping: {mapping}\n")
    return conf


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_conf(tmp_path)
    for name in ("crm", "shop", "billing"):
        (tmp_path / "landing" / name).mkdir(parents=True)
    return tmp_path


def land_csv(project: Path, name: str, content: bytes) -> Path:
    path = project / "landing" / "crm" / name
    path.write_bytes(content)
    return path


def land_all(project: Path) -> None:
    land_csv(project, "crm_1.csv",
             b'id,name,email,updated\n1,"Smith, John",JOHN@X.COM ,2024-01-01\n2,Ann,,2024-01-02\n'
             b'3,too,many,fields,here\n4,Caf\xe9 Bad,c@x.com,2024-01-03\n')
    (project / "landing" / "shop" / "shop_1.jsonl").write_text(
        '{"id": "s1", "name": "Bob", "email": "b@x.com", "updated": "2024-02-01", "ignored": 1}\n'
        '{"id": 7, "name": "Num"}\n{not json\n')
    pq.write_table(pa.table({"updated": ["2024-03-01"], "id": ["b1"], "name": ["CY"], "email": [None]}),
                   project / "landing" / "billing" / "billing_1.parquet")


@dataclass(frozen=True)
class Ingested:
    ingests: list[IngestReport]


def run(spark, project: Path, run_id: str):
    """Files -> bronze for every source (the hops after it are tested elsewhere)."""
    config = load_config(project / "conf")
    store = open_store(spark, config)
    return store, Ingested([ingest_source(spark, store, config, s, run_id=run_id) for s in config.sources])


def bronze_values(store, table: str):
    return store.read(table).select(*COLUMNS, "_raw_record", "_malformed_reason")


def test_raw_values_audit_columns_and_malformed_rows(spark, project):
    land_all(project)
    store, summary = run(spark, project, "run-1")
    crm = bronze_values(store, "bronze.crm")
    expected = spark.createDataFrame([
        ("1", "Smith, John", "JOHN@X.COM ", "2024-01-01", None, None),
        ("2", "Ann", None, "2024-01-02", None, None),
        ("3", "too", "many", "fields", "3,too,many,fields,here", "wrong number of fields or broken quoting"),
        ("4", "Caf\ufffd Bad", "c@x.com", "2024-01-03", None, "bytes not valid in UTF-8 (replaced by U+FFFD)"),
    ], crm.schema)
    assert_df_equality(crm, expected, ignore_row_order=True)
    shop = bronze_values(store, "bronze.shop").orderBy("id").collect()
    assert [(r.id, r._malformed_reason) for r in shop] == [
        (None, "not a valid JSON object"), ("7", None), ("s1", None)]
    assert shop[0]._raw_record == "{not json"
    billing = bronze_values(store, "bronze.billing").collect()
    assert [(r.id, r.name, r.email) for r in billing] == [("b1", "CY", None)]

    audit = store.read("bronze.crm").select("_ingest_run_id", "_source_system", "_source_file",
                                             "_source_checksum", "_ingest_date").distinct().collect()
    crm_file = project / "landing" / "crm" / "crm_1.csv"
    assert len(audit) == 1
    assert audit[0]._ingest_run_id == "run-1" and audit[0]._source_system == "crm"
    assert audit[0]._source_file == str(crm_file)
    assert audit[0]._source_checksum == hashlib.sha256(crm_file.read_bytes()).hexdigest()
    assert {r.source: r.rows for r in summary.ingests} == {"crm": 4, "shop": 3, "billing": 1}


def test_same_files_twice_leave_bronze_unchanged(spark, project):
    land_all(project)
    store, _ = run(spark, project, "run-1")
    versions = {t: store.version(t) for t in ("bronze.crm", "bronze.shop", "bronze.billing")}
    land_csv(project, "crm_1_copy.csv", (project / "landing" / "crm" / "crm_1.csv").read_bytes())
    _, summary = run(spark, project, "run-2")
    assert {t: store.version(t) for t in versions} == versions
    assert sum(r.rows for r in summary.ingests) == 0
    manifest = store.read("ops.file_manifest").where(F.col("run_id") == "run-2") \
        .select("file_path", "status", "reason").collect()
    reasons = {Path(r.file_path).name: (r.status, r.reason) for r in manifest}
    assert reasons["crm_1.csv"] == ("skipped", "already in bronze")
    assert reasons["crm_1_copy.csv"] == ("skipped", "same content as another file in this run")


def test_new_file_lands_and_rejected_file_says_why(spark, project):
    land_all(project)
    store, _ = run(spark, project, "run-1")
    land_csv(project, "crm_2.csv", b"id,name,email,updated\n9,Zed,z@x.com,2024-05-05\n")
    land_csv(project, "crm_3.csv", b"id;name;mail\n1;a;b\n")
    land_csv(project, "crm_4.csv", b"")
    land_csv(project, "crm_5.csv", b"updated,email,name,id\n2024-06-06,r@x.com,Reordered,10\n")
    _, summary = run(spark, project, "run-2")
    crm = {r.source: r for r in summary.ingests}["crm"]
    assert crm.rows == 2 and crm.count("ingested") == 2 and crm.count("rejected") == 2
    rows = bronze_values(store, "bronze.crm").where(F.col("id").isin("9", "10")).orderBy("id").collect()
    assert [(r.id, r.name, r.email) for r in rows] == [("10", "Reordered", "r@x.com"), ("9", "Zed", "z@x.com")]
    manifest = {Path(r.file_path).name: r.reason for r in store.read("ops.file_manifest")
                .where((F.col("run_id") == "run-2") & (F.col("status") == "rejected")).collect()}
    assert manifest["crm_4.csv"] == "empty file (0 bytes)"
    assert manifest["crm_3.csv"].startswith("columns do not match ")
    assert "missing columns ['id', 'name', 'email', 'updated']" in manifest["crm_3.csv"]


def run_job(project: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_extra, "PYSPARK_PYTHON": sys.executable}
    return subprocess.run([sys.executable, str(REPO / "jobs" / "batch_job.py"), "--conf", str(project / "conf"),
                           "--quiet"], env=env, capture_output=True, text=True, timeout=300,
                          start_new_session=True)


@pytest.mark.slow
def test_killed_between_bronze_commit_and_manifest_then_rerun_keeps_every_row_once(spark, project, fault_report):
    land_all(project)
    killed = run_job(project, {"MDM_KILL_AT": "ingest:after_bronze_commit"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    rerun = run_job(project, {})
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    store = open_store(spark, load_config(project / "conf"))
    landed = {"bronze.crm": 4, "bronze.shop": 3, "bronze.billing": 1}
    stored = {table: store.read(table).count() for table in landed}
    distinct = {table: store.read(table).select("_source_checksum", "_row_ref").distinct().count() for table in landed}
    assert stored == distinct == landed
    manifest = store.read("ops.file_manifest").where(F.col("status") == "ingested") \
        .select("source_system", "rows", "reason").collect()
    assert sorted((r.source_system, r.rows) for r in manifest) == [("billing", 1), ("crm", 4), ("shop", 3)]
    reasons = {r.source_system: r.reason for r in manifest}
    # sources run in name order: billing was committed when the first run died, the others were not started
    assert reasons["billing"].startswith("recovered: committed to bronze by an earlier run")
    assert reasons["crm"] is None and reasons["shop"] == "keys not in columns, ignored: ['ignored']"
    runs = store.read("ops.runs").select("status").collect()
    assert sorted(r.status for r in runs) == ["RUNNING", "RUNNING", "SUCCEEDED"]
    fault_report("SIGKILL of the batch job between a bronze commit and its file manifest rows",
                 expected="the re-run recovers the manifest rows and ingests each file once",
                 observed=f"exit -9; re-run exit 0; manifest row recovered: {reasons['billing'][:40]}...",
                 checked=sum(landed.values()),
                 lost=sum(max(landed[t] - distinct[t], 0) for t in landed),
                 duplicated=sum(stored[t] - distinct[t] for t in landed))


def test_bad_files_are_flagged_or_rejected_with_the_reason_and_the_run_goes_on(spark, project, fault_report):
    header = b"id,name,email,updated\n"
    land_csv(project, "good.csv", header + b"1,Ann Lee,ann@x.com,2024-01-01\n")
    land_csv(project, "header_only.csv", header)
    land_csv(project, "truncated.csv", header + b'2,"Unterminated,u@x.com,2024-01-01\n3,Next,n@x.com,2024-01-02')
    land_csv(project, "semicolons.csv", b"id;name;email;updated\n4;a;b;c\n")
    land_csv(project, "latin1.csv", header + "5,José Müller,j@x.com,2024-01-01\n".encode("latin-1"))
    land_csv(project, "big_field.csv", header + b"6," + b"N" * 10_000_000 + b",big@x.com,2024-01-01\n")
    land_csv(project, "garbage.csv", bytes(range(256)) * 64)
    (project / "landing" / "shop" / "garbage.jsonl").write_bytes(bytes(range(256)) * 64)
    (project / "landing" / "billing" / "garbage.parquet").write_bytes(bytes(range(256)) * 64)
    shutil.copy(REPO / "conf" / "quality.yaml", project / "conf" / "quality.yaml")

    store, summary = run(spark, project, "run-1")

    manifest = {Path(r.file_path).name: (r.status, r.rows, r.malformed_rows, r.reason)
                for r in store.read("ops.file_manifest").collect()}
    not_parquet = "not a readable Parquet file: Parquet magic bytes not found in footer. Either the file is " \
                  "corrupted or this is not a parquet file."
    crm_yaml = project / "conf" / "sources" / "crm.yaml"
    assert manifest == {
        "good.csv": ("ingested", 1, 0, None),
        "header_only.csv": ("ingested", 0, 0, None),  # an empty extract: nothing to flag
        "truncated.csv": ("ingested", 2, 1, None),
        "latin1.csv": ("ingested", 1, 1, None),
        "big_field.csv": ("ingested", 1, 0, None),
        "semicolons.csv": ("rejected", 0, 0, f"columns do not match {crm_yaml}: missing columns ['id', 'name', "
                           "'email', 'updated']; unexpected columns ['id;name;email;updated']"),
        "garbage.csv": ("rejected", 0, 0, f"columns do not match {crm_yaml}: missing columns ['id', 'name', "
                        "'email', 'updated']; unexpected columns ['\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08']"),
        "garbage.jsonl": ("ingested", 129, 129, None),
        "garbage.parquet": ("rejected", 0, 0, not_parquet),
    }
    flagged = {(Path(r._source_file).name, r.id): r._malformed_reason
               for r in store.read("bronze.crm").where(F.col("_malformed_reason").isNotNull()).collect()}
    assert flagged == {("truncated.csv", "2"): "wrong number of fields or broken quoting",
                       ("latin1.csv", "5"): "bytes not valid in UTF-8 (replaced by U+FFFD)"}
    assert {r._malformed_reason for r in store.read("bronze.shop").collect()} == {"not a valid JSON object"}

    # silver: malformed rows and the runaway field are quarantined with the reason, the rest lands
    config = load_config(project / "conf")
    refined = refine_source(store, config.source("crm"), rules=config.quality_rules, run_id="run-1", mode="batch")
    assert (refined.counts.read, refined.counts.upserted, refined.counts.quarantined) == (5, 2, 3)
    assert sorted(r.source_record_id for r in store.read("silver.party").collect()) == ["1", "3"]
    quarantined = {(r.source_record_id, r.rule, r.value) for r in store.read("silver.quarantine").collect()}
    assert quarantined == {(None, "malformed_row", '2,"Unterminated,u@x.com,2024-01-01'),
                           (None, "malformed_row", '{"id":"5","name":"Jos\ufffd M\ufffdller","email":"j@x.com",'
                                                   '"updated":"2024-01-01"}'),
                           ("6", "fields_of_sane_length", "longest field: 10000000 characters")}
    fault_report("bad files: empty, header only, truncated, wrong delimiter, wrong encoding, a 10 MB field, "
                 "binary garbage (CSV, JSON lines, Parquet)",
                 expected="each flagged in bronze or rejected with the reason; the run goes on",
                 observed=f"{sum(m[0] == 'rejected' for m in manifest.values())} files rejected with the reason, "
                          f"{sum(m[2] for m in manifest.values())} rows flagged malformed, the 10 MB field "
                          f"quarantined; the good rows reached silver")


def test_schema_drift_rejects_changed_file_layouts_and_names_json_keys_it_ignores(spark, project, fault_report):
    billing = project / "landing" / "billing"
    pq.write_table(pa.table({"id": ["b1"], "name": ["x"], "email": ["e"], "updated": ["2024-01-01"],
                             "phone": ["555"]}), billing / "new_column.parquet")
    pq.write_table(pa.table({"id": ["b2"], "name": ["y"], "updated": ["2024-01-01"]}), billing / "missing.parquet")
    pq.write_table(pa.table({"id": pa.array([3], pa.int64()), "name": ["z"], "email": pa.array([None], pa.string()),
                             "updated": pa.array([1_700_000_000_000_000], pa.timestamp("us"))}),
                   billing / "typed.parquet")
    land_csv(project, "new_column.csv", b"id,name,email,updated,phone\n1,a,b,c,d\n")
    land_csv(project, "missing.csv", b"id,name,updated\n1,a,c\n")
    (project / "landing" / "shop" / "drift.jsonl").write_text(
        '{"id": "s1", "name": "Bob", "email": "b@x.com", "updated": "2024-02-01", "phone": "1", "vip": true}\n'
        '{"id": "s2", "name": "NoMail"}\n{"id": 3, "name": {"first": "N"}, "updated": 1700000000}\n')

    store, _ = run(spark, project, "run-1")

    manifest = {Path(r.file_path).name: (r.status, r.reason) for r in store.read("ops.file_manifest").collect()}
    conf = project / "conf" / "sources"
    assert manifest == {
        "new_column.parquet": ("rejected", f"columns do not match {conf / 'billing.yaml'}: unexpected columns "
                                           "['phone']"),
        "missing.parquet": ("rejected", f"columns do not match {conf / 'billing.yaml'}: missing columns ['email']"),
        "typed.parquet": ("ingested", None),
        "new_column.csv": ("rejected", f"columns do not match {conf / 'crm.yaml'}: unexpected columns ['phone']"),
        "missing.csv": ("rejected", f"columns do not match {conf / 'crm.yaml'}: missing columns ['email']"),
        "drift.jsonl": ("ingested", "keys not in columns, ignored: ['phone', 'vip']"),
    }
    # a type change is no error: bronze keeps every value as text, hop 1 parses it
    assert [tuple(r) for r in bronze_values(store, "bronze.billing").collect()] == \
        [("3", "z", None, "2023-11-14 22:13:20", None, None)]
    assert sorted(tuple(r) for r in bronze_values(store, "bronze.shop").collect()) == [
        ("3", '{"first": "N"}', None, "1700000000", None, None), ("s1", "Bob", "b@x.com", "2024-02-01", None, None),
        ("s2", "NoMail", None, None, None, None)]
    fault_report("schema drift: a new column, a missing column, a type change (CSV, Parquet, JSON lines)",
                 expected="CSV/Parquet layout changes rejected naming the columns; type changes land as text; "
                          "ignored JSON keys named",
                 observed=f"{sum(status == 'rejected' for status, _ in manifest.values())} files rejected naming "
                          f"the columns; typed Parquet and drifted JSON landed; ignored keys: "
                          f"{manifest['drift.jsonl'][1].split(': ', 1)[1]}")
