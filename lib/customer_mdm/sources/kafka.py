"""Kafka as a Spark structured-streaming source, without the spark-sql-kafka jar.

A Spark Python Data Source (short name ``mdm_kafka``) on kafka-python that
speaks the options and produces the columns of Spark's built-in kafka source
(with ``includeHeaders=true``), so ``client: spark`` in pipeline.yaml can swap
in ``format("kafka")`` where that jar is installed and nothing downstream
changes. Offsets are Spark's ``{"topic": {"partition": offset}}`` JSON and
live only in the query's checkpoint; one Spark input partition reads one
Kafka partition's offset range.

Options (names case-insensitive, as Spark lower-cases them):
``kafka.bootstrap.servers``; ``subscribe`` (comma-separated topics) or
``subscribePattern`` (regex); ``startingOffsets`` (earliest | latest | JSON,
used only when a query starts without a checkpoint; partitions that appear
later start at earliest); ``maxOffsetsPerTrigger``; ``failOnDataLoss``;
``kafkaConsumer.pollTimeoutMs``; ``kafka.<client option>`` passed to the
client (see customer_mdm.config.kafka; secrets as env:/file: references).
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import (KafkaConnectionError, KafkaError, KafkaTimeoutError, NodeNotReadyError,
                          OffsetOutOfRangeError, RequestTimedOutError)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.streaming.datasource import ReadLimit, ReadMaxRows, SupportsTriggerAvailableNow
from pyspark.sql.types import (ArrayType, BinaryType, IntegerType, LongType, StringType, StructField,
                               StructType, TimestampType)

from customer_mdm.config.kafka import (EARLIEST, LATEST, KafkaSettings, StartingOffsets, kafka_python_config,
                                       masked, option_problem, parse_starting_offsets, resolve_secret)
from customer_mdm.errors import BrokerUnavailableError, SourceError

log = logging.getLogger(__name__)

SOURCE_FORMAT = "mdm_kafka"

# Spark's built-in kafka source schema with includeHeaders=true, column for column.
KAFKA_SCHEMA = StructType([
    StructField("key", BinaryType()),
    StructField("value", BinaryType()),
    StructField("topic", StringType()),
    StructField("partition", IntegerType()),
    StructField("offset", LongType()),
    StructField("timestamp", TimestampType()),
    StructField("timestampType", IntegerType()),
    StructField("headers", ArrayType(StructType([StructField("key", StringType()),
                                                 StructField("value", BinaryType())]))),
])
_ARROW_SCHEMA = to_arrow_schema(KAFKA_SCHEMA, timezone="UTC")
_ROWS_PER_ARROW_BATCH = 8192
_DEFAULT_POLL_TIMEOUT_MS = 120_000  # Spark's kafkaConsumer.pollTimeoutMs default (spark.network.timeout)
_PATTERN_REFRESH_SECONDS = 30.0
_NO_TIMESTAMP_TYPE = -1  # Kafka's NoTimestampType id, as the built-in source reports it
_SOURCE_OPTIONS = ("kafka.bootstrap.servers", "subscribe", "subscribepattern", "startingoffsets",
                   "maxoffsetspertrigger", "failondataloss", "kafkaconsumer.polltimeoutms", "includeheaders")
_DATA_LOSS_HINT = ('If you want your streaming query to continue past such losses, set the source option '
                   '"failOnDataLoss" to "false".')
# What kafka-python raises when no broker answers; any other KafkaError is a real error and fails the query.
_UNREACHABLE = (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError)
# Spark hands a Python data source's error to the driver as text (the worker's traceback inside a
# StreamingQueryException), so the type is lost; the traceback's last line still names the class.
_BROKER_UNAVAILABLE = f"{BrokerUnavailableError.__module__}.{BrokerUnavailableError.__qualname__}: "

Positions = dict[TopicPartition, int]


@dataclass(frozen=True)
class KafkaReadOptions:
    """The source's options, validated once on the driver; client secrets stay unresolved references."""

    bootstrap_servers: str
    client_options: Mapping[str, str]
    topics: tuple[str, ...] = ()
    pattern: str | None = None
    starting_offsets: StartingOffsets = "latest"
    max_offsets_per_trigger: int | None = None
    fail_on_data_loss: bool = True
    poll_timeout_ms: int = _DEFAULT_POLL_TIMEOUT_MS

    def __repr__(self) -> str:
        return (f"KafkaReadOptions(bootstrap_servers={self.bootstrap_servers!r}, topics={self.topics!r}, "
                f"pattern={self.pattern!r}, starting_offsets={self.starting_offsets!r}, "
                f"max_offsets_per_trigger={self.max_offsets_per_trigger!r}, "
                f"fail_on_data_loss={self.fail_on_data_loss!r}, poll_timeout_ms={self.poll_timeout_ms!r}, "
                f"client_options={masked(self.client_options)!r})")

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> KafkaReadOptions:
        """Reads Spark's (lower-cased) option map; every problem is reported in one SourceError."""
        opts = {key.lower(): value for key, value in options.items()}
        problems: list[str] = []
        client = {key[len("kafka."):]: value for key, value in opts.items()
                  if key.startswith("kafka.") and key != "kafka.bootstrap.servers"}
        for name, value in client.items():
            problem = option_problem(name, value, client="kafka-python")
            if problem is not None:
                problems.append(f"option 'kafka.{name}': expected {problem}")
        for key in sorted(k for k in opts if not k.startswith("kafka.") and k not in _SOURCE_OPTIONS):
            problems.append(f"unknown option {key!r}; known options: {list(_SOURCE_OPTIONS)} and kafka.<client option>")
        servers = opts.get("kafka.bootstrap.servers", "").strip()
        if not servers:
            problems.append("option 'kafka.bootstrap.servers' is required (host:port[,host:port...])")
        topics = tuple(t.strip() for t in opts.get("subscribe", "").split(",") if t.strip())
        pattern = opts.get("subscribepattern") or None
        if bool(topics) == bool(pattern):
            problems.append("exactly one of the options 'subscribe' (comma-separated topics) and "
                            "'subscribePattern' (a regular expression) is required")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(f"option 'subscribePattern': not a regular expression ({exc})")
        starting: StartingOffsets = "latest"
        try:
            starting = parse_starting_offsets(opts.get("startingoffsets", "latest"))
        except ValueError as exc:
            problems.append(f"option 'startingOffsets': expected {exc}")
        max_offsets = _positive_int(opts, "maxOffsetsPerTrigger", problems)
        poll_timeout = _positive_int(opts, "kafkaConsumer.pollTimeoutMs", problems)
        fail_text = opts.get("failondataloss", "true").lower()
        if fail_text not in ("true", "false"):
            problems.append(f"option 'failOnDataLoss': expected true or false, got {fail_text!r}")
        if opts.get("includeheaders", "true").lower() != "true":
            problems.append("option 'includeHeaders': this source always includes headers (expected true)")
        if problems:
            raise SourceError(f"{SOURCE_FORMAT}: invalid options:\n" + "\n".join(f"  - {p}" for p in problems))
        return cls(bootstrap_servers=servers, client_options=client, topics=topics, pattern=pattern,
                   starting_offsets=starting, max_offsets_per_trigger=max_offsets,
                   fail_on_data_loss=fail_text == "true",
                   poll_timeout_ms=poll_timeout or _DEFAULT_POLL_TIMEOUT_MS)

    def consumer(self) -> KafkaConsumer:
        """A group-less consumer: offsets are tracked by Spark, never committed to Kafka."""
        try:
            config = kafka_python_config(self.client_options)
        except (LookupError, ValueError) as exc:
            raise SourceError(f"{SOURCE_FORMAT}: {exc}") from None
        config.setdefault("max_poll_records", 10_000)
        return KafkaConsumer(bootstrap_servers=self.bootstrap_servers.split(","), group_id=None,
                             enable_auto_commit=False, auto_offset_reset="none", allow_auto_create_topics=False,
                             **config)


