"""End-to-end latency of the stream job over a large gold: Kafka event -> bronze -> silver -> golden record.

    python bench/bench_e2e_latency.py [--records 100000] [--customers 2000] [--duration 300] [--quick]

Set-up (not timed): the lake of bench_gold_increment.py, ``records`` generated
records already resolved into gold (kept with MDM_BENCH_BASELINE like that
benchmark's), a broker on a free port and a 4-partition topic. jobs/stream_job.py
runs every hop behind ingest (``--hops all``, ingest trigger 0, silver every
2 s, gold every 5 s, its defaults) in its own process and JVM. Warm-up: the
first ``customers`` CRM rows are sent once as creates of the event source
(they are the same people as CRM records already in gold, so hop 2 merges
them) and the bench waits until gold has resolved them. Measured:
jobs/produce_events.py sends 500-byte updates of those customers at 500
events/s for ``duration`` seconds (a consent flip stamped with the send time,
so every event is a new silver version), then the bench waits until gold has
caught up and stops the job.

Each event's latency per hop is the commit time of the hop increment that
first covered it minus its Kafka timestamp, traced through ops.stream_progress:
the ingest batch that took its offset (bronze version b), the silver run over
bronze versions (from, to] holding b (silver.party version s), the gold
increment over silver versions (from, to] holding s. Figures: p50/p95/p99 per
hop over every event of the measured phase, the ingest lag's trend, and the
gold increments' sizes and seconds. Targets (issue "One application end to
end"): p95 to the golden record <= 15 s, ingest lag not growing. The issue
asks for 1M records in gold; ``--records`` says which size a result is for.
"""
from __future__ import annotations

import datetime as dt
import logging
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from bench_gold_increment import project_with_baseline
from bench_kafka_ingest import (EVENT_BYTES, LATENCY_RATE, PARTITIONS, PRODUCER_CLIENT, TOPIC, LagSampler, batch_of,
                                lag_slope, produce)
from deltalake import DeltaTable
from harness import REPO, ProcessTreeMonitor, Target, record, start
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from customer_mdm.embedded_kafka import start_broker, stop_broker

log = logging.getLogger("bench.e2e_latency")
INCREMENT = 100  # the gold set-up holds this many CRM rows back; they play no part here
HOPS = ("ingest", "silver", "gold")
EVENTS_INPUT = "events_input.csv"  # the customers whose updates are sent, beside conf/


def _configure(project: Path, bootstrap_servers: str, customers: int) -> Path:
    """Points the project at the bench broker and writes the customers' rows as the events' input file."""
    conf = project / "conf"
    pipeline = yaml.safe_load((conf / "pipeline.yaml").read_text(encoding="utf-8"))
    pipeline["kafka"]["bootstrap_servers"] = bootstrap_servers
    (conf / "pipeline.yaml").write_text(yaml.safe_dump(pipeline), encoding="utf-8")
    first = sorted((project / "data" / "landing" / "crm").glob("*.csv"))[0]
    lines = first.read_text(encoding="utf-8").splitlines(keepends=True)
    if len(lines) <= customers:
        raise RuntimeError(f"{first} has fewer than {customers} customers: lower --customers or raise --records")
    (project / EVENTS_INPUT).write_text("".join(lines[:customers + 1]), encoding="utf-8")
    return conf


