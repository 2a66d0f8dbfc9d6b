"""Hop 1 (silver) and hop 2 (gold) running behind Kafka ingest in the stream job's driver.

Each hop is a loop on a thread of its own with its own interval: a catch-up
(``refine_source`` per Kafka source, ``run_resolve``) brings its output up to
the input's current version, then it waits. Watermarks stay where the hops
keep them (Delta application transactions), so an interrupted catch-up is
finished by the next one. Ingest never waits on a hop: the hops only read
bronze and silver snapshots, and their Spark jobs run in their own fair
scheduler pools. A failed catch-up is logged, recorded in
``ops.stream_progress`` with its error and retried with exponential backoff.

End-to-end latency of a gold increment is measured from the oldest Kafka
timestamp of the bronze rows whose silver commits it resolved (the silver
hop reads them from the bronze increment it applied) to the commit of the
increment. The silver commits' Kafka times are handed to the gold hop in
memory and, after a restart, taken from the silver rows of
``ops.stream_progress``; silver rows lost with a killed driver leave the
latency of the increment that resolves them unknown (null).
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow.compute as pc
from pyspark import InheritableThread
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_mdm.config import PipelineConfig, SourceConfig
from customer_mdm.config.resolve import ResolveSettings
from customer_mdm.gold.tables import GOLDEN_HISTORY, RESOLVE_LOG
from customer_mdm.hops.batch import gold_counts, silver_counts
from customer_mdm.hops.ingest_stream import as_utc, seconds_since
from customer_mdm.hops.refine import PARTY, refine_source
from customer_mdm.hops.resolve import completed_increment, run_resolve
from customer_mdm.ops.tables import STREAM_PROGRESS
from customer_mdm.silver.canonical import BRONZE_VERSION
from customer_mdm.storage import TableStore

log = logging.getLogger(__name__)

Hops = Literal["none", "silver", "all"]
Hop = Literal["silver", "gold"]
Row = dict[str, Any]
KafkaRange = tuple[dt.datetime | None, dt.datetime | None]


@dataclass(frozen=True)
class HopSchedule:
    """Which hops run behind ingest and how often (seconds between catch-ups; backoff doubles up to the cap)."""

    hops: Hops = "all"
    silver_every: float = 2.0
    gold_every: float = 5.0
    max_backoff: float = 60.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class KafkaTimes:
    """Oldest and newest Kafka timestamp of the events behind each silver.party version not yet in gold."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_version: dict[int, KafkaRange] = {}

    def note(self, version: int, kafka: KafkaRange) -> None:
        if kafka[0] is not None:
            with self._lock:
                self._by_version[version] = kafka

    def take(self, up_to_version: int) -> KafkaRange:
        """The range over every version up to ``up_to_version`` (all now in gold), forgetting them."""
        with self._lock:
            done = [v for v in self._by_version if v <= up_to_version]
            ranges = [self._by_version.pop(v) for v in done]
        lows = [lo for lo, _ in ranges if lo is not None]
        highs = [hi for _, hi in ranges if hi is not None]
        return (min(lows) if lows else None, max(highs) if highs else None)


def gold_silver_version(store: TableStore) -> int:
    """The silver.party version the last complete gold increment resolved (-1: none)."""
    done = completed_increment(store) if store.exists(GOLDEN_HISTORY) else 0
    if done == 0:
        return -1
    log_rows = store.read_arrow(RESOLVE_LOG, columns=["increment", "silver_version"])
    rows = log_rows.filter(pc.equal(log_rows.column("increment"), done)).column("silver_version").to_pylist()
    return int(rows[0]) if rows else -1


def pending_kafka_times(store: TableStore) -> KafkaTimes:
    """Seeds the silver -> gold hand-over from the recorded silver runs that gold has not resolved yet."""
    times = KafkaTimes()
    if not store.exists(STREAM_PROGRESS):
        return times
    resolved = gold_silver_version(store)
    rows = store.read_arrow(STREAM_PROGRESS, columns=["hop", "status", "output_version", "min_kafka_timestamp",
                                                      "max_kafka_timestamp"])
    wanted = pc.and_(pc.and_(pc.equal(rows.column("hop"), "silver"), pc.equal(rows.column("status"), "OK")),
                     pc.greater(rows.column("output_version"), resolved))
    for row in rows.filter(wanted).to_pylist():
        times.note(int(row["output_version"]), (row["min_kafka_timestamp"], row["max_kafka_timestamp"]))
    return times


