"""Kafka -> bronze as a structured-streaming query, exactly once.

Kafka offsets live only in the query's checkpoint. Every bronze commit
carries the Delta application transaction (``stream:<source>``, batch id),
so a micro-batch that reached bronze but not the checkpoint before a crash
is skipped when Spark replays it. The app id comes from the configuration,
not Spark's query id, so it survives restarts and a change of Kafka client.

Each query runs on its own stream thread; ``run_queries`` supervises any
number of them next to the hop loops of ``catch_up`` (ingest never waits on
them), records per-batch metrics to ``ops.stream_progress`` and stops them
gracefully: the micro-batch in flight finishes, the next one never starts.
A query that fails because the broker stopped answering is not a failure of
the job: it waits for the broker and starts again from its checkpoint.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from customer_mdm.bronze import kafka as bronze_kafka
from customer_mdm.bronze.audit import PARTITION_COLUMNS
from customer_mdm.config import PipelineConfig, SourceConfig
from customer_mdm.config.kafka import KafkaSettings
from customer_mdm.errors import MdmError
from customer_mdm.ops.faults import kill_point
from customer_mdm.ops.tables import STREAM_PROGRESS, STREAM_PROGRESS_SCHEMA
from customer_mdm.sources.kafka import broker_lost, read_kafka_stream, wait_for_broker
from customer_mdm.storage import AppTxn, TableStore

log = logging.getLogger(__name__)

Trigger = float | Literal["available-now"]

class StopRequested(MdmError):
    """Raised into a micro-batch that would start after a graceful stop began; nothing of it is written."""


class BatchGate:
    """Lets a stop request wait for the micro-batch in flight and turn away the next one."""

    def __init__(self) -> None:
        self._state = threading.Condition()
        self._busy = False
        self._closed = False

    @contextmanager
    def batch(self, name: str) -> Iterator[None]:
        with self._state:
            if self._closed:
                raise StopRequested(f"{name}: stop requested; this batch runs again on restart")
            self._busy = True
        try:
            yield
        finally:
            with self._state:
                self._busy = False
                self._state.notify_all()

    def close(self) -> None:
        """Blocks until no batch is in flight; every later batch raises StopRequested."""
        with self._state:
            self._closed = True
            self._state.wait_for(lambda: not self._busy)


@dataclass(frozen=True)
class BatchOutcome:
    """What the foreachBatch function knows about one micro-batch; Spark's progress adds the rest."""

    rows: int
    version: int | None
    skipped: bool
    min_kafka_timestamp: dt.datetime | None
    max_kafka_timestamp: dt.datetime | None
    committed_at: dt.datetime


class BronzeBatchWriter:
    """The foreachBatch function: one micro-batch -> one bronze commit carrying (app id, batch id)."""

    def __init__(self, store: TableStore, source: SourceConfig, *, query_name: str, run_id: str):
        self.store = store
        self.source = source
        self.query_name = query_name
        self.run_id = run_id
        self.app_id = ingest_app_id(source)
        self.gate = BatchGate()
        self._outcomes: dict[int, BatchOutcome] = {}
        self.rows_written = self.batches_written = self.batches_skipped = 0
        self.last_batch_id: int | None = None
        self._lock = threading.Lock()

    def __call__(self, records: DataFrame, batch_id: int) -> None:
        with self.gate.batch(self.query_name):
            started = time.monotonic()
            seen = Observation(f"{self.query_name}-{batch_id}")
            observed = records.observe(seen, F.min("timestamp").alias("min_ts"), F.max("timestamp").alias("max_ts"))
            bronze = bronze_kafka.to_bronze(observed, run_id=self.run_id, source_system=self.source.name)
            kill_point("stream_ingest:before_bronze_commit")
            result = self.store.append(self.source.bronze_table, bronze, txn=AppTxn(self.app_id, batch_id))
            kill_point("stream_ingest:after_bronze_commit")
            stats: Mapping[str, Any] = {} if result.skipped else seen.get
            outcome = BatchOutcome(rows=result.rows, version=result.version, skipped=result.skipped,
                                   min_kafka_timestamp=as_utc(stats.get("min_ts")),
                                   max_kafka_timestamp=as_utc(stats.get("max_ts")),
                                   committed_at=dt.datetime.now(dt.timezone.utc))
            with self._lock:
                self._outcomes[batch_id] = outcome
                self.rows_written += result.rows
                self.batches_written += not result.skipped
                self.batches_skipped += result.skipped
                self.last_batch_id = batch_id
            if result.skipped:
                log.info("%s batch %d: already in %s (transaction %s), skipped", self.query_name, batch_id,
                         self.source.bronze_table, self.app_id)
            else:
                log.info("%s batch %d: %d rows -> %s version %s in %.1fs", self.query_name, batch_id,
                         result.rows, self.source.bronze_table, result.version, time.monotonic() - started)

    def take_outcome(self, batch_id: int) -> BatchOutcome | None:
        with self._lock:
            return self._outcomes.pop(batch_id, None)


