"""Batch job: landing files -> bronze -> silver -> gold (entities and golden records), then stop."""
from __future__ import annotations

import argparse
import sys

from customer_mdm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, job_config, job_parser, parse
from customer_mdm.config.resolve import load_resolve_settings
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.hops.batch import file_sources, run_batch
from customer_mdm.hops.match import load_model
from customer_mdm.ops.runs import Run, new_run_id
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

EXAMPLES = (
    ("python jobs/batch_job.py", "embedded defaults: conf/, lake/ under the repo"),
    ("python jobs/batch_job.py --source crm --lake /data/lake", "one source into another lake"),
    ("spark-submit jobs/batch_job.py --conf /etc/mdm/conf", "on a cluster"),
    ("python jobs/batch_job.py --resolve full", "after retraining: re-score every record, keep the ids that stand"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = job_parser(__doc__ or "", examples=EXAMPLES)
    parser.add_argument("--source", action="append", default=[], help="file source to run (repeatable; "
                        "default: every file source)")
    parser.add_argument("--run-id", help="run id to record (default: generated)")
    parser.add_argument("--resolve", choices=("incremental", "full"), default="incremental",
                        help="gold: resolve the records changed since the last run, or re-score every record with "
                             "the current model and reconcile with the stored ids")
    return parse(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = job_config(args)
        sources = file_sources(config, args.source)
        resolve = load_resolve_settings(config)
    except (ConfigError, MdmError, KeyError) as exc:
        return fail(exc, EXIT_USAGE)
    spark = build_session(config.spark)
    try:
        load_model(spark, resolve.matching)  # blocking rules and the trained model checked before any write
    except MdmError as exc:
        spark.stop()
        return fail(exc, EXIT_USAGE)
    try:
        store = open_store(spark, config)
        run = Run(store, args.run_id or new_run_id("batch"), "batch_job", "batch",
                  {"conf": args.conf, "lake": str(config.lake_root), "source": args.source, "resolve": args.resolve})
        summary = run_batch(spark, store, config, run, sources=sources, resolve=resolve, resolve_scope=args.resolve)
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
        c = refined.counts
        if refined.skipped:
            print(f"  silver <- {refined.source:<10} nothing new in bronze (at version {refined.to_version})")
            continue
        print(f"  silver <- {refined.source:<10} bronze versions ({refined.from_version}, {refined.to_version}]: "
              f"{c.read} rows = {c.upserted} upserted + {c.unchanged} unchanged + {c.superseded} superseded + "
              f"{c.quarantined} quarantined + {c.dead_lettered} dead-lettered + {c.suppressed} suppressed (erased)")
    gold = summary.resolve
    if gold.skipped:
        print(f"  gold   <- silver      nothing new in silver (at version {gold.to_version})")
    else:
        print(f"  gold   <- silver      versions ({gold.from_version}, {gold.to_version}]: {gold.changed_records} changed "
              f"records, {gold.pairs_scored} pairs scored, {gold.entities_created} new entities, {gold.merges} "
              f"merges, {gold.splits} splits, {gold.review_items} review items, {gold.golden_written} golden records "
              f"written")
    print(f"  tables: silver.party, silver.party_history, silver.quarantine; gold.golden_record, gold.entity_xref, "
          f"gold.match_pairs, gold.review_queue; ops.runs, ops.file_manifest, ops.dq_metrics; validation reports "
          f"under {config.lake_root / '_reports' / summary.run_id}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
