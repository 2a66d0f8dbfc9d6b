"""Batch job: landing files -> bronze -> silver (gold follows as its hop lands), then stop.

Examples:
  python jobs/batch_job.py                           # embedded defaults: conf/, lake/ under the repo
  python jobs/batch_job.py --source crm --lake /data/lake
  spark-submit jobs/batch_job.py --conf /etc/mdm/conf

Exit codes: 0 success, 1 the run failed (see ops.runs), 2 bad configuration or flags (nothing written).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from customer_mdm.config import load_config
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.hops.batch import file_sources, run_batch
from customer_mdm.logs import configure_logging
from customer_mdm.ops.runs import Run, new_run_id
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conf", default=str(REPO / "conf"), help="configuration folder (default: %(default)s)")
    parser.add_argument("--lake", help="lake root folder (default: lake_root of pipeline.yaml)")
    parser.add_argument("--source", action="append", default=[], help="file source to run (repeatable; "
                        "default: every file source)")
    parser.add_argument("--run-id", help="run id to record (default: generated)")
    parser.add_argument("--quiet", action="store_true", help="warnings and the summary only")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(quiet=args.quiet, verbose=args.verbose)
    try:
        config = load_config(args.conf, lake=args.lake)
        sources = file_sources(config, args.source)
    except (ConfigError, MdmError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spark = build_session(config.spark)
    try:
        store = open_store(spark, config)
        run = Run(store, args.run_id or new_run_id("batch"), "batch_job", "batch",
                  {"conf": args.conf, "lake": str(config.lake_root), "source": args.source})
        summary = run_batch(spark, store, config, run, sources=sources)
    except MdmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
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
              f"{c.quarantined} quarantined + {c.dead_lettered} dead-lettered")
    print(f"  tables: silver.party, silver.party_history, silver.quarantine; ops.runs, ops.file_manifest, "
          f"ops.dq_metrics; validation reports under {config.lake_root / '_reports' / summary.run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
