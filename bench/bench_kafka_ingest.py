"""Sustained Kafka -> bronze ingest with the stream job, and event latency at a steady 500 events/s.

    python bench/bench_kafka_ingest.py [--duration 60] [--rate 5000] [--quick]

A throw-away project gets the embedded broker on a free port, a 4-partition
topic and generated CRM extracts. jobs/stream_job.py (trigger 0, kafka-python
client, --hops none so ingest runs alone, its own process and JVM) ingests
while jobs/produce_events.py (its own process) replays the records as JSON
events padded to 500 bytes:

1. throughput: --rate events/s for --duration seconds. Figures: events/s the
   producer reached; events/s into bronze (the phase's events over the time
   from its first event until the last is in bronze); the consumer lag,
   sampled every second as the topic's end offsets minus the events the job
   has committed to bronze, its trend (least-squares slope while the
   producer ran) and maximum; the seconds to drain after the producer stopped.
2. latency: 500 events/s for --duration seconds. Each event's latency is its
   micro-batch's bronze commit time (ops.stream_progress.committed_at) minus
   its Kafka timestamp; p50 and p95 over every event of the phase.

Bronze is checked to hold every event exactly once before anything is
recorded. The producer shares the 2 cores with Spark and the broker, so it
sends with confluent-kafka (C) when installed (requirements-bench.txt), which
leaves the job the CPU kafka-python's producer took; the job always consumes
with kafka-python. Both rates are reported, and the producer client.
"""
from __future__ import annotations

import bisect
import datetime as dt
import json
import logging
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from harness import REPO, ProcessTreeMonitor, Target, record, start
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic

from customer_mdm.config import load_config
from customer_mdm.embedded_kafka import start_broker, stop_broker
from customer_mdm.ops.tables import STREAM_PROGRESS
from customer_mdm.samples.generator import generate
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

log = logging.getLogger("bench.kafka_ingest")
PARTITIONS = 4
TOPIC = "crm.customers"
EVENT_BYTES = 500
LATENCY_RATE = 500
RECORDS = 2000
_BATCH_LINE = re.compile(r"ingest_crm_events batch \d+: (\d+) rows -> bronze")


def _project(tmp: Path, bootstrap_servers: str) -> Path:
    """conf/ of this repo pointed at the bench broker, and sample CRM extracts under data/landing."""
    shutil.copytree(REPO / "conf", tmp / "conf")
    pipeline = yaml.safe_load((tmp / "conf" / "pipeline.yaml").read_text(encoding="utf-8"))
    pipeline["kafka"]["bootstrap_servers"] = bootstrap_servers
    (tmp / "conf" / "pipeline.yaml").write_text(yaml.safe_dump(pipeline), encoding="utf-8")
    generate(tmp / "data" / "landing", records=RECORDS, seed=42)
    return tmp / "conf"


def produce(conf: Path, *, rate: float, seconds: float, input_files: Path | None = None) -> dict[str, Any]:
    """jobs/produce_events.py sending ``input_files`` (default: the project's CRM extracts) as padded events;
    returns its summary line."""
    files = input_files or conf.parent / "data" / "landing" / "crm" / "*.csv"
    done = subprocess.run(
        [sys.executable, str(REPO / "jobs" / "produce_events.py"), "--conf", str(conf), "--quiet",
         "--input", str(files), "--rate", str(rate), "--duration", str(seconds), "--pad-to", str(EVENT_BYTES),
         "--partitions", str(PARTITIONS), "--client", PRODUCER_CLIENT], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _ingested(job_log: Path) -> int:
    return sum(int(n) for n in _BATCH_LINE.findall(job_log.read_text(encoding="utf-8", errors="replace")))


def _wait_ingested(job_log: Path, total: int, *, seconds: float = 600) -> float:
    """Blocks until the job logged ``total`` rows into bronze; returns when, as a perf_counter reading."""
    deadline = time.monotonic() + seconds
    while _ingested(job_log) < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"stream job ingested {_ingested(job_log)} of {total} events within {seconds} s; "
                               f"see {job_log}")
        time.sleep(0.2)
    return time.perf_counter()


def _installed(package: str) -> str | None:
    """kafka-python checks record CRCs in pure Python unless the crc32c C package is installed (~4x slower)."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None


#: The load generator's client: the C one where installed, so the producer takes little of the job's CPU.
PRODUCER_CLIENT = "confluent" if _installed("confluent-kafka") else "kafka-python"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class LagSampler:
    """Every second: events in the topic minus events the job logged into bronze (the backlog, in events)."""

    def __init__(self, bootstrap_servers: str, job_log: Path) -> None:
        self.samples: list[tuple[float, int]] = []
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
        self._partitions = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        self._job_log = job_log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LagSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            in_topic = sum(self._consumer.end_offsets(self._partitions).values())
            self.samples.append((time.monotonic(), in_topic - _ingested(self._job_log)))


def lag_slope(samples: list[tuple[float, int]]) -> float:
    """Least-squares growth of the total lag in events per second (0 when there are too few samples)."""
    if len(samples) < 3:
        return 0.0
    seconds, lags = np.array(samples, dtype=float).T
    return float(np.polyfit(seconds - seconds[0], lags, 1)[0])


def batch_of(batches: list[dict[str, Any]]) -> Callable[[int, int], dict[str, Any] | None]:
    """(partition, offset) -> the ingest micro-batch that took it (None: not ingested); batches in batch id order."""
    ends = {p: [json.loads(b["end_offsets"]).get(TOPIC, {}).get(str(p), -1) for b in batches]
            for p in range(PARTITIONS)}

    def find(partition: int, offset: int) -> dict[str, Any] | None:
        i = bisect.bisect_right(ends[partition], offset)
        return batches[i] if i < len(batches) else None
    return find


def _latencies_ms(batches: list[dict[str, Any]], events: list[tuple[int, int, dt.datetime]]) -> list[float]:
    """Commit time of each event's micro-batch minus its Kafka timestamp."""
    find = batch_of(batches)
    return [(batch["committed_at"] - kafka_ts).total_seconds() * 1000 for partition, offset, kafka_ts in events
            if (batch := find(partition, offset)) is not None]


