"""Stream job: Kafka -> bronze for every Kafka source, continuously, exactly once.

Offsets live in the checkpoint (default <lake>/_checkpoints); restarting with
the same checkpoint resumes where the last committed micro-batch ended.
SIGTERM or Ctrl-C: the micro-batch in flight finishes, then the job stops
(exit 0); a second signal ends it at once. A broker that is down at start is
waited for with backoff.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from customer_mdm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, job_config, job_parser, parse
from customer_mdm.config.kafka import resolve_secret
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.hops.ingest_stream import IngestQuery, Trigger, kafka_sources, run_queries, start_ingest
from customer_mdm.ops.runs import Run, new_run_id
from customer_mdm.sources.kafka import wait_for_broker
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

log = logging.getLogger("stream_job")


def parse_trigger(text: str) -> Trigger:
    if text == "available-now":
        return "available-now"
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0 or 'available-now', got {text!r}")
    return seconds


EXAMPLES = (
    ("python jobs/stream_job.py", "embedded defaults: conf/, lake/, a batch every second"),
    ("python jobs/stream_job.py --trigger available-now", "drain what Kafka holds now, then exit"),
    ("python jobs/stream_job.py --trigger 0 --source crm_events --lake /data/lake", "back-to-back batches"),
    ("spark-submit jobs/stream_job.py --conf /etc/mdm/conf --checkpoint /data/checkpoints", "on a cluster"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = job_parser(__doc__ or "", examples=EXAMPLES,
                        exit_codes={EXIT_OK: "stopped (signal) or drained (available-now)",
                                    EXIT_FAILED: "a query failed (see the error line and ops.runs)"})
    parser.add_argument("--checkpoint", help="checkpoint root (default: <lake>/_checkpoints)")
    parser.add_argument("--trigger", type=parse_trigger, default=1.0,
                        help="seconds between micro-batch starts (0: back to back), or available-now")
    parser.add_argument("--source", action="append", default=[],
                        help="Kafka source to run (repeatable; default: every Kafka source)")
    parser.add_argument("--run-id", help="run id to record (default: generated)")
    return parse(parser, argv)


def install_stop_handlers(stop: threading.Event) -> None:
    """First SIGTERM/SIGINT: graceful stop; a second one: exit at once (the checkpoint keeps it exact)."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("%s again: exiting now", signal.Signals(signum).name)
            os._exit(130)
        log.info("%s: finishing the micro-batch in flight, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = job_config(args)
        sources = kafka_sources(config, args.source)
        for name, value in config.kafka.options.items():
            resolve_secret(name, value)
    except (ConfigError, MdmError, KeyError, LookupError) as exc:
        return fail(exc, EXIT_USAGE)
    stop = threading.Event()
    install_stop_handlers(stop)
    if config.kafka.client != "spark" and not wait_for_broker(config.kafka, stop=stop):
        return EXIT_OK
    checkpoint = Path(args.checkpoint) if args.checkpoint else config.lake_root / "_checkpoints"
    spark = build_session(config.spark)
    try:
        store = open_store(spark, config)
        run = Run(store, args.run_id or new_run_id("stream"), "stream_job", "stream",
                  {"conf": args.conf, "lake": str(config.lake_root), "checkpoint": str(checkpoint),
                   "trigger": args.trigger, "source": args.source, "client": config.kafka.client}).start()
        queries: list[IngestQuery] = []
        try:
            queries = [start_ingest(spark, store, config, s, checkpoint_root=checkpoint, trigger=args.trigger,
                                    run_id=run.run_id) for s in sources]
            run_queries(queries, stop=stop)
        except Exception as exc:
            _count(run, queries)
            run.finish("FAILED", error=f"{type(exc).__name__}: {exc}")
            return fail(exc, EXIT_FAILED)
        _count(run, queries)
        run.finish("SUCCEEDED")
    finally:
        spark.stop()
    for q in queries:
        print(f"  {q.source.bronze_table:<22} {q.writer.rows_written} rows in {q.writer.batches_written} "
              f"micro-batches ({q.writer.batches_skipped} already committed)")
    print(f"run {run.run_id}: stopped (lake: {config.lake_root}, checkpoint: {checkpoint})")
    return EXIT_OK


def _count(run: Run, queries: list[IngestQuery]) -> None:
    rows = sum(q.writer.rows_written for q in queries)
    run.add(rows_read=rows, rows_written=rows, batches=sum(q.writer.batches_written for q in queries),
            batches_skipped=sum(q.writer.batches_skipped for q in queries))


if __name__ == "__main__":
    sys.exit(main())
