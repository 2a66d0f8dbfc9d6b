"""Override: enter one manual decision into gold.manual_overrides: force-link, force-split, pin, or revoke one.

Appends one row (what, who, when, why) to the append-only table hop 2 reads,
with conf/overrides.yaml, before every increment. The decision wins over
every automatic one from the next gold increment on (pins too, whether or
not the increment touches their entity) and survives re-runs;
`python jobs/batch_job.py --resolve full` applies every decision at once.
The row is checked together with the table and the YAML, as hop 2 checks
them; a bad one is refused (exit 2) and nothing is written. --revoke ends an
entry of the table; entries of conf/overrides.yaml are changed there.
"""
from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys
from typing import Any

from customer_mdm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, job_config, job_parser, parse
from customer_mdm.config.overrides import Overrides, load_overrides
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.gold.survivorship import GOLDEN_ATTRIBUTES
from customer_mdm.gold.tables import GOLD_PROPERTIES, MANUAL_OVERRIDES, MANUAL_OVERRIDES_SCHEMA
from customer_mdm.hops.resolve import read_overrides
from customer_mdm.ops.report import open_lake
from customer_mdm.storage import TableStore

EXAMPLES = (
    ("python jobs/override.py --force-link crm:C000123 billing:A000077 --reason 'confirmed by phone'",
     "two records are one person, whatever the model says"),
    ("python jobs/override.py --force-split crm:C000123 ecommerce:U000901 --reason 'father and son'",
     "two records are never one entity"),
    ("python jobs/override.py --pin 1b4e28ba-... email jo@example.com --reason 'ticket 42' --by jo",
     "the golden record's email is this value"),
    ("python jobs/override.py --revoke --pin 1b4e28ba-... email", "end that pin: survivorship decides again"),
    ("python jobs/override.py --revoke --force-link crm:C000123 billing:A000077", "the model decides the pair again"),
)


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (e.g. a container with an anonymous uid)
        return "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = job_parser(__doc__ or "", examples=EXAMPLES,
                        exit_codes={EXIT_OK: "the row was appended",
                                    EXIT_USAGE: "bad configuration or flags, a bad entry, or nothing to revoke: "
                                                "nothing was written"})
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--force-link", nargs=2, metavar=("LEFT", "RIGHT"),
                      help="two records, each SYSTEM:ID (e.g. crm:C-1001), that are one entity")
    what.add_argument("--force-split", nargs=2, metavar=("LEFT", "RIGHT"),
                      help="two records, each SYSTEM:ID, that are never in one entity")
    what.add_argument("--pin", nargs="+", metavar="FIELD",
                      help="ENTITY_ID ATTRIBUTE VALUE: the golden record's ATTRIBUTE (a golden column, e.g. email) "
                           "is VALUE; with --revoke: ENTITY_ID ATTRIBUTE")
    parser.add_argument("--revoke", action="store_true", help="end the table's entry for this pair (or entity and "
                        "attribute) instead of adding one")
    parser.add_argument("--reason", help="why (stored with the row)")
    parser.add_argument("--by", default=_user(), help="who decided (stored with the row)")
    args = parse(parser, argv)
    if args.pin is not None and len(args.pin) != (2 if args.revoke else 3):
        parser.error("--pin takes ENTITY_ID ATTRIBUTE VALUE, and with --revoke ENTITY_ID ATTRIBUTE "
                     f"(got {len(args.pin)} value(s))")
    return args


def entry(args: argparse.Namespace, *, now: dt.datetime) -> dict[str, Any]:
    """The row the flags ask for (gold.manual_overrides' columns)."""
    kind = "force_link" if args.force_link else "force_split" if args.force_split else "pin"
    left, right = args.force_link or args.force_split or (None, None)
    entity, attribute, value = (*args.pin, None)[:3] if args.pin else (None, None, None)
    return {"kind": kind, "action": "revoke" if args.revoke else "add", "left_record": left, "right_record": right,
            "entity_id": entity, "attribute": attribute, "value": value, "reason": args.reason,
            "entered_by": args.by, "entered_at": now}


def revokes_nothing(store: TableStore, row: dict[str, Any]) -> bool:
    """True if the revoke ``row`` ends no entry of the table in effect (nor can it end one of the YAML)."""
    def in_effect(overrides: Overrides) -> tuple[object, ...]:
        return overrides.force_link, overrides.force_split, overrides.pins

    table_only = Overrides(file=None)
    return in_effect(read_overrides(store, table_only, adding=[row])) == in_effect(read_overrides(store, table_only))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = job_config(args)
        yaml = load_overrides(config.conf_dir / "overrides.yaml", attributes=GOLDEN_ATTRIBUTES,
                              project_root=config.project_root)
    except ConfigError as exc:
        return fail(exc, EXIT_USAGE)
    row = entry(args, now=dt.datetime.now(dt.timezone.utc))
    target = " ".join(row[c] for c in ("left_record", "right_record", "entity_id", "attribute") if row[c] is not None)
    lake = open_lake(config)
    try:
        try:
            read_overrides(lake.store, yaml, adding=[row])  # the row, the table and the YAML, as hop 2 checks them
        except ConfigError as exc:
            return fail(exc, EXIT_USAGE)
        if args.revoke and revokes_nothing(lake.store, row):
            return fail(MdmError(f"nothing to revoke: {MANUAL_OVERRIDES} has no {row['kind']} in effect for {target} "
                                 f"(entries of {yaml.file or 'conf/overrides.yaml'} are changed there)"), EXIT_USAGE)
        lake.store.ensure_table(MANUAL_OVERRIDES, MANUAL_OVERRIDES_SCHEMA, properties=GOLD_PROPERTIES)
        lake.store.append_rows(MANUAL_OVERRIDES, [row])
    except MdmError as exc:
        return fail(exc, EXIT_FAILED)
    finally:
        lake.close()
    value = "" if row["value"] is None else f" = {row['value']}"
    reason = f", reason: {args.reason}" if args.reason else ""
    print(f"appended to {MANUAL_OVERRIDES}: {row['action']} {row['kind']} {target}{value} (by {row['entered_by']} "
          f"at {row['entered_at']:%Y-%m-%d %H:%M:%S} UTC{reason}); in effect from the next gold increment")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
