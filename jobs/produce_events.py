"""Replays CRM extract records as change events on Kafka: JSON, keyed by customer id, at a chosen rate.

Each CSV row becomes one event carrying the Kafka source's columns: the
first row of a customer is a create (op "upsert"), later rows are updates
(op "upsert"), rows with status DELETED are deletes (op "delete"). Files are
replayed in name order, so events follow the extracts' history.

``--malformed N`` adds N poison messages spread through the stream (not JSON,
not UTF-8, null value) so the silver hop's dead-letter path gets exercised.

``--client confluent`` sends with confluent-kafka (librdkafka, C) instead of
kafka-python: a load generator that leaves the CPU to the job it loads
(benchmarks; ``make bench`` installs it). It takes no ``kafka.options``.
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from customer_mdm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, job_config, job_parser, parse
from customer_mdm.config import PipelineConfig, SourceConfig
from customer_mdm.config.kafka import kafka_python_config
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.samples.events import Event, change_events, read_rows, soak_updates, with_malformed

log = logging.getLogger("produce_events")

EXAMPLES = (
    ("python jobs/produce_events.py", "data/landing/crm/*.csv -> crm.customers, full speed"),
    ("python jobs/produce_events.py --rate 200 --partitions 4 --malformed 3", "paced, with poison messages"),
    ("python jobs/produce_events.py --duration 300 --rate 5000 --pad-to 500",
     "then keep sending updates for 5 minutes (soak)"),
    ("python jobs/produce_events.py --client confluent --duration 300 --rate 5000",
     "the same load from the C client (pip install confluent-kafka)"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = job_parser(__doc__ or "", examples=EXAMPLES, lake=False,
                        exit_codes={EXIT_OK: "sent", EXIT_FAILED: "Kafka failed",
                                    EXIT_USAGE: "bad configuration, flags or input: nothing was sent"})
    parser.add_argument("--source", default="crm_events", help="Kafka source whose topic and columns to use")
    parser.add_argument("--input", default="data/landing/crm/*.csv",
                        help="CSV extracts, a glob relative to the project root")
    parser.add_argument("--bootstrap-servers", help="override kafka.bootstrap_servers of pipeline.yaml")
    parser.add_argument("--rate", type=float, default=0.0, help="events per second; 0 = as fast as possible")
    parser.add_argument("--partitions", type=int, default=4, help="partitions when creating the topic")
    parser.add_argument("--malformed", type=int, default=0, help="poison messages to mix in (default: 0)")
    parser.add_argument("--limit", type=int, help="replay at most this many rows")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="after the replay, keep sending updates of the replayed customers until this many "
                             "seconds have passed since the start")
    parser.add_argument("--pad-to", type=int, default=0,
                        help="pad each JSON value to at least this many bytes with a '_pad' field (benchmarks)")
    parser.add_argument("--client", choices=("kafka-python", "confluent"), default="kafka-python",
                        help="producer client; confluent (librdkafka) costs far less CPU per event: use it to load "
                             "a job on the same machine (needs confluent-kafka; takes no kafka.options)")
    args = parse(parser, argv)
    if args.rate < 0 or args.partitions < 1 or args.malformed < 0 or args.duration < 0 or args.pad_to < 0:
        parser.error("--rate, --malformed, --duration and --pad-to must be >= 0, --partitions >= 1")
    return args


def ensure_topic(config: PipelineConfig, bootstrap_servers: str, topic: str, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","),
                             **kafka_python_config(config.kafka.options, connection_only=True))
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
        log.info("created topic %s with %d partitions", topic, partitions)
    except TopicAlreadyExistsError:
        log.info("topic %s exists; its partition count is kept", topic)
    finally:
        admin.close()


class Sender(Protocol):
    def send(self, topic: str, key: bytes | None, value: bytes | None) -> None: ...

    def close(self) -> None:
        """Waits until every event sent is acknowledged, then closes."""


class KafkaPythonSender:
    def __init__(self, bootstrap: str, options: dict[str, Any]) -> None:
        self._producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", linger_ms=5,
                                       batch_size=256 * 1024, **options)

    def send(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        self._producer.send(topic, key=key, value=value)

    def close(self) -> None:
        try:
            self._producer.flush()
        finally:
            self._producer.close()


class ConfluentSender:
    """librdkafka queues events in C; a full queue is waited out, and a delivery error fails the run at close."""

    def __init__(self, bootstrap: str) -> None:
        from confluent_kafka import Producer  # optional: only this client needs it
        self._producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                                   "queue.buffering.max.messages": 500_000})
        self._errors: list[str] = []

    def _delivered(self, error: Any, _message: Any) -> None:
        if error is not None:
            self._errors.append(str(error))

    def send(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        while True:
            try:
                self._producer.produce(topic, key=key, value=value, on_delivery=self._delivered)
                break
            except BufferError:
                self._producer.poll(0.05)
        self._producer.poll(0)

    def close(self) -> None:
        left = self._producer.flush(60)
        if left or self._errors:
            raise MdmError(f"{left} event(s) not delivered within 60 s; delivery errors: {self._errors[:3]}")


def open_sender(client: str, bootstrap: str, config: PipelineConfig) -> Sender:
    if client == "kafka-python":
        return KafkaPythonSender(bootstrap, kafka_python_config(config.kafka.options, connection_only=True))
    if config.kafka.options:
        raise MdmError("--client confluent takes no kafka.options (security settings): use --client kafka-python")
    try:
        return ConfluentSender(bootstrap)
    except ImportError as exc:
        raise MdmError("--client confluent needs the confluent-kafka package (pip install confluent-kafka, or "
                       "make bench)") from exc


def send(producer: Sender, topic: str, events: Iterator[Event], *, rate: float,
         until: float | None, counts: Counter[str]) -> None:
    """Sends at ``rate`` events/s (0: unpaced) until the events end or ``until`` (monotonic) passes."""
    started = time.monotonic()
    for i, event in enumerate(events):
        now = time.monotonic()
        if until is not None and now >= until:
            return
        if rate > 0:
            ahead = started + i / rate - now
            if ahead > 0.002:
                time.sleep(ahead)
        producer.send(topic, event.key, event.value)
        counts[event.kind] += 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = job_config(args)
        source = config.source(args.source)
        if source.format != "kafka" or source.topic is None:
            raise MdmError(f"source {source.name} ({source.file}) is not a Kafka source")
        files = sorted(Path(p) for p in glob.glob(str(config.resolve(args.input))))
        if not files:
            raise MdmError(f"no file matches {config.resolve(args.input)}; run jobs/generate_sample.py first")
        rows = read_rows(files, source, limit=args.limit)
    except (ConfigError, MdmError, KeyError, LookupError, OSError) as exc:
        return fail(exc, EXIT_USAGE)
    bootstrap = args.bootstrap_servers or config.kafka.bootstrap_servers
    topic = source.topic
    counts: Counter[str] = Counter()
    started = time.monotonic()
    try:
        ensure_topic(config, bootstrap, topic, args.partitions)
        try:
            producer = open_sender(args.client, bootstrap, config)
        except MdmError as exc:
            return fail(exc, EXIT_USAGE)
        try:
            replay = with_malformed(list(change_events(rows, source, pad_to=args.pad_to)), args.malformed)
            send(producer, topic, iter(replay), rate=args.rate, until=None, counts=counts)
            if args.duration > 0:
                send(producer, topic, soak_updates(rows, source, pad_to=args.pad_to), rate=args.rate,
                     until=started + args.duration, counts=counts)
        finally:
            producer.close()
    except KafkaError as exc:
        return fail(MdmError(f"Kafka at {bootstrap}: {exc}"), EXIT_FAILED)
    except MdmError as exc:
        return fail(exc, EXIT_FAILED)
    seconds = time.monotonic() - started
    total = sum(counts.values())
    log.info("sent %d events to %s in %.1fs (%.0f/s): %s", total, topic, seconds, total / max(seconds, 1e-9),
             ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(json.dumps({"topic": topic, "events": total, **{k: counts[k] for k in
                      ("create", "update", "delete", "malformed")}, "seconds": round(seconds, 2),
                      "events_per_second": round(total / max(seconds, 1e-9), 1)}))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
