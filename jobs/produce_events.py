"""Replays CRM extract records as change events on Kafka: JSON, keyed by customer id, at a chosen rate.

Each CSV row becomes one event carrying the Kafka source's columns: the
first row of a customer is a create (op "upsert"), later rows are updates
(op "upsert"), rows with status DELETED are deletes (op "delete"). Files are
replayed in name order, so events follow the extracts' history.

``--malformed N`` adds N poison messages spread through the stream (not JSON,
not UTF-8, null value) so the silver hop's dead-letter path gets exercised.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import glob
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from customer_mdm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, job_config, job_parser, parse
from customer_mdm.config import PipelineConfig, SourceConfig
from customer_mdm.config.kafka import kafka_python_config
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.party import SOURCE_RECORD_ID

log = logging.getLogger("produce_events")

# Poison messages, in the order they are cycled through.
MALFORMED: tuple[bytes | None, ...] = (b'{"op": "upsert", "customer_id": ', b"\xff\xfe\x00 not utf-8", None)
_TIMESTAMP = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Event:
    kind: str  # create | update | delete | malformed
    key: bytes | None
    value: bytes | None


EXAMPLES = (
    ("python jobs/produce_events.py", "data/landing/crm/*.csv -> crm.customers, full speed"),
    ("python jobs/produce_events.py --rate 200 --partitions 4 --malformed 3", "paced, with poison messages"),
    ("python jobs/produce_events.py --duration 300 --rate 5000 --pad-to 500",
     "then keep sending updates for 5 minutes (soak)"),
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
    args = parse(parser, argv)
    if args.rate < 0 or args.partitions < 1 or args.malformed < 0 or args.duration < 0 or args.pad_to < 0:
        parser.error("--rate, --malformed, --duration and --pad-to must be >= 0, --partitions >= 1")
    return args


def read_rows(files: Sequence[Path], source: SourceConfig, *, limit: int | None) -> list[dict[str, str | None]]:
    """The source's columns (except ``op``) of every row, empty fields as null, in file order."""
    key_column = source.mapping[SOURCE_RECORD_ID]
    columns = [c for c in source.columns if c != "op"]
    rows: list[dict[str, str | None]] = []
    for file in files:
        with open(file, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if key_column not in (reader.fieldnames or []):
                raise MdmError(f"{file}: no {key_column!r} column (the record id of source {source.name})")
            for row in reader:
                rows.append({c: (row.get(c) or None) for c in columns})
                if limit is not None and len(rows) >= limit:
                    return rows
    return rows


def change_events(rows: Sequence[dict[str, str | None]], source: SourceConfig, *, pad_to: int = 0) -> Iterator[Event]:
    key_column = source.mapping[SOURCE_RECORD_ID]
    seen: set[str | None] = set()
    for row in rows:
        customer = row[key_column]
        deleted = (row.get("status") or "").upper() == "DELETED"
        kind = "delete" if deleted else "update" if customer in seen else "create"
        seen.add(customer)
        yield _event(kind, row, key_column, pad_to)


def soak_updates(rows: Sequence[dict[str, str | None]], source: SourceConfig, *, pad_to: int = 0) -> Iterator[Event]:
    """Endless updates cycling through the replayed customers: a consent flip stamped with the time it is sent."""
    key_column = source.mapping[SOURCE_RECORD_ID]
    live = [r for r in rows if (r.get("status") or "").upper() != "DELETED"] or list(rows)
    while True:
        for row in live:
            row["email_opt_out"] = "N" if row.get("email_opt_out") == "Y" else "Y"
            row["updated_at"] = dt.datetime.now(dt.timezone.utc).strftime(_TIMESTAMP)
            yield _event("update", row, key_column, pad_to)


def _event(kind: str, row: dict[str, str | None], key_column: str, pad_to: int) -> Event:
    payload: dict[str, str | None] = {"op": "delete" if kind == "delete" else "upsert", **row}
    value = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    if len(value) < pad_to:
        payload["_pad"] = " " * max(0, pad_to - len(value) - len(',"_pad":""'))
        value = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    key = row[key_column]
    return Event(kind, None if key is None else key.encode("utf-8"), value)


def with_malformed(events: Sequence[Event], count: int) -> list[Event]:
    """Spreads ``count`` poison messages evenly through the events."""
    if count == 0:
        return list(events)
    mixed = list(events)
    step = max(1, len(mixed) // (count + 1))
    for i in reversed(range(count)):
        mixed.insert(min(len(mixed), (i + 1) * step), Event("malformed", b"poison-%d" % i, MALFORMED[i % 3]))
    return mixed


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


def send(producer: KafkaProducer, topic: str, events: Iterator[Event], *, rate: float,
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
        producer.send(topic, key=event.key, value=event.value)
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
        producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", linger_ms=5, batch_size=256 * 1024,
                                 **kafka_python_config(config.kafka.options, connection_only=True))
        try:
            replay = with_malformed(list(change_events(rows, source, pad_to=args.pad_to)), args.malformed)
            send(producer, topic, iter(replay), rate=args.rate, until=None, counts=counts)
            if args.duration > 0:
                send(producer, topic, soak_updates(rows, source, pad_to=args.pad_to), rate=args.rate,
                     until=started + args.duration, counts=counts)
            producer.flush()
        finally:
            producer.close()
    except KafkaError as exc:
        return fail(MdmError(f"Kafka at {bootstrap}: {exc}"), EXIT_FAILED)
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