def _positive_int(opts: Mapping[str, str], name: str, problems: list[str]) -> int | None:
    text = opts.get(name.lower())
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        problems.append(f"option {name!r}: expected a positive integer, got {text!r}")
        return None
    return int(text)


@dataclass(frozen=True)
class KafkaOffsetRange(InputPartition):
    """One Spark task: offsets [start, end) of one Kafka partition."""

    topic: str
    partition: int
    start: int
    end: int


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Plans micro-batches on the driver; ``read`` runs in executors with its own consumer."""

    def __init__(self, options: KafkaReadOptions):
        self.options = options
        self._consumer: KafkaConsumer | None = None
        self._target: Positions | None = None
        self._latest: Positions | None = None
        self._pattern_topics: list[str] | None = None
        self._pattern_checked = 0.0

    def initialOffset(self) -> dict:
        latest = self._end_offsets()
        starting = self.options.starting_offsets
        if starting == "latest":
            positions = latest
        elif starting == "earliest":
            positions = self._beginning_offsets(latest)
        else:
            positions = self._specific_offsets(starting, latest)
        log.info("%s: starting at %s (startingOffsets=%s)", SOURCE_FORMAT, _to_json(positions), starting)
        return _to_json(positions)

    def getDefaultReadLimit(self) -> ReadLimit:
        limit = self.options.max_offsets_per_trigger
        return super().getDefaultReadLimit() if limit is None else ReadMaxRows(limit)

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        begin = _from_json(start)
        latest = self._latest = self._end_offsets()
        if self._target is not None:
            latest = {tp: min(offset, self._target[tp]) for tp, offset in latest.items() if tp in self._target}
        if isinstance(limit, ReadMaxRows):
            new = [tp for tp in latest if tp not in begin]
            latest = admit({**self._beginning_offsets(new), **begin}, latest, limit.max_rows)
        return _to_json(latest)

    def reportLatestOffset(self) -> dict | None:
        """The broker's end offsets as of the last planning (fetched now for a batch replayed from the log)."""
        return _to_json(self._end_offsets() if self._latest is None else self._latest)

    def prepareForTriggerAvailableNow(self) -> None:
        self._target = self._end_offsets()
        log.info("%s: available-now: reading up to %s", SOURCE_FORMAT, _to_json(self._target))

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        begin, until = _from_json(start), _from_json(end)
        for tp in sorted(set(begin) - set(until)):
            report_data_loss(self.options, f"{tp.topic}-{tp.partition} is gone: the topic or partition was "
                                           f"deleted with offsets from {begin[tp]} not yet read.")
        new_begin = self._beginning_offsets([tp for tp in until if tp not in begin])
        ranges = []
        for tp, last in until.items():
            first = begin.get(tp, new_begin.get(tp, 0))
            if last < first:
                report_data_loss(self.options, f"Partition {tp.topic}-{tp.partition}'s offset was changed from "
                                               f"{first} to {last}, some data may have been missed.")
            elif last > first:
                ranges.append(KafkaOffsetRange(tp.topic, tp.partition, first, last))
        return ranges

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, KafkaOffsetRange)
        return read_range(self.options, partition)

    def commit(self, end: dict) -> None:
        """Nothing to do: the checkpoint is the only place offsets are kept."""

    def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def _client(self) -> KafkaConsumer:
        if self._consumer is None:
            self._consumer = self.options.consumer()
        return self._consumer

    def _end_offsets(self) -> Positions:
        """End offsets of every subscribed partition that exists now (partition discovery)."""
        with client_errors(self.options, "read end offsets"):
            consumer = self._client()
            partitions = [TopicPartition(t, p) for t in self._topics(consumer)
                          for p in sorted(consumer.partitions_for_topic(t))]
            return dict(consumer.end_offsets(partitions)) if partitions else {}

    def _topics(self, consumer: KafkaConsumer) -> list[str]:
        """The subscribed topics, a pattern re-matched every 30 s at most.

        Listing the cluster's topics costs a full metadata round trip (~100 ms
        with kafka-python), too much for every trigger; partition counts come
        from the client's metadata cache, refreshed every
        ``kafka.metadata.max.age.ms`` (5 minutes by default, as in Spark).
        """
        if self.options.pattern is None:
            return list(self.options.topics)
        now = time.monotonic()
        if self._pattern_topics is None or now - self._pattern_checked > _PATTERN_REFRESH_SECONDS:
            regex = re.compile(self.options.pattern)
            self._pattern_topics = sorted(t for t in consumer.topics() if regex.fullmatch(t))
            self._pattern_checked = now
        return self._pattern_topics

    def _beginning_offsets(self, partitions: Sequence[TopicPartition] | Positions) -> Positions:
        if not partitions:
            return {}
        with client_errors(self.options, "read beginning offsets"):
            return dict(self._client().beginning_offsets(list(partitions)))

    def _specific_offsets(self, wanted: Mapping[str, Mapping[int, int]], latest: Positions) -> Positions:
        """Resolves -2/-1 in a startingOffsets JSON; like Spark, every partition of a topic must be named."""
        named = {TopicPartition(t, p): offset for t, parts in wanted.items() for p, offset in parts.items()}
        existing = {tp for tp in latest if tp.topic in wanted}
        if set(named) != existing:
            raise SourceError(
                f"{SOURCE_FORMAT}: startingOffsets must name every partition of its topics: named "
                f"{_names(named)}, the topics have {_names(existing)}")
        earliest = self._beginning_offsets(list(named))
        return {tp: earliest[tp] if offset == EARLIEST else latest[tp] if offset == LATEST else offset
                for tp, offset in named.items()}