def kafka_sources(config: PipelineConfig, names: Sequence[str] = ()) -> list[SourceConfig]:
    """The Kafka sources to stream: all of them, or those named (which must exist and be Kafka sources)."""
    if not names:
        chosen = [s for s in config.sources if s.format == "kafka"]
        if not chosen:
            raise MdmError(f"no Kafka source in {config.conf_dir / 'sources'} (a source with format: kafka)")
        return chosen
    chosen = [config.source(n) for n in names]
    files = [s.name for s in chosen if s.format != "kafka"]
    if files:
        raise MdmError(f"sources {files} are file sources: run them with jobs/batch_job.py")
    return chosen


def ingest_app_id(source: SourceConfig) -> str:
    """The Delta app id of a source's stream: stable across restarts, clients and Spark query ids."""
    return f"stream:{source.name}"


class Supervised(Protocol):
    """What ``run_queries`` needs of a worker: an ingest query here, a hop loop in ``catch_up``."""

    @property
    def name(self) -> str: ...

    def is_active(self) -> bool: ...

    def failure(self) -> BaseException | None:
        """Why the worker ended, when it ended by failing (only ingest does: hops retry)."""

    def stop_gracefully(self) -> None: ...

    def record_progress(self) -> int: ...


@dataclass
class IngestQuery:
    """A running ingest query with what stopping, restarting and recording its progress need."""

    source: SourceConfig
    stream: DataStreamWriter  # starts the query (again: from its checkpoint)
    kafka: KafkaSettings
    writer: BronzeBatchWriter
    store: TableStore
    query: StreamingQuery
    recorded_through: int = -1
    restarts: int = 0

    @property
    def name(self) -> str:
        return self.writer.query_name

    def is_active(self) -> bool:
        return bool(self.query.isActive)

    def failure(self) -> BaseException | None:
        return self.query.exception()

    def restart_after_broker_loss(self, *, stop: threading.Event) -> bool:
        """After a failure: True once a lost broker is back and the query runs again; False for other failures.

        Only connectivity is retried: data loss or bad options fail the run.
        False too when ``stop`` is set while waiting, which ends the run cleanly.
        """
        failure = self.query.exception()
        reason = None if failure is None else broker_lost(failure)
        if reason is None:
            return False
        log.warning("%s: lost the Kafka broker at %s (%s); waiting for it, then restarting from the checkpoint",
                    self.name, self.kafka.bootstrap_servers, reason)
        self.record_progress()
        lost = time.monotonic()
        if not wait_for_broker(self.kafka, stop=stop):
            return False
        self.restarts += 1
        log.info("%s: broker back after %.0f s, restarting from the checkpoint (restart %d)", self.name,
                 time.monotonic() - lost, self.restarts)
        self.query = self.stream.start()
        return True

    def stop_gracefully(self, *, timeout: float = 60.0) -> None:
        """Lets the batch in flight reach bronze and Spark's commit log, then stops; no batch starts after."""
        if not self.query.isActive:
            return
        log.info("%s: stopping after the batch in flight", self.name)
        self.writer.gate.close()
        last = self.writer.last_batch_id
        deadline = time.monotonic() + timeout
        while last is not None and self.query.isActive and time.monotonic() < deadline \
                and int((self.query.lastProgress or {"batchId": -1})["batchId"]) < last:
            time.sleep(0.1)
        self.query.stop()

    def record_progress(self) -> int:
        """Appends one ops.stream_progress row per micro-batch finished since the last call."""
        rows = []
        for progress in self.query.recentProgress:
            batch_id = int(progress["batchId"])
            if batch_id <= self.recorded_through:
                continue
            outcome = self.writer.take_outcome(batch_id)
            if outcome is not None:
                rows.append(_progress_row(self, progress, outcome))
                self.recorded_through = batch_id
        if rows:
            self.store.append_rows(STREAM_PROGRESS, rows)
        return len(rows)


