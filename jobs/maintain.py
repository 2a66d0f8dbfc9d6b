"""Maintenance: compact or z-order each table of the lake, then vacuum files past the retention.

Settings per table come from operations.yaml (maintenance:). Safe to run while
the stream job runs: rewrites are data-change-free commits and vacuum keeps
at least maintenance.min_retention_hours of history for readers, replay and
time travel. A retention below that minimum is refused before anything runs.
"""
from __future__ import annotations

import argparse
import sys

from customer_mdm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, job_operations, job_parser, parse
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.ops.maintenance import maintain
from customer_mdm.ops.runs import Run, new_run_id
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

EXAMPLES = (
    ("python jobs/maintain.py", "every table of the default lake, as conf/operations.yaml says"),
    ("python jobs/maintain.py --dry-run", "change nothing; list the files vacuum would delete"),
    ("python jobs/maintain.py --table silver.party --lake /data/lake", "one table of another lake"),
    ("0 3 * * * cd /opt/mdm && .venv/bin/python jobs/maintain.py --quiet", "nightly from cron"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = job_parser(__doc__ or "", examples=EXAMPLES, operations=True,
                        exit_codes={EXIT_OK: "every table maintained", EXIT_FAILED: "a table could not be "
                                    "maintained (e.g. lost a commit race to a merge: run again)"})
    parser.add_argument("--table", action="append", default=[],
                        help="table to maintain, e.g. silver.party (repeatable; default: every table of the lake)")
    parser.add_argument("--dry-run", action="store_true",
                        help="rewrite and delete nothing; list the files vacuum would delete")
    return parse(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config, operations = job_operations(args)
    except ConfigError as exc:
        return fail(exc, EXIT_USAGE)
    spark = build_session(config.spark)
    try:
        store = open_store(spark, config)
        # recorded once maintenance ran: a mistake in operations.yaml stops before any write, and a dry run
        # writes nothing, not even a run log row
        run = Run(store, new_run_id("maintain"), "maintain", "maintenance", {"table": args.table})
        try:
            results = maintain(store, operations.maintenance, file=str(operations.file), tables=args.table,
                               dry_run=args.dry_run)
        except ConfigError as exc:
            return fail(exc, EXIT_USAGE)
        except MdmError as exc:
            if not args.dry_run:
                run.start().finish("FAILED", error=f"{type(exc).__name__}: {exc}")
            return fail(exc, EXIT_FAILED)
        if not args.dry_run:
            run.start()
            run.add(tables=len(results), files_before=sum(r.files_before for r in results),
                    files_after=sum(r.files_after for r in results),
                    files_vacuumed=sum(len(r.vacuumed) for r in results))
            run.finish("SUCCEEDED")
    finally:
        spark.stop()
    for r in results:
        print(f"{r.table:<26} {r.rewrite:<8} files {r.files_before:>5} -> {r.files_after:<5} vacuum "
              f"{'would delete' if args.dry_run else 'deleted'} {len(r.vacuumed)} {r.seconds:6.1f}s")
        if args.dry_run:
            for path in r.vacuumed:
                print(f"    {path}")
    print(f"{len(results)} tables{' (dry run: nothing changed)' if args.dry_run else ''} (lake: {config.lake_root})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
