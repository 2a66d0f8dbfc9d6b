"""Stream job: Kafka -> bronze for every Kafka source, continuously, exactly once; silver and gold behind it.

Offsets live in the checkpoint (default <lake>/_checkpoints); restarting with
the same checkpoint resumes where the last committed micro-batch ended.
Hop 1 (bronze -> silver) and hop 2 (silver -> gold) catch up on their own
threads every --silver-every / --gold-every seconds and never hold ingest up;
a failed catch-up is logged, recorded in ops.stream_progress and retried with
backoff. With --trigger available-now the job drains Kafka, runs both hops to
completion once and exits. SIGTERM or Ctrl-C: the micro-batch and the
catch-ups in flight finish, then the job stops (exit 0); a second signal ends
it at once. A broker that is down at start is waited for with backoff; one
lost mid-stream too, then ingest restarts from its checkpoint (counted as
ingest_restarts in ops.runs).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from types import FrameType

from customer_mdm.cli import (EXIT_BREACH, EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, job_config, job_parser, job_sla,
                              parse)
from customer_mdm.config.kafka import resolve_secret
from customer_mdm.config.resolve import load_resolve_settings
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.hops.catch_up import CatchUp, HopLoop, HopSchedule, hop_loops
from customer_mdm.hops.ingest_stream import IngestQuery, Trigger, kafka_sources, run_queries, start_ingest
from customer_mdm.hops.match import load_model
from customer_mdm.hops.resolve import read_overrides
from customer_mdm.ops.health import CHECK_KINDS, CheckKind, end_of_run_checks, exit_code
from customer_mdm.ops.runs import Run, new_run_id
from customer_mdm.sources.kafka import wait_for_broker
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

log = logging.getLogger("stream_job")
#: The checks a run judges, by the hops it ran: what it did not run (silver with --hops none, gold with
#: --hops silver) is another job's business.
CHECKS_BY_HOPS: dict[str, tuple[CheckKind, ...]] = {
    "none": ("freshness_hours", "latency_seconds"),
    "silver": tuple(k for k in CHECK_KINDS if k != "end_to_end_latency_seconds"),
    "all": CHECK_KINDS,
}


def parse_seconds(text: str, *, alternative: str = "") -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0{alternative}, got {text!r}")
    return seconds


def parse_trigger(text: str) -> Trigger:
    return "available-now" if text == "available-now" else parse_seconds(text, alternative=" or 'available-now'")


EXAMPLES = (
    ("python jobs/stream_job.py", "embedded defaults: conf/, lake/, a batch every second"),
    ("python jobs/stream_job.py --trigger available-now", "drain Kafka, bring silver and gold up to date, exit"),
    ("python jobs/stream_job.py --gold-every 30", "entity resolution every 30 s behind ingest"),
    ("python jobs/stream_job.py --hops none", "Kafka -> bronze only (hops run elsewhere)"),
    ("python jobs/stream_job.py --trigger 0 --source crm_events --lake /data/lake", "back-to-back batches"),
    ("spark-submit jobs/stream_job.py --conf /etc/mdm/conf --checkpoint /data/checkpoints", "on a cluster"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = job_parser(__doc__ or "", examples=EXAMPLES, operations=True,
                        exit_codes={EXIT_OK: "stopped (signal) or drained (available-now)",
                                    EXIT_BREACH: "stopped or drained, but an SLA check of operations.yaml is in "
                                                 "BREACH (see the sla lines and ops.runs)",
                                    EXIT_USAGE: "bad flags or configuration (nothing written)",
                                    EXIT_FAILED: "an ingest query failed, or a hop failed under available-now "
                                                 "(see the error line and ops.runs)"})
    parser.add_argument("--checkpoint", help="checkpoint root (default: <lake>/_checkpoints)")
    parser.add_argument("--trigger", type=parse_trigger, default=1.0,
                        help="seconds between micro-batch starts (0: back to back), or available-now")
    parser.add_argument("--source", action="append", default=[],
                        help="Kafka source to run (repeatable; default: every Kafka source)")
    parser.add_argument("--run-id", help="run id to record (default: generated)")
    parser.add_argument("--hops", choices=("none", "silver", "all"), default="all",
                        help="hops run behind ingest: none, silver (hop 1), all (hop 1 and hop 2)")
    parser.add_argument("--silver-every", type=parse_seconds, default=HopSchedule.silver_every, metavar="SECONDS",
                        help="seconds between silver catch-ups")
    parser.add_argument("--gold-every", type=parse_seconds, default=HopSchedule.gold_every, metavar="SECONDS",
                        help="seconds between gold catch-ups")
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
    schedule = HopSchedule(hops=args.hops, silver_every=args.silver_every, gold_every=args.gold_every)
    try:
        config = job_config(args)
        sources = kafka_sources(config, args.source)
        for name, value in config.kafka.options.items():
            resolve_secret(name, value)
        resolve = load_resolve_settings(config) if schedule.hops == "all" else None
        sla = job_sla(args, config)
    except (ConfigError, MdmError, KeyError, LookupError) as exc:
        return fail(exc, EXIT_USAGE)
    stop = threading.Event()
    install_stop_handlers(stop)
    if config.kafka.client != "spark" and not wait_for_broker(config.kafka, stop=stop):
        return EXIT_OK
    checkpoint = Path(args.checkpoint) if args.checkpoint else config.lake_root / "_checkpoints"
    # ingest and the hops submit Spark jobs at the same time: fair pools keep a long gold job from queueing ingest
    spark = build_session(replace(config.spark, conf={"spark.scheduler.mode": "FAIR", **config.spark.conf}))
    try:
        if resolve is not None:
            load_model(spark, resolve.matching)  # blocking rules and the trained model checked before any write
    except MdmError as exc:
        spark.stop()
        return fail(exc, EXIT_USAGE)
    try:
        store = open_store(spark, config)
        if resolve is not None:
            try:
                read_overrides(store, resolve.overrides)  # a bad row in gold.manual_overrides: exit 2, nothing written
            except ConfigError as exc:
                return fail(exc, EXIT_USAGE)
        run = Run(store, args.run_id or new_run_id("stream"), "stream_job", "stream",
                  {"conf": args.conf, "lake": str(config.lake_root), "checkpoint": str(checkpoint),
                   "trigger": args.trigger, "source": args.source, "client": config.kafka.client,
                   "hops": schedule.hops, "silver_every": schedule.silver_every,
                   "gold_every": schedule.gold_every}).start()
        queries: list[IngestQuery] = []
        catch_up: CatchUp | None = None
        try:
            queries = [start_ingest(spark, store, config, s, checkpoint_root=checkpoint, trigger=args.trigger,
                                    run_id=run.run_id) for s in sources]
            catch_up = CatchUp(spark, store, config, sources, resolve=resolve, run_id=run.run_id)
            loops = hop_loops(catch_up, schedule)
            if args.trigger == "available-now":
                run_queries(queries, stop=stop)
                _catch_up_once(loops, stop=stop)
            else:
                run_queries([*queries, *(loop.start() for loop in loops)], stop=stop)
        except Exception as exc:
            _count(run, queries, catch_up)
            run.finish("FAILED", error=f"{type(exc).__name__}: {exc}")
            return fail(exc, EXIT_FAILED)
        _count(run, queries, catch_up)
        checks = end_of_run_checks(store, config, sla, run, sources=[s.name for s in sources],
                                   kinds=CHECKS_BY_HOPS[schedule.hops])
        run.finish("BREACH" if exit_code(checks) else "SUCCEEDED")
    finally:
        spark.stop()
    for q in queries:
        print(f"  {q.source.bronze_table:<22} {q.writer.rows_written} rows in {q.writer.batches_written} "
              f"micro-batches ({q.writer.batches_skipped} already committed)")
    totals = catch_up.totals if catch_up is not None else {}
    if schedule.hops != "none":
        print(f"  {'silver.party':<22} {totals.get('silver_read', 0)} bronze rows read, "
              f"{totals.get('silver_upserted', 0)} upserted, {totals.get('silver_quarantined', 0)} quarantined, "
              f"{totals.get('silver_dead_lettered', 0)} dead-lettered")
    if schedule.hops == "all":
        print(f"  {'gold.golden_record':<22} {totals.get('gold_changed_records', 0)} changed records resolved, "
              f"{totals.get('gold_entities_created', 0)} new entities, {totals.get('gold_records_written', 0)} "
              f"golden records written")
    print(f"run {run.run_id}: stopped (lake: {config.lake_root}, checkpoint: {checkpoint})")
    for check in checks:
        print(f"  sla {check.line()}")
    return EXIT_BREACH if exit_code(checks) else EXIT_OK


def _catch_up_once(loops: list[HopLoop], *, stop: threading.Event) -> None:
    """Available-now: each hop once, in order, after ingest drained; a failure fails the run (no retry tick)."""
    try:
        for loop in loops:
            if stop.is_set():
                break
            if not loop.run_once():
                raise MdmError(f"{loop.name} failed; see the error above and ops.stream_progress")
    finally:
        for loop in loops:
            loop.record_progress()


def _count(run: Run, queries: list[IngestQuery], catch_up: CatchUp | None) -> None:
    rows = sum(q.writer.rows_written for q in queries)
    run.add(rows_read=rows, rows_written=rows, batches=sum(q.writer.batches_written for q in queries),
            batches_skipped=sum(q.writer.batches_skipped for q in queries),
            ingest_restarts=sum(q.restarts for q in queries), **(catch_up.totals if catch_up else {}))


if __name__ == "__main__":
    sys.exit(main())
