"""Batch job: landing files -> bronze -> silver -> gold (entities and golden records), then stop."""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from typing import NamedTuple

from pyspark.sql import SparkSession

from customer_mdm.cli import (EXIT_BREACH, EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, job_config, job_parser, job_sla,
                              parse)
from customer_mdm.config import PipelineConfig
from customer_mdm.config.operations import SlaConfig
from customer_mdm.config.resolve import ResolveSettings, load_resolve_settings
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.hops.batch import file_sources, run_batch
from customer_mdm.hops.refine import RefineReport
from customer_mdm.hops.resolve import ResolveReport
from customer_mdm.hops.replay import (ReplaySelection, ReplaySummary, ReplayUsageError, as_utc, replay_sources,
                                      run_rebuild, run_replay)
from customer_mdm.hops.match import load_model
from customer_mdm.ops.runs import Run, new_run_id
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

EXAMPLES = (
    ("python jobs/batch_job.py", "embedded defaults: conf/, lake/ under the repo"),
    ("python jobs/batch_job.py --source crm --lake /data/lake", "one source into another lake"),
    ("spark-submit jobs/batch_job.py --conf /etc/mdm/conf", "on a cluster"),
    ("python jobs/batch_job.py --resolve full", "after retraining: re-score every record, keep the ids that stand"),
    ("python jobs/batch_job.py --replay --errors-only", "after a quality-rule or parser fix: move the rows that now "
     "pass from quarantine / dead letters into silver, once"),
    ("python jobs/batch_job.py --replay --source crm --from-version 3 --to-version 5", "re-apply bronze.crm "
     "versions 3..5"),
    ("python jobs/batch_job.py --rebuild-silver", "after a standardization code change: rebuild silver from bronze"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = job_parser(__doc__ or "", examples=EXAMPLES, operations=True,
                        exit_codes={EXIT_BREACH: "the run committed, but an SLA check of operations.yaml is in "
                                                 "BREACH (see the sla lines and ops.runs)"})
    parser.add_argument("--source", action="append", default=[], help="file source to run (repeatable; "
                        "default: every file source); with --replay any source, Kafka sources too (default: all)")
    parser.add_argument("--run-id", help="run id to record (default: generated); with --replay it selects the "
                        "bronze rows that ingest run wrote, and the replay's own run id is generated")
    parser.add_argument("--resolve", choices=("incremental", "full"), default="incremental",
                        help="gold: resolve the records changed since the last run, or re-score every record with "
                             "the current model and reconcile with the stored ids")
    replay = parser.add_argument_group(
        "replay from bronze", "Re-apply bronze rows that silver does not hold (no file ingest; the normal hop\n"
        "catches up first, gold after): after a quality-rule or parser fix, or to prove\n"
        "nothing is missing. Replaying the same rows twice changes nothing.")
    modes = replay.add_mutually_exclusive_group()
    modes.add_argument("--replay", action="store_true", help="replay the bronze rows selected by --source, --run-id, "
                       "--from-version/--to-version, --since/--until and --errors-only (all given must hold)")
    modes.add_argument("--rebuild-silver", action="store_true", help="empty silver.party and silver.party_history "
                       "(one overwrite commit each; old versions stay readable by time travel) and rebuild them "
                       "from all of bronze, e.g. after a standardization code change; gold ids are kept")
    replay.add_argument("--from-version", type=int, metavar="N", help="first bronze version to replay (inclusive)")
    replay.add_argument("--to-version", type=int, metavar="M", help="last bronze version to replay (inclusive; "
                        "at most the version silver has caught up to)")
    replay.add_argument("--since", type=_timestamp, metavar="T", help="replay rows ingested at or after T "
                        "(ISO-8601; no zone means UTC)")
    replay.add_argument("--until", type=_timestamp, metavar="T", help="replay rows ingested before T")
    replay.add_argument("--errors-only", action="store_true", help="replay only the rows still in silver.quarantine "
                        "or ops.dead_letter (rows flagged malformed at ingest cannot be repaired by replay)")
    args = parse(parser, argv)
    _check_replay_flags(parser, args)
    return args


def _timestamp(text: str) -> dt.datetime:
    try:
        return as_utc(text)
    except ReplayUsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _check_replay_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Flag misuse stops here (exit 2, before Spark starts); a valid replay's selection goes to args.selection."""
    given = [flag for flag, value in (("--from-version", args.from_version), ("--to-version", args.to_version),
                                      ("--since", args.since), ("--until", args.until),
                                      ("--errors-only", args.errors_only or None)) if value is not None]
    args.selection = None
    if args.rebuild_silver:
        extra = given + [f for f, v in (("--source", args.source), ("--run-id", args.run_id)) if v]
        if extra:
            parser.error(f"--rebuild-silver rebuilds silver from all of bronze of every source: it takes no "
                         f"--source, --run-id, --from-version, --to-version, --since, --until or --errors-only "
                         f"(got {' '.join(extra)})")
        return
    if not args.replay:
        if given:
            parser.error(f"{', '.join(given)}: these flags select bronze rows to replay and need --replay")
        return
    try:
        args.selection = ReplaySelection(sources=tuple(args.source), ingest_run_id=args.run_id,
                                         from_version=args.from_version, to_version=args.to_version,
                                         since=args.since, until=args.until, errors_only=args.errors_only)
    except ReplayUsageError as exc:
        parser.error(str(exc))


class Prepared(NamedTuple):  # a NamedTuple, not a dataclass: tests load this file without registering it
    config: PipelineConfig
    resolve: ResolveSettings
    sla: SlaConfig | None
    spark: SparkSession


def prepare(args: argparse.Namespace, check: Callable[[PipelineConfig], object]) -> Prepared | int:
    """Every setting loaded and checked (``check``: the sources the run names), then Spark and the matching model:
    a mistake is exit 2 before any write."""
    try:
        config = job_config(args)
        check(config)
        resolve = load_resolve_settings(config)
        sla = job_sla(args, config)
    except (ConfigError, MdmError, KeyError) as exc:
        return fail(exc, EXIT_USAGE)
    spark = build_session(config.spark)
    try:
        load_model(spark, resolve.matching)  # blocking rules and the trained model checked before any write
    except MdmError as exc:
        spark.stop()
        return fail(exc, EXIT_USAGE)
    return Prepared(config, resolve, sla, spark)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.replay or args.rebuild_silver:
        return replay_main(args)
    prepared = prepare(args, lambda config: file_sources(config, args.source))
    if isinstance(prepared, int):
        return prepared
    config, spark = prepared.config, prepared.spark
    try:
        store = open_store(spark, config)
        run = Run(store, args.run_id or new_run_id("batch"), "batch_job", "batch",
                  {"conf": args.conf, "lake": str(config.lake_root), "source": args.source, "resolve": args.resolve})
        summary = run_batch(spark, store, config, run, sources=file_sources(config, args.source),
                            resolve=prepared.resolve, resolve_scope=args.resolve, sla=prepared.sla)
    except ConfigError as exc:  # a bad row in gold.manual_overrides, found before any write
        return fail(exc, EXIT_USAGE)
    except MdmError as exc:
        return fail(exc, EXIT_FAILED)
    finally:
        spark.stop()
    print(f"run {summary.run_id}: {summary.status}  (lake: {config.lake_root})")
    for report in summary.ingests:
        print(f"  bronze.{report.source:<10} files ingested {report.count('ingested')}, skipped "
              f"{report.count('skipped')}, rejected {report.count('rejected')}; rows {report.rows} "
              f"(malformed kept {report.malformed_rows}); table version {report.bronze_version}")
    for refined in summary.refines:
        print(_refine_line("silver", refined, skipped=f"nothing new in bronze (at version {refined.to_version})"))
    print(_gold_line(summary.resolve))
    print(f"  tables: silver.party, silver.party_history, silver.quarantine; gold.golden_record, gold.entity_xref, "
          f"gold.match_pairs, gold.review_queue; ops.runs, ops.file_manifest, ops.dq_metrics; validation reports "
          f"under {config.lake_root / '_reports' / summary.run_id}")
    for check in summary.sla:
        print(f"  sla {check.line()}")
    return EXIT_BREACH if summary.status == "BREACH" else EXIT_OK


def replay_main(args: argparse.Namespace) -> int:
    """--replay / --rebuild-silver: hop 1 re-applies bronze (hops/replay.py), then gold catches up."""
    selection = args.selection
    prepared = prepare(args, lambda config: replay_sources(config, selection.sources) if selection else None)
    if isinstance(prepared, int):
        return prepared
    config, spark = prepared.config, prepared.spark
    kind = "rebuild" if args.rebuild_silver else "replay"
    try:
        store = open_store(spark, config)
        run = Run(store, new_run_id(kind), "batch_job", kind,
                  {"conf": args.conf, "lake": str(config.lake_root), "resolve": args.resolve,
                   "selection": "all of bronze" if selection is None else selection.describe()})
        if selection is None:
            summary = run_rebuild(spark, store, config, run, resolve=prepared.resolve, resolve_scope=args.resolve)
        else:
            summary = run_replay(spark, store, config, run, selection=selection, resolve=prepared.resolve,
                                 resolve_scope=args.resolve)
    except ConfigError as exc:  # a bad row in gold.manual_overrides, found before any write
        return fail(exc, EXIT_USAGE)
    except MdmError as exc:
        return fail(exc, EXIT_FAILED)
    finally:
        spark.stop()
    print_replay(summary, str(config.lake_root))
    return EXIT_OK


def _refine_line(label: str, refined: RefineReport, *, skipped: str | None = None) -> str:
    c = refined.counts
    if refined.skipped:
        return f"  {label} <- {refined.source:<10} " + (skipped or f"nothing to apply (bronze versions "
                                                                   f"({refined.from_version}, {refined.to_version}])")
    return (f"  {label} <- {refined.source:<10} bronze versions ({refined.from_version}, {refined.to_version}]: "
            f"{c.read} rows = {c.upserted} upserted + {c.unchanged} unchanged + {c.superseded} superseded + "
            f"{c.quarantined} quarantined + {c.dead_lettered} dead-lettered + {c.suppressed} suppressed (erased), "
            f"{refined.seconds:.1f}s")


def _gold_line(gold: ResolveReport) -> str:
    if gold.skipped:
        return f"  gold   <- silver      nothing new in silver (at version {gold.to_version})"
    return (f"  gold   <- silver      versions ({gold.from_version}, {gold.to_version}]: {gold.changed_records} "
            f"changed records, {gold.pairs_scored} pairs scored, {gold.entities_created} new entities, "
            f"{gold.merges} merges, {gold.splits} splits, {gold.review_items} review items, {gold.golden_written} "
            f"golden records written")


def print_replay(summary: ReplaySummary, lake: str) -> None:
    print(f"run {summary.run_id}: {summary.status}  ({summary.kind}: {summary.selection}; lake: {lake})")
    if summary.rebuild_generation is not None:
        before = ", ".join(f"{t} version {v}" for t, v in summary.silver_versions_before)
        print(f"  rebuild {summary.rebuild_generation}: the previous silver stays readable by time travel at {before}")
    for result in summary.sources:
        if not result.catch_up.skipped:
            print(_refine_line("silver", result.catch_up))
        print(_refine_line(summary.kind, result.replay))
    print(_gold_line(summary.resolve))


if __name__ == "__main__":
    sys.exit(main())
