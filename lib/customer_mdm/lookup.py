"""Operational lookups on gold: which entity a source record belongs to, its golden record, and where an old id
lives on now. Reads the latest gold snapshot on the driver (no Spark job), for services and notebooks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow.compute as pc

from customer_mdm.gold.tables import ENTITY_MERGES, ENTITY_XREF, GOLDEN_RECORD
from customer_mdm.storage import TableStore


@dataclass(frozen=True)
class EntityLookup:
    entity_id: str
    source_records: tuple[tuple[str, str], ...]  # (source_system, source_record_id) of every current member
    golden_record: dict[str, Any] | None         # None only while hop 2 has not yet rebuilt it


def current_id(store: TableStore, entity_id: str) -> str:
    """The id an entity lives on as: itself, or the entity it was merged into (chains are stored flat)."""
    merges = store.read_arrow(ENTITY_MERGES, columns=["from_entity_id", "to_entity_id", "kind", "increment"])
    rows = merges.filter(pc.and_(pc.equal(merges.column("from_entity_id"), entity_id),
                                 pc.equal(merges.column("kind"), "merge")))
    if rows.num_rows == 0:
        return entity_id
    latest = max(zip(rows.column("increment").to_pylist(), rows.column("to_entity_id").to_pylist()))
    return str(latest[1])


def lookup(store: TableStore, source_system: str, source_record_id: str) -> EntityLookup | None:
    """The entity and golden record of one source record; None if gold does not know the record (or it is
    deleted)."""
    xref = store.read_arrow(ENTITY_XREF, columns=["source_system", "source_record_id", "entity_id", "is_current"])
    current = xref.filter(xref.column("is_current"))
    mine = current.filter(pc.and_(pc.equal(current.column("source_system"), source_system),
                                  pc.equal(current.column("source_record_id"), source_record_id)))
    if mine.num_rows == 0:
        return None
    entity = str(mine.column("entity_id")[0].as_py())
    members = current.filter(pc.equal(current.column("entity_id"), entity))
    records = tuple(sorted(zip(members.column("source_system").to_pylist(),
                               members.column("source_record_id").to_pylist())))
    golden = store.read_arrow(GOLDEN_RECORD)
    row = golden.filter(pc.equal(golden.column("entity_id"), entity)).to_pylist()
    return EntityLookup(entity, records, row[0] if row else None)