class KafkaDataSource(DataSource):
    """``spark.readStream.format("mdm_kafka")``: Kafka records with the built-in source's schema."""

    @classmethod
    def name(cls) -> str:
        return SOURCE_FORMAT

    def schema(self) -> StructType:
        return KAFKA_SCHEMA

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        return KafkaStreamReader(KafkaReadOptions.parse(self.options))


def admit(start: Positions, latest: Positions, max_rows: int) -> Positions:
    """End offsets admitting at most ``max_rows`` offsets, shared across partitions in proportion to their lag.

    Shares are floored and the remainder goes to the largest fractions, so a
    batch never exceeds the limit and every partition with a backlog moves.
    """
    lags = {tp: max(0, end - start[tp]) for tp, end in latest.items()}
    total = sum(lags.values())
    if total <= max_rows:
        return dict(latest)
    shares = {tp: max_rows * lag // total for tp, lag in lags.items()}
    leftover = max_rows - sum(shares.values())
    by_fraction = sorted(lags, key=lambda tp: (-(max_rows * lags[tp] % total), tp.topic, tp.partition))
    for tp in by_fraction[:leftover]:
        shares[tp] += 1
    return {tp: start[tp] + shares[tp] if lags[tp] else end for tp, end in latest.items()}


@contextmanager
def client_errors(options: KafkaReadOptions, doing: str) -> Iterator[None]:
    """Client errors as SourceError; a broker that does not answer as BrokerUnavailableError (waited for)."""
    try:
        yield
    except _UNREACHABLE as exc:
        raise BrokerUnavailableError(f"{SOURCE_FORMAT}: broker unavailable, cannot {doing} from "
                                     f"{options.bootstrap_servers}: {exc}") from exc
    except KafkaError as exc:
        raise SourceError(f"{SOURCE_FORMAT}: cannot {doing} from {options.bootstrap_servers}: {exc}") from exc


def broker_lost(failure: BaseException) -> str | None:
    """The BrokerUnavailableError line of a failed query's error, or None when the query failed otherwise."""
    return next((line.strip() for line in str(failure).splitlines() if _BROKER_UNAVAILABLE in line), None)


def report_data_loss(options: KafkaReadOptions, message: str) -> None:
    """Spark's failOnDataLoss: fail the query, or warn and carry on with what Kafka still has."""
    if options.fail_on_data_loss:
        raise SourceError(f"{SOURCE_FORMAT}: {message} Some data may have been lost because it is not available "
                          f"in Kafka any more. {_DATA_LOSS_HINT}")
    log.warning("%s: %s Continuing because failOnDataLoss is false.", SOURCE_FORMAT, message)


def read_range(options: KafkaReadOptions, part: KafkaOffsetRange) -> Iterator[pa.RecordBatch]:
    """Reads [start, end) of one partition as Arrow batches; gaps (compaction, markers) are skipped."""
    tp = TopicPartition(part.topic, part.partition)
    with client_errors(options, f"read {tp.topic}-{tp.partition}"):
        yield from _read_range(options, part, tp, options.consumer())


def _read_range(options: KafkaReadOptions, part: KafkaOffsetRange, tp: TopicPartition,
                consumer: KafkaConsumer) -> Iterator[pa.RecordBatch]:
    try:
        consumer.assign([tp])
        position = _seek_available(consumer, tp, part.start, options)
        rows = _RecordBuffer(part.topic, part.partition)
        deadline = time.monotonic() + options.poll_timeout_ms / 1000
        while position < part.end:
            try:
                polled = consumer.poll(timeout_ms=min(1000, options.poll_timeout_ms), max_records=10_000)
            except OffsetOutOfRangeError:
                position = _seek_available(consumer, tp, position, options)
                continue
            records = polled.get(tp, [])
            for record in records:
                if record.offset >= part.end:
                    break
                rows.add(record)
            position = consumer.position(tp)
            if records:
                deadline = time.monotonic() + options.poll_timeout_ms / 1000
            elif time.monotonic() > deadline:
                if _ends_before(consumer, tp, part.end, options):
                    break
                raise SourceError(f"{SOURCE_FORMAT}: no records from {tp.topic}-{tp.partition} at offset {position} "
                                  f"for {options.poll_timeout_ms} ms (kafkaConsumer.pollTimeoutMs); "
                                  f"expected offsets up to {part.end}")
            if len(rows) >= _ROWS_PER_ARROW_BATCH:
                yield rows.flush()
        if len(rows):
            yield rows.flush()
    finally:
        consumer.close()


def _seek_available(consumer: KafkaConsumer, tp: TopicPartition, offset: int, options: KafkaReadOptions) -> int:
    earliest = consumer.beginning_offsets([tp])[tp]
    if offset < earliest:
        report_data_loss(options, f"Cannot fetch offset {offset} of {tp.topic}-{tp.partition}: the earliest "
                                  f"available offset is {earliest}; offsets {offset}..{earliest - 1} were deleted.")
        offset = earliest
    consumer.seek(tp, offset)
    return offset


def _ends_before(consumer: KafkaConsumer, tp: TopicPartition, wanted: int, options: KafkaReadOptions) -> bool:
    end = consumer.end_offsets([tp])[tp]
    if end < wanted:
        report_data_loss(options, f"{tp.topic}-{tp.partition} now ends at offset {end}, before the planned "
                                  f"end {wanted}.")
        return True
    return False


@dataclass
class _RecordBuffer:
    """Column buffers of one partition's records, flushed as Arrow batches of the Kafka schema."""

    topic: str
    partition: int
    keys: list[bytes | None] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    timestamp_types: list[int] = field(default_factory=list)
    headers: list[list[dict[str, Any]] | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.offsets)

    def add(self, record: Any) -> None:
        self.keys.append(record.key)
        self.values.append(record.value)
        self.offsets.append(record.offset)
        self.timestamps.append(record.timestamp * 1000)
        self.timestamp_types.append(_NO_TIMESTAMP_TYPE if record.timestamp_type is None else record.timestamp_type)
        self.headers.append([{"key": k, "value": v} for k, v in record.headers] if record.headers else None)

    def flush(self) -> pa.RecordBatch:
        n = len(self.offsets)
        batch = pa.RecordBatch.from_arrays([
            pa.array(self.keys, pa.binary()),
            pa.array(self.values, pa.binary()),
            pa.array([self.topic] * n, pa.string()),
            pa.array([self.partition] * n, pa.int32()),
            pa.array(self.offsets, pa.int64()),
            pa.array(self.timestamps, pa.int64()).cast(_ARROW_SCHEMA.field("timestamp").type),
            pa.array(self.timestamp_types, pa.int32()),
            pa.array(self.headers, _ARROW_SCHEMA.field("headers").type),
        ], schema=_ARROW_SCHEMA)
        for column in (self.keys, self.values, self.offsets, self.timestamps, self.timestamp_types, self.headers):
            column.clear()
        return batch


def _to_json(positions: Positions) -> dict[str, dict[str, int]]:
    """Spark's kafka offset JSON, in one canonical order so equal offsets serialise equally."""
    offsets: dict[str, dict[str, int]] = {}
    for tp in sorted(positions, key=lambda tp: (tp.topic, tp.partition)):
        offsets.setdefault(tp.topic, {})[str(tp.partition)] = positions[tp]
    return offsets


def _from_json(offsets: Mapping[str, Mapping[str, int]]) -> Positions:
    return {TopicPartition(topic, int(p)): int(o) for topic, parts in offsets.items() for p, o in parts.items()}


def _names(partitions: Any) -> list[str]:
    return sorted(f"{tp.topic}-{tp.partition}" for tp in partitions)


def spark_kafka_options(settings: KafkaSettings, *, topics: Sequence[str]) -> dict[str, str]:
    """Options understood alike by ``mdm_kafka`` and Spark's ``kafka`` format.

    The JVM client cannot resolve env:/file: references, so for
    ``client: spark`` they are resolved here (Spark redacts password-like
    option values in plans and logs); ``mdm_kafka`` resolves them itself.
    """
    options = {
        "kafka.bootstrap.servers": settings.bootstrap_servers,
        "subscribe": ",".join(topics),
        "startingOffsets": settings.starting_offsets,
        "failOnDataLoss": str(settings.fail_on_data_loss).lower(),
        "includeHeaders": "true",
        "kafkaConsumer.pollTimeoutMs": str(settings.poll_timeout_ms),
    }
    if settings.max_offsets_per_trigger is not None:
        options["maxOffsetsPerTrigger"] = str(settings.max_offsets_per_trigger)
    for name, value in settings.options.items():
        options[f"kafka.{name}"] = resolve_secret(name, value) if settings.client == "spark" else value
    return options


def read_kafka_stream(spark: SparkSession, settings: KafkaSettings, *, topics: Sequence[str]) -> DataFrame:
    """A streaming DataFrame of the Kafka schema, from ``mdm_kafka`` or (``client: spark``) ``format("kafka")``."""
    if settings.client == "spark":
        fmt = "kafka"
    else:
        spark.dataSource.register(KafkaDataSource)
        fmt = SOURCE_FORMAT
    return spark.readStream.format(fmt).options(**spark_kafka_options(settings, topics=topics)).load()


def wait_for_broker(settings: KafkaSettings, *, stop: threading.Event | None = None) -> bool:
    """Blocks until a broker answers a metadata request, retrying with capped exponential backoff.

    Uses kafka-python whatever ``client`` says, so it needs kafka-python
    option names. Returns False only when ``stop`` is set while waiting.
    """
    stop = stop or threading.Event()
    started = time.monotonic()
    delay, attempt = 1.0, 1
    while True:
        try:
            with _client_logs_silenced():
                consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers.split(","),
                                         bootstrap_timeout_ms=2000, enable_auto_commit=False,
                                         **kafka_python_config(settings.options, connection_only=True))
                try:
                    consumer.topics()
                finally:
                    consumer.close()
        except KafkaError as exc:
            log.warning("Kafka at %s not reachable (%s); attempt %d, retrying in %.0f s (waiting %.0f s so far)",
                        settings.bootstrap_servers, type(exc).__name__, attempt, delay,
                        time.monotonic() - started)
            if stop.wait(delay):
                return False
            delay, attempt = min(delay * 2, settings.connect_backoff_max_seconds), attempt + 1
            continue
        if attempt > 1:
            log.info("Kafka at %s reachable after %d attempts (%.1f s)", settings.bootstrap_servers, attempt,
                     time.monotonic() - started)
        return True


@contextmanager
def _client_logs_silenced() -> Iterator[None]:
    """kafka-python logs each refused connection several times at ERROR; the wait says it once per attempt."""
    client_log = logging.getLogger("kafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        client_log.setLevel(level)