class Lake:
    """Reads the job's tables with delta-rs alone: a second Spark JVM would take the cores being measured."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def table(self, name: str, columns: Sequence[str] | None = None) -> pa.Table:
        path = self.root / name.replace(".", "/")
        if not (path / "_delta_log").is_dir():
            return pa.table({})
        return DeltaTable(str(path)).to_pyarrow_table(columns=list(columns) if columns else None)

    def version(self, name: str) -> int:
        path = self.root / name.replace(".", "/")
        return DeltaTable(str(path)).version() if (path / "_delta_log").is_dir() else -1

    def progress(self) -> list[dict[str, Any]]:
        """The job's successful hop runs, in commit order, commit times in UTC."""
        rows = self.table("ops.stream_progress")
        if not rows.num_rows:
            return []
        ok = rows.filter(pc.equal(rows.column("status"), "OK")).to_pylist()
        return sorted(({**r, "committed_at": _utc(r["committed_at"])} for r in ok), key=lambda r: r["committed_at"])

    def caught_up(self, events: int) -> bool:
        """Every sent event is in bronze, silver has applied all of bronze and gold all of silver."""
        bronze = self.table("bronze.crm_events", ["_kafka_offset"]).num_rows
        runs = self.progress()
        silver = max((r["to_version"] for r in runs if r["hop"] == "silver"), default=-1)
        gold = max((r["to_version"] for r in runs if r["hop"] == "gold"), default=-1)
        return (bronze >= events and silver == self.version("bronze.crm_events")
                and gold == self.version("silver.party"))


def _run_figures(runs: Sequence[dict[str, Any]], *, runs_name: str, seconds_name: str,
                 rows_name: str) -> dict[str, Any]:
    """How many runs a hop made while measured, their median duration and median input rows: where the wait is."""
    return {runs_name: len(runs),
            seconds_name: round(float(np.median([r["batch_duration_ms"] for r in runs])) / 1000, 1) if runs else None,
            rows_name: float(np.median([r["input_rows"] for r in runs])) if runs else None}


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def _wait(job: subprocess.Popen[bytes], job_log: Path, condition: Callable[[], bool], *, seconds: float) -> float:
    deadline = time.monotonic() + seconds
    while not condition():
        if job.poll() is not None or time.monotonic() > deadline:
            tail = job_log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"stream job {'exited' if job.poll() is not None else 'did not catch up'}; "
                               f"the end of its log:\n{tail}")
        time.sleep(1.0)
    return time.monotonic()


def _covering(runs: list[dict[str, Any]], version: int) -> dict[str, Any] | None:
    """The first run (by commit time) whose input versions (from, to] hold ``version``."""
    return next((r for r in runs if r["from_version"] < version <= r["to_version"]), None)


def hop_latencies(lake: Lake, since: dt.datetime, *, skip: int) -> dict[str, list[float]]:
    """Per hop, the seconds from each event's Kafka timestamp to the commit covering it.

    Events sent at or after ``since``, less the first ``skip`` of them: produce_events.py sends its input rows
    once before the updates, and those equal the warm-up's, so silver rightly finds them unchanged and no gold
    increment is theirs to wait for.
    """
    runs = lake.progress()
    ingest = sorted((r for r in runs if r["hop"] == "ingest"), key=lambda r: r["batch_id"])
    silver = [r for r in runs if r["hop"] == "silver"]
    gold = [r for r in runs if r["hop"] == "gold"]
    ingest_batch = batch_of(ingest)
    rows = lake.table("bronze.crm_events", ["_kafka_partition", "_kafka_offset", "_kafka_timestamp"]).to_pylist()
    events = sorted((_utc(r["_kafka_timestamp"]), r["_kafka_partition"], r["_kafka_offset"]) for r in rows)
    measured = [e for e in events if e[0] >= since][skip:]
    out: dict[str, list[float]] = {hop: [] for hop in HOPS}
    for sent, partition, offset in measured:
        batch = ingest_batch(partition, offset)
        if batch is None:
            continue
        refined = _covering(silver, batch["bronze_version"])
        resolved = _covering(gold, refined["output_version"]) if refined else None
        for hop, run in zip(HOPS, (batch, refined, resolved)):
            if run is not None:
                out[hop].append((run["committed_at"] - sent).total_seconds())
    return out


