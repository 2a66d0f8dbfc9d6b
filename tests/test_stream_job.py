"""jobs/stream_job.py as users run it: a subprocess against a real broker, killed and restarted."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from chispa import assert_df_equality
from kafka.producer.future import RecordMetadata
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_mdm.config import load_config
from customer_mdm.embedded_kafka import EmbeddedBroker, start_broker, stop_broker
from customer_mdm.hops.ingest_stream import STREAM_PROGRESS
from customer_mdm.ops.faults import KILL_AFTER, KILL_AT
from customer_mdm.ops.tables import RUNS
from customer_mdm.storage import TableStore, open_store

pytest_plugins = ("kafka_broker",)
NewTopic = Callable[..., str]
Produce = Callable[..., list[RecordMetadata]]

REPO = Path(__file__).resolve().parents[1]
JOB = REPO / "jobs" / "stream_job.py"
SIGKILLED = -signal.SIGKILL


def _job_conf(tmp_path: Path, bootstrap_servers: str, topic: str, **kafka: object) -> Path:
    """The repository's configuration with the Kafka source on ``topic`` of the test broker, small Spark."""
    conf = tmp_path / "conf"
    (conf / "sources").mkdir(parents=True)
    for source in (REPO / "conf" / "sources").glob("*.yaml"):
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        if data.get("format") == "kafka":
            data["topic"] = topic
        (conf / "sources" / source.name).write_text(yaml.safe_dump(data), encoding="utf-8")
    pipeline = yaml.safe_load((REPO / "conf" / "pipeline.yaml").read_text(encoding="utf-8"))
    pipeline["kafka"].update(bootstrap_servers=bootstrap_servers, **kafka)
    pipeline["spark"].update(shuffle_partitions=2, driver_memory="1g", log_level="ERROR")
    (conf / "pipeline.yaml").write_text(yaml.safe_dump(pipeline), encoding="utf-8")
    return conf


