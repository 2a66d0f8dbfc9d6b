"""Exports protect PII as configured: hashes are the HMAC-SHA-256 of the values under the salt, masks keep only
their documented part, dropped columns are gone, nulls stay null, and the salt reaches no file, log or message.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_mdm.config.export import ExportConfig, PiiPolicy, resolve_salt
from customer_mdm.config.operations import OperationsConfig, load_operations
from customer_mdm.config.secrets import Secret
from customer_mdm.errors import ConfigError
from customer_mdm.ops.export import checked_policy, protect, write_export

REPO = Path(__file__).resolve().parents[1]
SALT = "exp0rt-salt-for-tests-4d7e"
GOLDEN = "gold.golden_record"


def hmac_hex(value: str, salt: str = SALT) -> str:
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()


def operations(tmp_path: Path, text: str) -> OperationsConfig:
    file = tmp_path / "operations.yaml"
    file.write_text(text, encoding="utf-8")
    return load_operations(file, known_sources=["crm"])


def shipped() -> ExportConfig:
    return load_operations(REPO / "conf" / "operations.yaml", known_sources=["crm", "ecommerce", "billing",
                                                                             "crm_events"]).export


def test_hash_mask_drop_keep_value_by_value_and_element_by_element(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("e1", "edwardbell81453@gmail.com", ["a@x.org", None, "12345"], "+16197991104", "Edward", "CA",
          dt.date(1952, 8, 27), dt.date(1952, 8, 27)),
         ("e2", None, None, None, None, None, None, None)],
        "id string, email string, emails array<string>, phone string, name string, state string, "
        "dob date, born date")
    policy = PiiPolicy(GOLDEN, {"email": "hash", "emails": "hash", "phone": "mask", "name": "mask",
                                "state": "mask", "dob": "drop", "born": "hash", "id": "keep"})

    hashed = protect(df, policy, salt=Secret(SALT))
    masked = protect(df.select("email", "emails"), PiiPolicy(GOLDEN, {"email": "mask", "emails": "mask"}), salt=None)

    assert_df_equality(hashed, spark.createDataFrame(
        [("e1", hmac_hex("edwardbell81453@gmail.com"), [hmac_hex("a@x.org"), None, hmac_hex("12345")],
          "**********04", "****rd", "**", hmac_hex("1952-08-27")),
         ("e2", None, None, None, None, None, None)],
        "id string, email string, emails array<string>, phone string, name string, state string, born string"),
        ignore_nullable=True)
    assert_df_equality(masked, spark.createDataFrame(
        [("e***@gmail.com", ["a***@x.org", None, "***45"]), (None, None)], "email string, emails array<string>"),
        ignore_nullable=True)
    long_salt = "k" * 100  # longer than SHA-256's block: HMAC hashes the key first
    assert protect(df.limit(1).select("email"), PiiPolicy(GOLDEN, {"email": "hash"}), salt=Secret(long_salt)) \
        .first() == (hmac_hex("edwardbell81453@gmail.com", long_salt),)
    with pytest.raises(ValueError, match=r"^x.y hashes \['email'\]: a salt is needed$"):
        protect(df, PiiPolicy(GOLDEN, {"email": "hash"}, key="x.y"), salt=None)


def test_no_key_material_in_the_query_plan(spark: SparkSession) -> None:
    df = spark.createDataFrame([("a@b.com",)], "email string")
    plan = protect(df, PiiPolicy(GOLDEN, {"email": "hash"}), salt=Secret(SALT))._jdf.queryExecution().toString()
    pad = bytes(b ^ 0x36 for b in SALT.encode().ljust(64, b"\0")).hex().upper()
    assert SALT not in plan and pad not in plan.upper() and "sha2(concat(" in plan


def test_exports_of_the_sample_lake_join_on_hashes_and_never_hold_the_salt_or_raw_pii(
        sample_lake, spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = shipped()
    golden = sample_lake.store.read(GOLDEN)
    party = sample_lake.store.read("silver.party")
    salt = Secret(SALT)
    caplog.set_level(logging.DEBUG)

    protected = protect(golden, checked_policy(config, GOLDEN, golden.schema), salt=salt)
    rows = {fmt: write_export(protected, tmp_path / fmt, fmt=fmt, files=1) for fmt in ("csv", "json")}
    silver = protect(party, checked_policy(config, "silver.party", party.schema), salt=salt)

    entities = golden.count()
    assert rows == {"csv": entities, "json": entities}
    assert "addresses" not in protected.columns and "date_of_birth" not in protected.columns
    want = golden.select("entity_id", F.col("email").alias("raw")).collect()
    expected = spark.createDataFrame([(r["entity_id"], hmac_hex(r["raw"]) if r["raw"] else None) for r in want],
                                     "entity_id string, email string")
    from_csv = spark.read.option("header", True).option("escape", '"').csv(str(tmp_path / "csv"))
    from_json = spark.read.json(str(tmp_path / "json"))
    for exported in (from_csv, from_json):  # the same value hashes the same in both exports
        assert_df_equality(exported.select("entity_id", "email"), expected, ignore_row_order=True,
                           ignore_nullable=True)
    # hashes join across tables: every golden email hash is a hash of some silver record's email
    assert {r.email for r in from_json.collect() if r.email} <= {r.email for r in silver.collect()}
    multi = golden.where(F.size("emails") > 1).select("entity_id", "emails").first()
    assert multi is not None
    in_csv = from_csv.where(F.col("entity_id") == multi.entity_id).first()
    assert in_csv is not None  # CSV holds arrays as JSON text
    assert json.loads(in_csv["emails"]) == [hmac_hex(e) for e in multi.emails]
    json_lines = [line for f in (tmp_path / "json").glob("part-*.json") for line in f.read_text().splitlines()]
    assert len(json_lines) == entities
    assert all(set(json.loads(line)) == set(protected.columns) for line in json_lines)  # null keys too
    text = "".join(f.read_text(encoding="utf-8") for fmt in rows for f in (tmp_path / fmt).glob("part-*"))
    assert SALT not in text
    assert not [r.raw for r in want if r.raw and r.raw in text]
    assert (repr(salt), str(salt), f"{salt}") == ("Secret(***)",) * 3
    assert SALT not in caplog.text + repr(config) + repr(protected)


def test_config_mistakes_are_named_together_and_the_literal_salt_never_shown(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as bad:
        operations(tmp_path, "export:\n  table: bronze.crm\n  format: xml\n  files: 0\n  pii:\n"
                             "    salt: my-literal-salt-123456\n    tables:\n"
                             "      gold.golden_record: {email: encrypt, phone_e164: mask}\n"
                             "      ops.runs: {flags: hash}\n")
    file = tmp_path / "operations.yaml"
    assert [str(i) for i in bad.value.issues] == [
        f"{file}: export.table: expected a gold or silver table such as gold.golden_record (got 'bronze.crm')",
        f"{file}: export.pii.salt: expected a reference env:VARIABLE or file:/path/to/secret (secrets never "
        "live in YAML) (got '***')",
        f"{file}: export.pii.tables.gold.golden_record.email: expected one of ['hash', 'mask', 'drop', 'keep'] "
        "(got 'encrypt')",
        f"{file}: export.pii.tables.ops.runs: expected a gold or silver table such as gold.golden_record "
        "(got a table name outside gold and silver)",
        f"{file}: export.format: expected one of ['csv', 'json', 'parquet'] (got 'xml')",
        f"{file}: export.files: expected an integer >= 1 (got 0)"]
    assert "my-literal-salt" not in str(bad.value)
    with pytest.raises(ConfigError) as unsalted:
        operations(tmp_path, "export:\n  pii:\n    tables:\n      silver.party: {email: hash}\n")
    assert [str(i) for i in unsalted.value.issues] == [
        f"{file}: export.pii.salt: expected a reference env:VARIABLE or file:/path/to/secret (secrets never "
        "live in YAML) (got nothing, and silver.party.email is hashed)"]


def test_a_salt_that_cannot_be_read_or_is_short_is_named_by_reference(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MDM_TEST_EXPORT_SALT", raising=False)
    short = tmp_path / "short.salt"
    short.write_text("tiny\n", encoding="utf-8")
    good = tmp_path / "good.salt"
    good.write_text(SALT + "\n", encoding="utf-8")
    file = tmp_path / "operations.yaml"
    expected = "expected a reference to a secret of at least 16 characters"
    for reference, got in (("env:MDM_TEST_EXPORT_SALT", "environment variable MDM_TEST_EXPORT_SALT, which is not set"),
                           (f"file:{tmp_path / 'none'}", f"secret file {tmp_path / 'none'}, which cannot be read "
                                                         "(No such file or directory)"),
                           (f"file:{short}", "a shorter secret")):
        with pytest.raises(ConfigError) as bad:
            resolve_salt(ExportConfig(file=file, salt=reference))
        assert str(bad.value).splitlines()[1:] == [f"  - {file}: export.pii.salt: {expected} (got {got})"]
        assert "tiny" not in str(bad.value)
    assert resolve_salt(ExportConfig(file=file, salt=f"file:{good}")) == Secret(SALT)
    monkeypatch.setenv("MDM_TEST_EXPORT_SALT", SALT)
    assert resolve_salt(ExportConfig(file=file, salt="env:MDM_TEST_EXPORT_SALT")).value == SALT


def test_policies_are_checked_against_the_tables_columns_before_anything_is_written(sample_lake) -> None:
    schema = sample_lake.store.schema(GOLDEN)
    file = Path("ops.yaml")
    key = f"export.pii.tables.{GOLDEN}"
    policy = PiiPolicy(GOLDEN, {"email": "hash", "nickname": "mask", "addresses": "hash", "attribute_sources": "mask",
                                "full_name": "keep", "first_name": "drop", "middle_name": "drop", "last_name": "drop",
                                "name_suffix": "drop", "emails": "hash", "phone_e164": "drop", "phones": "drop",
                                "date_of_birth": "drop"}, key=key)
    with pytest.raises(ConfigError) as bad:
        checked_policy(ExportConfig(file=file, policies={GOLDEN: policy}), GOLDEN, schema)
    assert [str(i) for i in bad.value.issues] == [
        f"ops.yaml: {key}.nickname: expected a column of {GOLDEN} (got a column the table does not have)",
        f"ops.yaml: {key}.address_line1: expected hash, mask, drop or keep for this PII column of {GOLDEN} "
        "(keep exports it as stored) (got nothing)",
        f"ops.yaml: {key}.address_line2: expected hash, mask, drop or keep for this PII column of {GOLDEN} "
        "(keep exports it as stored) (got nothing)",
        f"ops.yaml: {key}.addresses: expected drop or keep: hash and mask take text, numbers, dates, times, "
        "booleans and arrays of them (got array<struct<address_line1:string,city:string,state:string,"
        "postcode:string,country:string>>)",
        f"ops.yaml: {key}.attribute_sources: expected drop or keep: hash and mask take text, numbers, dates, times, "
        "booleans and arrays of them (got map<string,string>)"]
    with pytest.raises(ConfigError) as unprotected:
        checked_policy(ExportConfig(file=file), "silver.party", sample_lake.store.schema("silver.party"))
    assert [str(i) for i in unprotected.value.issues] == [
        "ops.yaml: export.pii.tables.silver.party: expected a policy saying how each PII column leaves (hash, mask, "
        "drop or keep), or the flag --no-pii-protection (got nothing, and silver.party has PII columns "
        "['full_name', 'first_name', 'middle_name', 'last_name', 'name_suffix', 'email', 'phone_e164', "
        "'address_line1', 'address_line2', 'date_of_birth'])"]
    xref = checked_policy(ExportConfig(file=file), "gold.entity_xref", sample_lake.store.schema("gold.entity_xref"))
    assert xref.columns == {}


def _load_job() -> ModuleType:
    spec = importlib.util.spec_from_file_location("export_job", REPO / "jobs" / "export.py")
    assert spec is not None and spec.loader is not None
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    return job


def test_the_job_refuses_a_literal_salt_before_starting_spark(sample_lake, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "operations.yaml"
    bad.write_text("export:\n  pii:\n    salt: hunter2-hunter2-hunter2\n    tables:\n"
                   "      gold.golden_record: {email: hash}\n", encoding="utf-8")
    handlers, level = logging.root.handlers[:], logging.root.level
    try:  # the job sets up logging as a process would; give pytest its handlers back
        code = _load_job().main(["--conf", str(sample_lake.root / "conf"), "--operations", str(bad),
                                 "--lake", str(tmp_path / "lake"), "--out", str(tmp_path / "out")])
    finally:
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: invalid configuration (1 issue(s)):",
        f"  - {bad}: export.pii.salt: expected a reference env:VARIABLE or file:/path/to/secret (secrets never "
        "live in YAML) (got '***')"]
    assert not (tmp_path / "out").exists() and not (tmp_path / "lake").exists()


@pytest.mark.slow
def test_the_export_job_writes_protected_csv_and_prints_nothing_secret(sample_lake, tmp_path: Path) -> None:
    out = tmp_path / "outbox" / "golden"
    env = {**os.environ, "MDM_EXPORT_SALT": SALT, "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run([sys.executable, str(REPO / "jobs" / "export.py"), "--conf", str(sample_lake.root / "conf"),
                           "--lake", str(sample_lake.config.lake_root), "--out", str(out), "--verbose"],
                          capture_output=True, text=True, env=env, timeout=600)

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert done.stdout.splitlines()[-1] == str(out)  # the JVM may print a warning of its own first
    golden = sample_lake.store.read(GOLDEN).select("entity_id", "email", "full_name").collect()
    assert f"exported {GOLDEN}: {len(golden)} rows, 4 hashed, 6 masked, 2 dropped, 1 kept column(s) -> {out} (csv)" \
        in done.stderr
    (part,) = out.glob("part-*.csv")
    with part.open(encoding="utf-8", newline="") as handle:
        exported = {r["entity_id"]: r for r in csv.DictReader(handle)}
    assert {e: (r["email"] or None) for e, r in exported.items()} == \
        {r.entity_id: hmac_hex(r.email) if r.email else None for r in golden}
    assert "date_of_birth" not in next(iter(exported.values()))
    text = part.read_text(encoding="utf-8")
    assert SALT not in output and SALT not in text
    assert not [v for r in golden for v in (r.email, r.full_name) if v and (v in text or v in output)]