def _percentiles(prefix: str, seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {f"{prefix}_events": 0}
    p50, p95, p99 = np.percentile(seconds, [50, 95, 99])
    return {f"{prefix}_p50_s": round(float(p50), 2), f"{prefix}_p95_s": round(float(p95), 2),
            f"{prefix}_p99_s": round(float(p99), 2), f"{prefix}_events": len(seconds)}


def main() -> int:
    args = start(__doc__ or "", records=(100_000, 5_000), customers=(2_000, 200), duration=(300, 30))
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        project, _ = project_with_baseline(Path(tmp), args.records, INCREMENT)
        broker = start_broker(Path(tmp) / "broker")
        job: subprocess.Popen[bytes] | None = None
        try:
            conf = _configure(project, broker.bootstrap_servers, args.customers)
            admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
            admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])
            admin.close()
            lake = Lake(project / "lake")
            job_log = project / "stream_job.log"
            with job_log.open("wb") as out:
                job = subprocess.Popen([sys.executable, str(REPO / "jobs" / "stream_job.py"), "--conf", str(conf),
                                        "--lake", str(lake.root), "--trigger", "0", "--hops", "all",
                                        "--source", "crm_events"],
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            warm_up = produce(conf, rate=0, seconds=0, input_files=conf.parent / EVENTS_INPUT)
            started = time.monotonic()
            _wait(job, job_log, lambda: lake.caught_up(warm_up["events"]), seconds=3600)
            log.info("warm-up: %d customers through every hop in %.0f s; measuring %d events/s for %d s",
                     warm_up["events"], time.monotonic() - started, LATENCY_RATE, args.duration)
            since = dt.datetime.now(dt.timezone.utc)
            with ProcessTreeMonitor() as monitor, LagSampler(broker.bootstrap_servers, job_log) as lag:
                measured = produce(conf, rate=LATENCY_RATE, seconds=args.duration,
                                   input_files=conf.parent / EVENTS_INPUT)
                produced_at = time.monotonic()
                caught_up_at = _wait(job, job_log, lambda: lake.caught_up(warm_up["events"] + measured["events"]),
                                     seconds=3600)
            job.send_signal(signal.SIGTERM)
            if job.wait(timeout=300) not in (0, 3):  # 3: stopped cleanly with an SLA check in breach
                raise RuntimeError(f"stream job exited with {job.returncode}; see {job_log}")
            latencies = hop_latencies(lake, since, skip=warm_up["events"])
            runs = {hop: [r for r in lake.progress() if r["hop"] == hop and r["committed_at"] >= since]
                    for hop in ("silver", "gold")}
        finally:
            if job is not None and job.poll() is None:
                job.kill()
            stop_broker(Path(tmp) / "broker")
            if job is not None:  # kept: its per-hop lines say where the time went, or why the job failed
                kept = Path(tempfile.gettempdir()) / "bench_e2e_latency_job.log"
                shutil.copy(project / "stream_job.log", kept)
                log.info("the stream job's log: %s", kept)
    figures: dict[str, Any] = {"events": measured["events"], "produced_events_per_s": measured["events_per_second"]}
    for hop in HOPS:
        figures.update(_percentiles(f"{hop}_latency", latencies[hop]))
    figures.update({
        "events_without_gold_commit": measured["events"] - warm_up["events"] - len(latencies["gold"]),
        "catch_up_after_producer_s": round(caught_up_at - produced_at, 1),
        "ingest_lag_slope_events_per_s": round(lag_slope(lag.samples), 1),
        **_run_figures(runs["silver"], runs_name="silver_runs", seconds_name="silver_run_p50_s",
                       rows_name="silver_rows_read_p50"),
        **_run_figures(runs["gold"], runs_name="gold_increments", seconds_name="gold_increment_p50_s",
                       rows_name="gold_changed_records_p50"),
        **monitor.figures(),
    })
    record("e2e_latency", figures, workload={"records_in_gold": args.records, "customers": args.customers,
                                             "rate": LATENCY_RATE, "duration_s": args.duration,
                                             "event_bytes": EVENT_BYTES, "partitions": PARTITIONS,
                                             "producer_client": PRODUCER_CLIENT},
           targets=[Target("gold_latency_p95_s", "<=", 15),
                    Target("ingest_lag_slope_events_per_s", "<=", 0.01 * LATENCY_RATE)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
