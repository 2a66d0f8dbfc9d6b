"""Change events from CRM extract rows: what jobs/produce_events.py sends to Kafka, and tests stream.

The first row of a customer is a create (op "upsert"), later rows are updates
(op "upsert"), rows with status DELETED are deletes (op "delete"); values are
compact JSON of the Kafka source's columns, keyed by the record id.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from customer_mdm.config import SourceConfig
from customer_mdm.errors import MdmError
from customer_mdm.party import SOURCE_RECORD_ID

# Poison messages, in the order they are cycled through.
MALFORMED: tuple[bytes | None, ...] = (b'{"op": "upsert", "customer_id": ', b"\xff\xfe\x00 not utf-8", None)
_TIMESTAMP = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Event:
    kind: str  # create | update | delete | malformed
    key: bytes | None
    value: bytes | None


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
