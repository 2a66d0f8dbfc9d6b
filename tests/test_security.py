"""Credentials and PII stay out of output: a job run with Kafka secrets configured (by environment variable and
by secret file, the only ways the configuration accepts them) never prints them, at debug level.

Literal secrets in pipeline.yaml are refused in tests/test_kafka_source.py; table paths outside the lake root
in tests/test_storage.py.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SECRET_ENV = "s3cr3t-from-env-7f3a"
SECRET_FILE = "s3cr3t-from-file-91bc"


def test_a_job_run_with_kafka_secrets_never_prints_them_nor_the_record_it_erases(sample_lake, tmp_path,
                                                                                   fault_report):
    root = tmp_path / "project"
    shutil.copytree(sample_lake.root, root)
    secret_file = tmp_path / "ssl.password"
    secret_file.write_text(SECRET_FILE + "\n", encoding="utf-8")
    pipeline = root / "conf" / "pipeline.yaml"
    settings = yaml.safe_load(pipeline.read_text(encoding="utf-8"))
    settings["kafka"]["options"] = {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
                                    "sasl.plain.username": "mdm", "sasl.plain.password": "env:MDM_TEST_SASL_PASSWORD",
                                    "ssl.password": f"file:{secret_file}"}
    pipeline.write_text(yaml.safe_dump(settings), encoding="utf-8")
    record = sample_lake.store.read("silver.party").where("source_system = 'crm'").orderBy("source_record_id") \
        .first()
    env = {**os.environ, "MDM_TEST_SASL_PASSWORD": SECRET_ENV, "PYSPARK_PYTHON": sys.executable}

    done = subprocess.run([sys.executable, str(REPO / "jobs" / "erase.py"), "--conf", str(root / "conf"),
                           "--lake", str(root / "lake"), "--source-record", f"crm:{record['source_record_id']}",
                           "--dry-run", "--verbose"], capture_output=True, text=True, env=env, timeout=600)

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "1 source record(s), 1 entit(ies)" in done.stdout and "(dry run: nothing changed)" in done.stdout
    assert SECRET_ENV not in output and SECRET_FILE not in output
    assert not [v for v in (record["source_record_id"], record["email"], record["last_name"]) if v and v in output]
    fault_report("Kafka SASL/SSL secrets given by environment variable and secret file, job at debug level",
                 expected="secrets never in config, output or logs",
                 observed=f"{len(output.splitlines())} output lines grepped: no secret, no record id or PII")