def _progress_row(ingest: IngestQuery, progress: Mapping[str, Any], outcome: BatchOutcome) -> dict[str, Any]:
    source = progress["sources"][0]
    start, end, latest = (_offsets(source[k]) for k in ("startOffset", "endOffset", "latestOffset"))
    lag = {topic: {p: max(0, latest[topic][p] - o) for p, o in parts.items() if p in latest.get(topic, {})}
           for topic, parts in end.items()}
    return {
        "query": ingest.name, "hop": "ingest", "source": ingest.source.name, "run_id": ingest.writer.run_id,
        "status": "OK",
        "batch_id": int(progress["batchId"]), "input_rows": int(progress["numInputRows"]),
        "bronze_rows": outcome.rows, "skipped": outcome.skipped,
        "input_rows_per_second": float(progress["inputRowsPerSecond"] or 0.0),
        "processed_rows_per_second": float(progress["processedRowsPerSecond"] or 0.0),
        "batch_duration_ms": int(progress["batchDuration"]),
        "start_offsets": json.dumps(start), "end_offsets": json.dumps(end), "latest_offsets": json.dumps(latest),
        "consumer_lag": json.dumps(lag) if latest else None,
        "total_lag": sum(v for parts in lag.values() for v in parts.values()) if latest else None,
        "min_kafka_timestamp": outcome.min_kafka_timestamp, "max_kafka_timestamp": outcome.max_kafka_timestamp,
        "bronze_version": outcome.version, "committed_at": outcome.committed_at,
        "latency_seconds": seconds_since(outcome.min_kafka_timestamp, outcome.committed_at),
        "recorded_at": dt.datetime.now(dt.timezone.utc),
    }


def seconds_since(oldest: dt.datetime | None, committed_at: dt.datetime) -> float | None:
    """End-to-end latency of a batch: from its oldest Kafka timestamp to the commit that made it visible."""
    return None if oldest is None else (committed_at - oldest).total_seconds()


def _offsets(text: str | None) -> dict[str, dict[str, int]]:
    parsed = json.loads(text) if text else None
    return parsed if isinstance(parsed, dict) else {}


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """Spark hands back naive datetimes in the session time zone, which build_session sets to UTC."""
    return None if value is None else value.replace(tzinfo=dt.timezone.utc)


def start_ingest(spark: SparkSession, store: TableStore, config: PipelineConfig, source: SourceConfig, *,
                 checkpoint_root: Path, trigger: Trigger, run_id: str) -> IngestQuery:
    """Ensures the tables, then starts the Kafka -> bronze query of one source (returns at once)."""
    if source.format != "kafka" or source.topic is None:
        raise MdmError(f"source {source.name} ({source.file}) is not a Kafka source")
    store.ensure_table(source.bronze_table, bronze_kafka.BRONZE_KAFKA_SCHEMA, partition_by=PARTITION_COLUMNS)
    store.ensure_table(STREAM_PROGRESS, STREAM_PROGRESS_SCHEMA)
    query_name = f"ingest_{source.name}"
    writer = BronzeBatchWriter(store, source, query_name=query_name, run_id=run_id)
    checkpoint = checkpoint_root / "ingest" / source.name
    stream = read_kafka_stream(spark, config.kafka, topics=[source.topic]).writeStream \
        .queryName(query_name).option("checkpointLocation", str(checkpoint)).foreachBatch(writer)
    if trigger == "available-now":
        stream = stream.trigger(availableNow=True)
    else:
        stream = stream.trigger(processingTime=f"{round(trigger * 1000)} milliseconds")
    query = stream.start()
    log.info("%s: started, topic %s -> %s (checkpoint %s, trigger %s, client %s)", query_name, source.topic,
             source.bronze_table, checkpoint, trigger, config.kafka.client)
    return IngestQuery(source=source, stream=stream, kafka=config.kafka, writer=writer, store=store, query=query)


def run_queries(queries: Sequence[Supervised], *, stop: threading.Event, progress_every: float = 10.0,
                poll_seconds: float = 0.5) -> None:
    """Runs until ``stop`` is set, every worker has finished (available-now ingest) or one fails.

    A failure stops the others gracefully and is raised, except an ingest
    query's lost broker: that query waits for it and restarts. Progress rows
    are flushed every ``progress_every`` seconds and once more at the end.
    """
    last_recorded = time.monotonic()
    failed: Supervised | None = None
    while not stop.is_set():
        failed = next((q for q in queries if not q.is_active() and q.failure() is not None), None)
        if isinstance(failed, IngestQuery) and failed.restart_after_broker_loss(stop=stop):
            continue
        if failed is not None or not any(q.is_active() for q in queries):
            break
        if time.monotonic() - last_recorded >= progress_every:
            for q in queries:
                q.record_progress()
            last_recorded = time.monotonic()
        stop.wait(poll_seconds)
    for q in queries:
        q.stop_gracefully()
    for q in queries:
        q.record_progress()
    if failed is not None and not stop.is_set():
        raise MdmError(f"{failed.name} failed: {failed.failure()}")