class CatchUp:
    """One catch-up of each hop; returns the ``ops.stream_progress`` rows of the runs that did work."""

    def __init__(self, spark: SparkSession, store: TableStore, config: PipelineConfig,
                 sources: Sequence[SourceConfig], *, resolve: ResolveSettings | None, run_id: str):
        self.spark, self.store, self.config, self.sources = spark, store, config, tuple(sources)
        self.resolve, self.run_id = resolve, run_id
        self.kafka_times = pending_kafka_times(store) if resolve is not None else KafkaTimes()
        self.totals: dict[str, int] = {}
        self._totals_lock = threading.Lock()

    def _add(self, **counts: int) -> None:
        with self._totals_lock:
            for key, value in counts.items():
                self.totals[key] = self.totals.get(key, 0) + value

    def silver(self) -> list[Row]:
        rows = []
        for source in self.sources:
            if self.store.version(source.bronze_table) < 1:  # version 0 is the empty table ingest created
                continue
            started = time.monotonic()
            report = refine_source(self.store, source, rules=self.config.quality_rules, run_id=self.run_id,
                                   mode="stream")
            if report.skipped:
                continue
            committed_at = _now()
            party_version = self.store.version(PARTY)
            kafka = self._kafka_range(source, report.from_version, report.to_version)
            if report.counts.upserted and self.resolve is not None:
                self.kafka_times.note(party_version, kafka)
            c = report.counts
            self._add(**silver_counts(c))
            rows.append(hop_row("silver", source=source.name, run_id=self.run_id, started=started,
                                committed_at=committed_at, from_version=report.from_version,
                                to_version=report.to_version,
                                lag_versions=self.store.version(source.bronze_table) - report.to_version,
                                input_rows=c.read, output_rows=c.upserted, output_version=party_version,
                                kafka=kafka))
        return rows

    def _kafka_range(self, source: SourceConfig, after: int, up_to: int) -> KafkaRange:
        """Oldest and newest Kafka timestamp of the bronze rows in versions (after, up_to]."""
        added = self.store.read_added(source.bronze_table, after_version=after, up_to_version=up_to,
                                      version_column=BRONZE_VERSION)
        first = added.agg(F.min("_kafka_timestamp").alias("lo"), F.max("_kafka_timestamp").alias("hi")).first()
        if first is None:
            return (None, None)
        return (as_utc(first["lo"]), as_utc(first["hi"]))

    def gold(self) -> list[Row]:
        if self.resolve is None:
            return []
        started = time.monotonic()
        report = run_resolve(self.spark, self.store, self.resolve, run_id=self.run_id, mode="stream")
        if report.skipped:
            return []
        committed_at = _now()
        self._add(**gold_counts(report))
        return [hop_row("gold", source=None, run_id=self.run_id, started=started, committed_at=committed_at,
                        batch_id=report.increment, from_version=report.from_version, to_version=report.to_version,
                        lag_versions=self.store.version(PARTY) - report.to_version,
                        input_rows=report.changed_records, output_rows=report.golden_written,
                        output_version=report.increment, kafka=self.kafka_times.take(report.to_version))]


def hop_row(hop: Hop, *, source: str | None, run_id: str, started: float, committed_at: dt.datetime,
            from_version: int, to_version: int, lag_versions: int, input_rows: int, output_rows: int,
            output_version: int, kafka: KafkaRange, batch_id: int | None = None) -> Row:
    return {"query": hop, "hop": hop, "source": source, "run_id": run_id, "status": "OK", "batch_id": batch_id,
            "input_rows": input_rows, "output_rows": output_rows, "skipped": False,
            "batch_duration_ms": round((time.monotonic() - started) * 1000), "from_version": from_version,
            "to_version": to_version, "lag_versions": lag_versions, "min_kafka_timestamp": kafka[0],
            "max_kafka_timestamp": kafka[1], "output_version": output_version, "committed_at": committed_at,
            "latency_seconds": seconds_since(kafka[0], committed_at), "recorded_at": _now()}


