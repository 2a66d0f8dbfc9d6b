"""Erasure (right to be forgotten): remove a person from every layer of the lake and keep them out.

--entity removes every source record ever linked to the entity (or to an id merged with it);
--source-record removes one record. Rows go from bronze (rewritten), silver, quarantine, dead letters
and gold; golden records of the entities they were part of are rebuilt from the records that remain.
A suppression entry (SHA-256 of SYSTEM:ID, never the data) makes hop 1 drop the record if a replay or
a re-sent file or event brings it back. Removed files are vacuumed with each table's retention from
operations.yaml; the summary says when files still kept become vacuumable (run jobs/maintain.py then).
Run it while no batch or stream job writes to the lake.
"""
from __future__ import annotations

import argparse
import sys

from customer_mdm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, job_operations, job_parser, parse
from customer_mdm.config.resolve import load_resolve_settings
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.hops.resolve import read_overrides
from customer_mdm.ops.erasure import erase, parse_record, plan_erasure
from customer_mdm.ops.runs import Run, new_run_id
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

EXAMPLES = (
    ("python jobs/erase.py --entity 4f1c9a2e-... --reason 'GDPR art. 17, ticket 1234'", "one person, every source"),
    ("python jobs/erase.py --source-record crm:C-1001", "one source record only"),
    ("python jobs/erase.py --entity 4f1c9a2e-... --dry-run", "show what would be removed; change nothing"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = job_parser(__doc__ or "", examples=EXAMPLES, operations=True,
                        exit_codes={EXIT_OK: "erased (or, with --dry-run, planned)",
                                    EXIT_USAGE: "bad configuration or flags, or an unknown entity or record: "
                                                "nothing was written"})
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--entity", help="entity id (gold.entity_xref / gold.golden_record)")
    target.add_argument("--source-record", help="one source record as SYSTEM:ID, e.g. crm:C-1001")
    parser.add_argument("--reason", default="erasure request", help="why (stored with the suppression entry; "
                        "no personal data)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan (records, entities, tables); "
                        "write nothing")
    return parse(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config, operations = job_operations(args)
        record = parse_record(args.source_record) if args.source_record else None
        resolve = load_resolve_settings(config)
    except (ConfigError, MdmError) as exc:
        return fail(exc, EXIT_USAGE)
    spark = build_session(config.spark)
    try:
        store = open_store(spark, config)
        try:
            plan = plan_erasure(store, config, entity_id=args.entity, record=record)
            read_overrides(store, resolve.overrides)  # a bad row in gold.manual_overrides: exit 2, nothing written
        except MdmError as exc:
            return fail(exc, EXIT_USAGE)
        # the run log names how the person was chosen, never who: ids of erased records must not outlive them
        run = Run(store, new_run_id("erase"), "erase", "erase",
                  {"by": "entity" if args.entity else "source_record", "reason": args.reason})
        if not args.dry_run:
            run.start()
        try:
            report = erase(spark, store, config, plan, resolve=resolve, maintenance=operations.maintenance,
                           run_id=run.run_id, reason=args.reason, dry_run=args.dry_run)
        except MdmError as exc:
            if not args.dry_run:
                run.finish("FAILED", error=f"{type(exc).__name__}: {exc}")
            return fail(exc, EXIT_FAILED)
        if not args.dry_run:
            run.add(records=len(plan.records), entities=len(plan.entities), rows_deleted=sum(report.deleted.values()),
                    files_vacuumed=sum(report.vacuumed.values()))
            run.finish("SUCCEEDED")
    finally:
        spark.stop()
    print(f"erasure {report.run_id}{' (dry run: nothing changed)' if report.dry_run else ''}: "
          f"{len(plan.records)} source record(s), {len(plan.entities)} entit(ies)  (lake: {config.lake_root})")
    for entity, count in sorted(plan.remaining.items()):
        print(f"  entity {entity} keeps {count} other record(s): golden record rebuilt from them")
    for table in plan.predicates:
        if report.dry_run:
            print(f"  {table:<30} rows of these records would be deleted")
        elif table in report.deleted:
            print(f"  {table:<30} deleted {report.deleted[table]:>5} rows, vacuumed {report.vacuumed.get(table, 0)} "
                  "files" + (f"; rewritten files vacuumable after {report.vacuumable_at[table]:%Y-%m-%d %H:%M} UTC"
                             if table in report.vacuumable_at else ""))
    for table in report.not_vacuumed:
        print(f"  {table}: hop 1 has not caught up with it; vacuum it after the next run (jobs/maintain.py)")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