def _run_job(conf: Path, lake: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs the job in a session of its own, as the kill points SIGKILL the whole process group."""
    return subprocess.run([sys.executable, str(JOB), "--conf", str(conf), "--lake", str(lake), *args],
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300,
                          start_new_session=True)


def _store(spark: SparkSession, conf: Path, lake: Path) -> TableStore:
    return open_store(spark, load_config(conf, lake=lake))


def _sent_rows(spark: SparkSession, topic: str, sent: list[RecordMetadata], values: list[bytes]) -> DataFrame:
    return spark.createDataFrame([(topic, m.partition, m.offset, v) for m, v in zip(sent, values)],
                                 "_kafka_topic string, _kafka_partition int, _kafka_offset long, value binary")


class _Lines:
    """Collects a running process's stderr lines on a thread so the test can wait for one."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        assert process.stderr is not None
        self._thread = threading.Thread(target=lambda: self.lines.extend(process.stderr or []), daemon=True)
        self._thread.start()

    def wait_for(self, pattern: str, *, seconds: float = 300) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = next((line for line in list(self.lines) if re.search(pattern, line)), None)
            if found is not None:
                return found
            time.sleep(0.2)
        raise AssertionError(f"no stderr line matching {pattern!r} within {seconds} s:\n{''.join(self.lines)}")


def test_exactly_once_through_two_kills_a_broker_outage_and_a_graceful_stop(
        spark: SparkSession, own_broker: EmbeddedBroker, new_topic: NewTopic, produce: Produce,
        tmp_path: Path) -> None:
    servers = own_broker.bootstrap_servers
    topic = new_topic(partitions=2, bootstrap_servers=servers)
    values = [b'{"op": "upsert", "customer_id": "C%02d", "n": %d}' % (i % 9, i) for i in range(90)]
    records = [(b"C%02d" % (i % 9), v) for i, v in enumerate(values)]
    sent = produce(topic, records[:60], bootstrap_servers=servers)
    conf = _job_conf(tmp_path, servers, topic, max_offsets_per_trigger=20)
    lake = tmp_path / "lake"
    drain = ("--trigger", "available-now")

    # batch 0 completes; batch 1 reaches bronze, then the job dies before Spark's checkpoint records it
    after_commit = _run_job(conf, lake, *drain, env={KILL_AT: "stream_ingest:after_bronze_commit", KILL_AFTER: "1"})
    assert after_commit.returncode == SIGKILLED, after_commit.stderr
    # the replayed batch 1 is recognised and skipped; batch 2 dies after Spark logged its offsets, before bronze
    before_commit = _run_job(conf, lake, *drain,
                             env={KILL_AT: "stream_ingest:before_bronze_commit", KILL_AFTER: "1"})
    assert before_commit.returncode == SIGKILLED, before_commit.stderr
    assert "ingest_crm_events batch 1: already in bronze.crm_events (transaction stream:crm_events), skipped" \
        in before_commit.stderr
    sent += produce(topic, records[60:], bootstrap_servers=servers)

    # restarted while the broker is down: it waits, then catches up and stops cleanly on SIGTERM
    stop_broker(own_broker.data_dir)
    job = subprocess.Popen([sys.executable, str(JOB), "--conf", str(conf), "--lake", str(lake), "--trigger", "0.5"],
                           stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stderr = _Lines(job)
        stderr.wait_for(rf"Kafka at {servers} not reachable \(\w+\); attempt 2, retrying in 2 s")
        start_broker(own_broker.data_dir, port=own_broker.port)
        stderr.wait_for(rf"Kafka at {servers} reachable after \d attempts")
        stderr.wait_for(r"ingest_crm_events batch 4: 10 rows -> bronze.crm_events version 5")
        job.send_signal(signal.SIGTERM)
        assert job.wait(timeout=300) == 0, "".join(stderr.lines)
        stderr.wait_for(r"SIGTERM: finishing the micro-batch in flight, then stopping")
        # batch 4 finished completely: Spark's commit log has it, so a restart would not even replay it
        assert (lake / "_checkpoints" / "ingest" / "crm_events" / "commits" / "4").is_file()
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)

    store = _store(spark, conf, lake)
    bronze = store.read("bronze.crm_events")
    assert_df_equality(bronze.select("_kafka_topic", "_kafka_partition", "_kafka_offset", "value"),
                       _sent_rows(spark, topic, sent, values), ignore_row_order=True, ignore_nullable=True)
    assert bronze.select("_kafka_partition", "_kafka_offset").distinct().count() == 90
    assert store.txn_version("bronze.crm_events", "stream:crm_events") == 4
    [finished] = store.read(RUNS).where(F.col("status") != "RUNNING").collect()
    assert (finished.status, finished.rows_written) == ("SUCCEEDED", 50)
    progress = store.read(STREAM_PROGRESS).where(F.col("run_id") == finished.run_id)
    # batch 2 is replayed from Spark's offset log, which records no latest offset: its lag is unknown
    assert sorted((r.batch_id, r.input_rows, r.bronze_rows, r.skipped, r.total_lag) for r in progress.collect()) == \
        [(2, 20, 20, False, None), (3, 20, 20, False, 10), (4, 10, 10, False, 0)]


def test_bad_flags_and_missing_secrets_stop_before_anything_is_written(tmp_path: Path) -> None:
    conf, lake = _job_conf(tmp_path, "127.0.0.1:1", "t"), tmp_path / "lake"
    file_source = _run_job(conf, lake, "--source", "crm")
    assert (file_source.returncode, file_source.stderr.strip().splitlines()[-1]) == \
        (2, "error: sources ['crm'] are file sources: run them with jobs/batch_job.py")
    pipeline = yaml.safe_load((conf / "pipeline.yaml").read_text(encoding="utf-8"))
    pipeline["kafka"]["options"] = {"sasl.plain.password": "env:MDM_TEST_UNSET_PASSWORD"}
    (conf / "pipeline.yaml").write_text(yaml.safe_dump(pipeline), encoding="utf-8")
    no_secret = _run_job(conf, lake)
    assert (no_secret.returncode, no_secret.stderr.strip().splitlines()[-1]) == \
        (2, "error: Kafka option 'sasl.plain.password' refers to environment variable MDM_TEST_UNSET_PASSWORD, "
            "which is not set")
    assert not lake.exists()