def main() -> int:
    args = start(__doc__ or "", duration=(60, 15), rate=(5000, 2000))
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as tmp:
        project = Path(tmp)
        broker = start_broker(project / "broker")
        job: subprocess.Popen[bytes] | None = None
        try:
            conf = _project(project, broker.bootstrap_servers)
            config = load_config(conf, lake=project / "lake")
            admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
            admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])
            admin.close()
            job_log = project / "stream_job.log"
            with job_log.open("wb") as out:
                job = subprocess.Popen([sys.executable, str(REPO / "jobs" / "stream_job.py"), "--conf", str(conf),
                                        "--lake", str(config.lake_root), "--trigger", "0", "--hops", "none"],
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            warm_up = produce(conf, rate=0, seconds=0)
            _wait_ingested(job_log, warm_up["events"])
            log.info("stream job warm (%d events); throughput phase: %d events/s for %d s", warm_up["events"],
                     args.rate, args.duration)
            with ProcessTreeMonitor() as monitor:
                started = time.perf_counter()
                with LagSampler(broker.bootstrap_servers, job_log) as lag_sampler:
                    throughput = produce(conf, rate=args.rate, seconds=args.duration)
                drained_at = _wait_ingested(job_log, warm_up["events"] + throughput["events"])
                drain_seconds = drained_at - started - throughput["seconds"]
                log.info("latency phase: %d events/s for %d s", LATENCY_RATE, args.duration)
                latency_from = _now()
                latency = produce(conf, rate=LATENCY_RATE, seconds=args.duration)
                _wait_ingested(job_log, warm_up["events"] + throughput["events"] + latency["events"])
            job.send_signal(signal.SIGTERM)
            if job.wait(timeout=180) not in (0, 3):  # 3: stopped cleanly with an SLA check in breach
                tail = job_log.read_text(encoding="utf-8", errors="replace")[-3000:]
                raise RuntimeError(f"stream job exited with {job.returncode}; the end of its log:\n{tail}")
        finally:
            if job is not None and job.poll() is None:
                job.kill()
            stop_broker(project / "broker")

        total = warm_up["events"] + throughput["events"] + latency["events"]
        spark = build_session(config.spark)
        try:
            store = open_store(spark, config)
            bronze = store.read("bronze.crm_events")
            rows, distinct = bronze.count(), bronze.select("_kafka_partition", "_kafka_offset").distinct().count()
            ingest = store.read(STREAM_PROGRESS).where("hop = 'ingest'")
            batches = sorted(({**r.asDict(), "committed_at": r.committed_at.replace(tzinfo=dt.timezone.utc)}
                              for r in ingest.collect()), key=lambda b: b["batch_id"])
            events = [(r[0], r[1], r[2]) for r in bronze.where(bronze._kafka_timestamp >= latency_from)
                      .select("_kafka_partition", "_kafka_offset", "_kafka_timestamp").collect()]
        finally:
            spark.stop()
    if rows != total or distinct != total:
        print(f"error: bronze holds {rows} rows ({distinct} distinct offsets), {total} events were sent",
              file=sys.stderr)
        return 1
    lag = lag_sampler.samples
    latencies = _latencies_ms(batches, [(p, o, ts.replace(tzinfo=dt.timezone.utc)) for p, o, ts in events])
    phase_batches = [b for b in batches if b["committed_at"] >= latency_from]
    record("kafka_ingest", {
        "events_per_s": round(throughput["events"] / (throughput["seconds"] + max(drain_seconds, 0.0))),
        "produced_events_per_s": throughput["events_per_second"],
        "events": total,
        "lag_slope_events_per_s": round(lag_slope(lag), 1),
        "lag_max": max((n for _, n in lag), default=0),
        "lag_last": lag[-1][1] if lag else 0,
        "drain_seconds_after_producer": round(max(drain_seconds, 0.0), 2),
        "latency_p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "latency_p95_ms": round(float(np.percentile(latencies, 95)), 1),
        "latency_events": len(latencies),
        "latency_produced_events_per_s": latency["events_per_second"],
        "latency_batches": len(phase_batches),
        "latency_batch_p50_ms": round(float(np.median([b["batch_duration_ms"] for b in phase_batches]))),
        "bronze_versions": max(b["bronze_version"] or 0 for b in batches),
        **monitor.figures(),
    }, workload={"rate": args.rate, "duration_s": args.duration, "event_bytes": EVENT_BYTES,
                 "partitions": PARTITIONS, "latency_rate": LATENCY_RATE, "trigger": "0", "client": "kafka-python",
                 "producer_client": PRODUCER_CLIENT,
                 "kafka_python": version("kafka-python"), "noida_db": version("noida-db"),
                 "crc32c": _installed("crc32c")},
        targets=[Target("events_per_s", ">=", 5000), Target("lag_slope_events_per_s", "<=", 0.01 * args.rate)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