def failed_row(hop: Hop, *, run_id: str, started: float, error: str) -> Row:
    return {"query": hop, "hop": hop, "run_id": run_id, "status": "FAILED", "error": error,
            "batch_duration_ms": round((time.monotonic() - started) * 1000), "recorded_at": _now()}


def describe(exc: BaseException) -> str:
    """The first line of an error, short enough for a log line and a table cell."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:500] if lines else ''}"


class HopLoop:
    """One hop on its own thread: a catch-up every ``every`` seconds; a failure backs off and retries.

    A stop lets the catch-up in flight finish; the rows it produces wait in
    memory until the supervisor records them.
    """

    def __init__(self, hop: Hop, step: Callable[[], list[Row]], *, spark: SparkSession, store: TableStore,
                 run_id: str, every: float, max_backoff: float):
        self.hop, self.step, self.spark, self.store, self.run_id = hop, step, spark, store, run_id
        self.every, self.max_backoff = every, max_backoff
        self.failures = 0
        self._stop = threading.Event()
        self._rows: list[Row] = []
        self._lock = threading.Lock()
        self._thread = InheritableThread(self._loop, session=spark, name=f"hop-{hop}", daemon=True)

    @property
    def name(self) -> str:
        return f"{self.hop} hop"

    def start(self) -> HopLoop:
        self._thread.start()
        log.info("%s: started, a catch-up every %.1fs", self.name, self.every)
        return self

    def run_once(self) -> bool:
        """One catch-up; False if it failed (logged and kept as a FAILED progress row)."""
        started = time.monotonic()
        try:
            rows = self.step()
        except Exception as exc:  # a hop failure must never end the job: it is recorded and retried
            self.failures += 1
            error = describe(exc)
            log.error("%s failed (%d in a row): %s", self.name, self.failures, error)
            log.debug("%s failure", self.name, exc_info=True)
            rows = [failed_row(self.hop, run_id=self.run_id, started=started, error=error)]
            ok = False
        else:
            self.failures = 0
            ok = True
        with self._lock:
            self._rows.extend(rows)
        return ok

    def _loop(self) -> None:
        self.spark.sparkContext.setLocalProperty("spark.scheduler.pool", f"hop_{self.hop}")
        while not self._stop.is_set():
            if not self.run_once():
                delay = min(max(self.every, 1.0) * 2 ** (self.failures - 1), self.max_backoff)
                log.warning("%s: retrying in %.0f s", self.name, delay)
            else:
                delay = self.every
            self._stop.wait(delay)

    def is_active(self) -> bool:
        return self._thread.is_alive()

    def failure(self) -> BaseException | None:
        return None

    def stop_gracefully(self) -> None:
        if self._thread.is_alive():
            log.info("%s: stopping after the catch-up in flight", self.name)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def record_progress(self) -> int:
        with self._lock:
            rows, self._rows = self._rows, []
        if rows:
            self.store.append_rows(STREAM_PROGRESS, rows)
        return len(rows)


def hop_loops(catch_up: CatchUp, schedule: HopSchedule) -> list[HopLoop]:
    """The loops the schedule asks for, not yet started."""
    def loop(hop: Hop, step: Callable[[], list[Row]], every: float) -> HopLoop:
        return HopLoop(hop, step, spark=catch_up.spark, store=catch_up.store, run_id=catch_up.run_id, every=every,
                       max_backoff=schedule.max_backoff)

    loops = []
    if schedule.hops in ("silver", "all"):
        loops.append(loop("silver", catch_up.silver, schedule.silver_every))
    if schedule.hops == "all":
        loops.append(loop("gold", catch_up.gold, schedule.gold_every))
    return loops
