"""Export: a gold or silver table to CSV, JSON lines or Parquet files, its PII columns protected as configured.

operations.yaml (export:) says per table how each PII column leaves: hash
(hex HMAC-SHA-256 keyed by the salt, so equal values still join across
exports), mask (e***@gmail.com, **********04), drop, or keep. A table with PII
columns and no policy is refused unless --no-pii-protection is given, and so
is a policy that leaves one of its PII columns unnamed. The salt is read from
the environment variable or file its reference names, and never printed.
Reads only (nothing is recorded in ops.runs); prints the folder it wrote.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path

from customer_mdm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, job_operations, job_parser, parse
from customer_mdm.config.export import EXPECTED_TABLE, EXPORT_FORMATS, PiiMethod, PiiPolicy, is_export_table, \
    resolve_salt
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.ops.export import checked_policy, pii_columns, protect, write_export
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

log = logging.getLogger("export")

EXAMPLES = (
    ("MDM_EXPORT_SALT=... python jobs/export.py", "golden records as CSV under lake/_exports/, PII as configured"),
    ("python jobs/export.py --table silver.party --format parquet --out /data/outbox/party",
     "silver records as Parquet into a folder of your choice"),
    ("python jobs/export.py --table gold.entity_xref --format json", "a table without PII columns needs no salt"),
    ("python jobs/export.py --no-pii-protection --out /secure/golden",
     "every column as stored (for a system cleared to hold PII)"),
)
_DONE: dict[PiiMethod, str] = {"hash": "hashed", "mask": "masked", "drop": "dropped", "keep": "kept"}


def _table(name: str) -> str:
    if not is_export_table(name):
        raise argparse.ArgumentTypeError(f"expected {EXPECTED_TABLE} (got {name!r})")
    return name


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = job_parser(__doc__ or "", examples=EXAMPLES, operations=True,
                        exit_codes={EXIT_OK: "the files were written",
                                    EXIT_FAILED: "the export failed (the folder may hold part of it)"})
    parser.add_argument("--table", type=_table, help="table to export (default: export.table, else gold.golden_record)")
    parser.add_argument("--format", choices=EXPORT_FORMATS, help="file format (default: export.format, else csv)")
    parser.add_argument("--out", type=Path,
                        help="new folder for the files (default: <lake>/_exports/<table>-<UTC time>)")
    parser.add_argument("--no-pii-protection", action="store_true",
                        help="export every column as stored, ignoring export.pii")
    return parse(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config, operations = job_operations(args)
        settings = operations.export
        table = args.table or settings.table
        policy = None if args.no_pii_protection else settings.policies.get(table)
        salt = resolve_salt(settings) if policy is not None and policy.with_method("hash") else None
    except ConfigError as exc:
        return fail(exc, EXIT_USAGE)
    fmt = args.format or settings.format
    exports = config.lake_root / "_exports"
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = (args.out or exports / f"{table}-{stamp}").resolve()
    if out.exists():
        return fail(FileExistsError(f"{out} exists: an export never overwrites; choose another --out"), EXIT_USAGE)
    if config.lake_root in out.parents and exports not in out.parents:
        return fail(ValueError(f"{out} is inside the lake {config.lake_root}: write exports outside it or under "
                               f"{exports}"), EXIT_USAGE)
    spark = build_session(config.spark)
    started = time.monotonic()
    try:
        store = open_store(spark, config)
        if not store.exists(table):
            return fail(LookupError(f"table {table} does not exist in the lake {config.lake_root}"), EXIT_USAGE)
        df = store.read(table)
        if args.no_pii_protection:
            log.warning("exporting %s without PII protection: %s as stored", table, pii_columns(df.columns) or "no PII")
        else:
            policy = checked_policy(settings, table, df.schema)
            df = protect(df, policy, salt=salt)
        rows = write_export(df, out, fmt=fmt, files=settings.files)
    except ConfigError as exc:
        return fail(exc, EXIT_USAGE)
    except MdmError as exc:
        return fail(exc, EXIT_FAILED)
    finally:
        spark.stop()
    log.info("exported %s: %d rows, %s -> %s (%s) in %.1fs", table, rows, _described(policy), out, fmt,
             time.monotonic() - started)
    print(out)
    return EXIT_OK


def _described(policy: PiiPolicy | None) -> str:
    """What happened to the configured columns, e.g. '4 hashed, 2 dropped column(s)'."""
    if policy is None:
        return "no PII protection"
    counts = [f"{len(policy.with_method(m))} {done}" for m, done in _DONE.items() if policy.with_method(m)]
    return f"{', '.join(counts)} column(s)" if counts else "no PII column"


if __name__ == "__main__":
    sys.exit(main())
