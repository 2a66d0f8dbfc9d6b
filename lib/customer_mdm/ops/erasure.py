"""Erasure (right to be forgotten): remove a person's source records from every layer, and keep them out.

A request names an entity (every source record ever linked to it or to an id
merged with it) or one source record. The records' rows are deleted, by
rewriting their files, from bronze, silver, the dead letters and the gold
tables that hold record keys; golden records (current and history) and
manual overrides (pins included) of every entity the records were ever part
of are deleted too, because survivorship blends their values in and a pin
holds a value a steward took from them. Entities that keep other records get a full hop-2
increment right away, which rebuilds their golden records from what is left;
otherwise an incremental one moves hop 2's watermark past the erasure, so no
later increment time-travels to a version the vacuum below may remove.

A suppression row (SHA-256 of ``system:id``, never the data) goes in first,
so a crash mid-erasure cannot let hop 1 bring the record back, and a replay
or a re-sent event is dropped by hop 1 (``drop_suppressed``). Erasure commits
carry a marker that the hops' incremental bronze reads skip.

Not covered (documented gaps): quarantined or dead-lettered rows that could
not be parsed far enough to carry an id (malformed file lines, Kafka events
with a null key), validation report files under ``_reports``, and block keys
in gold.blocking_skipped.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_mdm.config import PipelineConfig, SourceConfig
from customer_mdm.config.operations import MaintenanceConfig
from customer_mdm.config.resolve import ResolveSettings
from customer_mdm.errors import MdmError
from customer_mdm.gold.tables import (BLOCKING_KEYS, ENTITY_MERGES, ENTITY_XREF, GOLDEN_HISTORY, GOLDEN_RECORD,
                                      MANUAL_OVERRIDES, MATCH_EDGES, MATCH_PAIRS, REVIEW_QUEUE)
from customer_mdm.hops.refine import HISTORY, PARTY, watermark
from customer_mdm.hops.resolve import read_overrides, run_resolve
from customer_mdm.ops.tables import DEAD_LETTER, ERASURE_SUPPRESSION, ERASURE_SUPPRESSION_SCHEMA
from customer_mdm.ops.suppression import record_hash
from customer_mdm.party import SOURCE_RECORD_ID
from customer_mdm.silver.quarantine import QUARANTINE
from customer_mdm.storage import AppTxn, TableStore

log = logging.getLogger(__name__)

Record = tuple[str, str]
_RECORD_COLUMNS = ("source_system", "source_record_id")
_PAIR_SIDES = (("l_source_system", "l_source_record_id"), ("r_source_system", "r_source_record_id"))


def parse_record(text: str) -> Record:
    """``SYSTEM:ID`` -> (system, id); the id may itself contain ':'."""
    system, sep, record_id = text.partition(":")
    if not sep or not system or not record_id.strip():
        raise MdmError(f"--source-record: expected SYSTEM:ID such as crm:C-1001 (got {text!r})")
    return system, record_id.strip()


def merged_ids(merges: DataFrame, entity_id: str) -> set[str]:
    """The id and every id merged with it, in either direction (splits are other people and not followed)."""
    links = [(r["from_entity_id"], r["to_entity_id"]) for r in
             merges.where(F.col("kind") == "merge").select("from_entity_id", "to_entity_id").collect()]
    family, grown = {entity_id}, True
    while grown:
        found = {b for a, b in links if a in family} | {a for a, b in links if b in family}
        grown = not found <= family
        family |= found
    return family


def records_of_entities(xref: DataFrame, entity_ids: Iterable[str]) -> DataFrame:
    """Every source record ever linked (any xref version) to one of ``entity_ids``."""
    return xref.where(F.col("entity_id").isin(sorted(entity_ids))).select(*_RECORD_COLUMNS).distinct()


def entities_of_records(xref: DataFrame, records: DataFrame) -> DataFrame:
    """Every entity the records were ever part of (their golden records may hold the records' values)."""
    return xref.join(records, list(_RECORD_COLUMNS), "left_semi").select("entity_id").distinct()


def remaining_members(xref: DataFrame, entity_ids: Iterable[str], records: DataFrame) -> DataFrame:
    """Entity -> number of its current records that stay (not erased)."""
    current = xref.where(F.col("is_current") & F.col("entity_id").isin(sorted(entity_ids)))
    return current.join(records, list(_RECORD_COLUMNS), "left_anti").groupBy("entity_id").count()


# -- SQL predicates of the deletes (delta-rs / DataFusion SQL) -------------------------------------------------

def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ids_in(id_sql: str, ids: Iterable[str]) -> str:
    return f"{id_sql} IN ({', '.join(_literal(i) for i in sorted(set(ids)))})"


def _records_predicate(records: Sequence[Record], system_column: str, id_column: str) -> str:
    by_system: dict[str, list[str]] = {}
    for system, record_id in records:
        by_system.setdefault(system, []).append(record_id)
    return " OR ".join(f"({system_column} = {_literal(s)} AND {_ids_in(f'trim({id_column})', ids)})"
                       for s, ids in sorted(by_system.items()))


def delete_predicates(records: Sequence[Record], entities: Sequence[str],
                      sources: Sequence[SourceConfig]) -> dict[str, str]:
    """Table -> SQL predicate matching the erased rows; tables without such rows are left out."""
    predicates: dict[str, str] = {}
    for source in sources:
        ids = [i for s, i in records if s == source.name]
        if not ids:
            continue
        column = "CAST(key AS VARCHAR)" if source.format == "kafka" else f'"{source.mapping[SOURCE_RECORD_ID]}"'
        predicates[source.bronze_table] = _ids_in(f"trim({column})", ids)
    keyed = _records_predicate(records, *_RECORD_COLUMNS)
    for table in (PARTY, HISTORY, QUARANTINE, ENTITY_XREF, BLOCKING_KEYS):
        predicates[table] = keyed
    kafka = [(s.name, i) for s in sources if s.format == "kafka" for sys, i in records if sys == s.name]
    if kafka:
        predicates[DEAD_LETTER] = _records_predicate(kafka, "source_system", "CAST(key AS VARCHAR)")
    pairs = " OR ".join(f"({_records_predicate(records, *side)})" for side in _PAIR_SIDES)
    for table in (MATCH_PAIRS, MATCH_EDGES, REVIEW_QUEUE):
        predicates[table] = pairs
    named = [f"{s}:{i}" for s, i in records]
    overrides = [_ids_in("left_record", named), _ids_in("right_record", named)]
    if entities:
        for table in (GOLDEN_RECORD, GOLDEN_HISTORY):
            predicates[table] = _ids_in("entity_id", entities)
        overrides.append(_ids_in("entity_id", entities))  # a pinned value is the person's data too
    predicates[MANUAL_OVERRIDES] = " OR ".join(overrides)
    return predicates


# -- the erasure -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ErasurePlan:
    records: tuple[Record, ...]
    entities: tuple[str, ...]
    remaining: Mapping[str, int]  # entity -> current records that stay
    predicates: Mapping[str, str]  # table -> rows to delete


@dataclass(frozen=True)
class ErasureReport:
    run_id: str
    plan: ErasurePlan
    deleted: Mapping[str, int]
    vacuumed: Mapping[str, int]
    vacuumable_at: Mapping[str, dt.datetime]  # tables whose rewritten files outlive this run: when they can go
    not_vacuumed: tuple[str, ...]  # bronze tables hop 1 has not caught up with (vacuum them once it has)
    dry_run: bool
    seconds: float


def plan_erasure(store: TableStore, config: PipelineConfig, *, entity_id: str | None = None,
                 record: Record | None = None) -> ErasurePlan:
    """What an erasure of one entity or one source record would delete; reads gold state, changes nothing."""
    if (entity_id is None) == (record is None):
        raise MdmError("an erasure names exactly one entity id or one source record")
    xref = store.read(ENTITY_XREF) if store.exists(ENTITY_XREF) else None
    if record is not None:
        known = {s.name for s in config.sources}
        if record[0] not in known:
            raise MdmError(f"--source-record: unknown source system {record[0]!r}; configured: {sorted(known)}")
        records = [record]
    else:
        if xref is None:
            raise MdmError("no gold.entity_xref in this lake: nothing is known about entities yet")
        merges = store.read(ENTITY_MERGES) if store.exists(ENTITY_MERGES) else xref.sparkSession.createDataFrame(
            [], "from_entity_id string, to_entity_id string, kind string")
        rows = records_of_entities(xref, merged_ids(merges, str(entity_id))).collect()
        if not rows:
            raise MdmError(f"entity {entity_id} is not in gold.entity_xref (nor merged into an entity that is)")
        records = [(r["source_system"], r["source_record_id"]) for r in rows]
    entities: list[str] = []
    remaining: dict[str, int] = {}
    if xref is not None:
        erased = xref.sparkSession.createDataFrame(records, "source_system string, source_record_id string")
        entities = sorted(r["entity_id"] for r in entities_of_records(xref, erased).collect())
        remaining = {r["entity_id"]: int(r["count"]) for r in remaining_members(xref, entities, erased).collect()}
    return ErasurePlan(tuple(sorted(records)), tuple(entities), remaining,
                       delete_predicates(sorted(records), entities, config.sources))


def _suppress(store: TableStore, plan: ErasurePlan, *, run_id: str, reason: str, at: dt.datetime) -> int:
    store.ensure_table(ERASURE_SUPPRESSION, ERASURE_SUPPRESSION_SCHEMA)
    known = set(store.read_arrow(ERASURE_SUPPRESSION, columns=["record_hash"]).column("record_hash").to_pylist())
    rows = [{"source_system": s, "record_hash": record_hash(s, i), "requested_at": at, "run_id": run_id,
             "reason": reason} for s, i in plan.records if record_hash(s, i) not in known]
    if rows:
        store.append_rows(ERASURE_SUPPRESSION, rows, txn=AppTxn(f"erasure:{run_id}", 1))
    return len(rows)


def erase(spark: SparkSession, store: TableStore, config: PipelineConfig, plan: ErasurePlan, *,
          resolve: ResolveSettings, maintenance: MaintenanceConfig, run_id: str, reason: str,
          dry_run: bool = False) -> ErasureReport:
    """Suppresses, deletes, re-resolves what is left, then vacuums with each table's configured retention."""
    started, now = time.monotonic(), dt.datetime.now(dt.timezone.utc)
    tables = [t for t in plan.predicates if store.exists(t)]
    if dry_run:
        return ErasureReport(run_id, plan, {}, {}, {}, (), True, time.monotonic() - started)
    read_overrides(store, resolve.overrides)  # a bad row would stop the re-resolution after the deletions
    suppressed = _suppress(store, plan, run_id=run_id, reason=reason, at=now)
    behind = tuple(s.bronze_table for s in config.sources
                   if s.bronze_table in tables and watermark(store, s) < store.version(s.bronze_table))
    deleted = {t: store.delete(t, plan.predicates[t], erasure_id=run_id) for t in tables}
    if store.exists(PARTY):
        run_resolve(spark, store, resolve, run_id=run_id, scope="full" if plan.remaining else "incremental")
    vacuumed: dict[str, int] = {}
    later: dict[str, dt.datetime] = {}
    for table in (t for t in tables if deleted[t] and t not in behind):
        hours = maintenance.for_table(table).retention_hours
        vacuumed[table] = len(store.vacuum(table, retention_hours=hours))
        if hours:
            later[table] = now + dt.timedelta(hours=hours)
    report = ErasureReport(run_id, plan, deleted, vacuumed, later, behind, False, time.monotonic() - started)
    log.info("erasure %s: %d source record(s) of %d entit(ies), %d newly suppressed, %d entit(ies) keep other "
             "records; rows deleted: %s; files vacuumed: %s%s, %.1fs", run_id, len(plan.records),
             len(plan.entities), suppressed, len(plan.remaining),
             ", ".join(f"{t}={n}" for t, n in deleted.items() if n) or "none",
             ", ".join(f"{t}={n}" for t, n in vacuumed.items() if n) or "none",
             f"; hop 1 behind on {list(behind)}: not vacuumed" if behind else "", report.seconds)
    return report
