"""Hop 1: bronze -> silver, incrementally, one code path for batch, stream and replay.

Per source, the hop reads the bronze rows committed after its watermark,
parses and maps them, sets aside rows whose input equals the stored current
record's (unchanged: neither standardized nor validated again), standardizes
and validates the rest, and applies them to silver.
Every output commit carries the application transaction
(``refine:<source>``, bronze version), so a re-run after a crash skips what
was committed and applies the rest. silver.party_history is written last and
its transaction is the watermark: party is derived from history, history is
only ever read in its pre-increment state, so a crash between the two
recomputes the same result.

``refine_range`` is the core every mode shares: the normal hop gives it
(watermark, latest]; a replay from bronze (hops/replay.py) gives it a chosen
range, a row filter, its own transaction and ``replay=True``.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from customer_mdm.config import SourceConfig
from customer_mdm.config.quality import QualityRule
from customer_mdm.errors import MdmError
from customer_mdm.ops.faults import kill_point
from customer_mdm.ops.validation_report import rule_checks, write_validation_report
from customer_mdm.ops.suppression import drop_suppressed
from customer_mdm.ops.tables import (DEAD_LETTER, DEAD_LETTER_SCHEMA, DQ_METRICS, DQ_METRICS_SCHEMA,
                                     ERASURE_SUPPRESSION)
from customer_mdm.silver.canonical import BRONZE_VERSION, file_rows, kafka_rows, to_canonical
from customer_mdm.silver.quality import QualityResult, evaluate, raise_if_failed
from customer_mdm.silver.quarantine import QUARANTINE, QUARANTINE_SCHEMA, malformed_rows, quality_rows
from customer_mdm.silver.standardize import StandardizeOptions, standardize
from customer_mdm.silver.versions import (CHAIN_COLUMNS, HISTORY_SCHEMA, KEY, PARTY_SCHEMA, changed_input,
                                          history_rows, key_predicate, new_version_count, newer_than_target,
                                          party_rows, rebuild_chains, with_input_hash, with_version_identity)
from customer_mdm.spark import persisted
from customer_mdm.storage import AppTxn, TableStore

log = logging.getLogger(__name__)

PARTY = "silver.party"
HISTORY = "silver.party_history"
Mode = Literal["batch", "stream"]
#: Narrows a bronze increment (a replay's selection); gets and returns bronze rows with ``_bronze_version``.
RowFilter = Callable[[DataFrame], DataFrame]
#: A bronze row's identity in silver: history versions, quarantine rows and the errors-only selection use it.
ROW_ORIGIN: tuple[str, ...] = ("_source_ref", BRONZE_VERSION)
#: A quarantine row is stored once per bronze row, rule and column.
QUARANTINE_ORIGIN: tuple[str, ...] = (*ROW_ORIGIN, "rule", "column")
#: A dead letter is stored once per Kafka event.
DEAD_LETTER_ORIGIN: tuple[str, ...] = ("kafka_topic", "kafka_partition", "kafka_offset")


@dataclass(frozen=True)
class RefineCounts:
    """Row conservation: read = upserted + unchanged + superseded + quarantined + dead_lettered + suppressed.

    ``suppressed``: rows of erased records (ops.erasure_suppression), dropped before parsing.
    """

    read: int = 0
    upserted: int = 0
    unchanged: int = 0
    superseded: int = 0
    quarantined: int = 0
    dead_lettered: int = 0
    warned: int = 0
    suppressed: int = 0

    @property
    def balanced(self) -> bool:
        return self.read == (self.upserted + self.unchanged + self.superseded + self.quarantined
                             + self.dead_lettered + self.suppressed)


@dataclass(frozen=True)
class RefineReport:
    source: str
    from_version: int
    to_version: int
    counts: RefineCounts = field(default_factory=RefineCounts)
    breached_rules: tuple[str, ...] = ()
    seconds: float = 0.0
    metrics: tuple[Mapping[str, object], ...] = ()
    skipped: bool = False


def hop_txn(source: SourceConfig, bronze_version: int) -> AppTxn:
    return AppTxn(f"refine:{source.name}", bronze_version)


def ensure_silver_tables(store: TableStore) -> None:
    store.ensure_table(PARTY, PARTY_SCHEMA)
    store.ensure_table(HISTORY, HISTORY_SCHEMA)
    store.ensure_table(QUARANTINE, QUARANTINE_SCHEMA)
    store.ensure_table(DEAD_LETTER, DEAD_LETTER_SCHEMA)
    store.ensure_table(DQ_METRICS, DQ_METRICS_SCHEMA)


def watermark(store: TableStore, source: SourceConfig) -> int:
    """The last bronze version of this source applied to silver (-1: none yet)."""
    if not store.exists(HISTORY):
        return -1
    done = store.txn_version(HISTORY, hop_txn(source, 0).app_id)
    return -1 if done is None else done


def refine_source(store: TableStore, source: SourceConfig, *, rules: Sequence[QualityRule], run_id: str, mode: Mode,
                  up_to_version: int | None = None, report_dir: Path | None = None) -> RefineReport:
    """Applies bronze versions (watermark, up_to_version or latest] of one source to silver.

    With ``report_dir`` the increment's validation report (JSON checklist, error CSV) is written there,
    also when a ``fail`` rule stops the batch.
    """
    with store.lock(f"refine-{source.name}"):  # the watermark is read and applied by one job at a time
        return _refine_source(store, source, rules=rules, run_id=run_id, mode=mode, up_to_version=up_to_version,
                              report_dir=report_dir)


def _refine_source(store: TableStore, source: SourceConfig, *, rules: Sequence[QualityRule], run_id: str,
                   mode: Mode, up_to_version: int | None, report_dir: Path | None) -> RefineReport:
    ensure_silver_tables(store)
    if not store.exists(source.bronze_table):
        return RefineReport(source.name, -1, -1, skipped=True)
    after = watermark(store, source)
    target = store.version(source.bronze_table) if up_to_version is None else up_to_version
    if target <= after:
        return RefineReport(source.name, after, target, skipped=True)
    return refine_range(store, source, after=after, target=target, txn=hop_txn(source, target), rules=rules,
                        run_id=run_id, mode=mode, report_dir=report_dir)


def refine_range(store: TableStore, source: SourceConfig, *, after: int, target: int, txn: AppTxn,
                 rules: Sequence[QualityRule], run_id: str, mode: Mode, report_dir: Path | None = None,
                 row_filter: RowFilter | None = None, replay: bool = False) -> RefineReport:
    """The hop's core: applies the bronze rows of versions (after, target] (narrowed by ``row_filter``) to silver.

    Every commit carries ``txn``. The normal hop passes (watermark, latest] and ``refine:<source>``; a replay
    (``replay=True``, see hops/replay.py) passes its own range and transaction and then also drops the rows
    whose origin (``_source_ref``, ``_bronze_version``) already has a version in silver.party_history
    (counted unchanged) and does not append quarantine rows or dead letters already stored for the same origin,
    so re-applying bronze rows can never make a second version, quarantine row or dead letter of one row.
    """
    with store.lock(f"refine-{source.name}"):
        return _refine_range(store, source, after=after, target=target, txn=txn, rules=rules, run_id=run_id,
                             mode=mode, report_dir=report_dir, row_filter=row_filter, replay=replay)


def _refine_range(store: TableStore, source: SourceConfig, *, after: int, target: int, txn: AppTxn,
                  rules: Sequence[QualityRule], run_id: str, mode: Mode, report_dir: Path | None,
                  row_filter: RowFilter | None, replay: bool) -> RefineReport:
    started = time.monotonic()
    ensure_silver_tables(store)
    recorded_at = dt.datetime.now(dt.timezone.utc)
    increment = store.read_added(source.bronze_table, after_version=after, up_to_version=target,
                                 version_column=BRONZE_VERSION)
    if row_filter is not None:
        increment = row_filter(increment)
    with persisted(increment) as cached:
        report = _apply(store, source, cached, rules=rules, run_id=run_id, mode=mode, txn=txn,
                        recorded_at=recorded_at, after=after, report_dir=report_dir, replay=replay)
    report = RefineReport(report.source, after, target, report.counts, report.breached_rules,
                          time.monotonic() - started, report.metrics)
    c = report.counts
    log.info("silver %s%s: bronze versions (%d, %d]: read %d = upserted %d + unchanged %d + superseded %d + "
             "quarantined %d + dead-lettered %d + suppressed %d (warnings %d)%s, %.1fs", source.name,
             f" (replay, {txn.app_id})" if replay else "", after, target,
             c.read, c.upserted, c.unchanged, c.superseded, c.quarantined, c.dead_lettered, c.suppressed, c.warned,
             f", BREACH of {list(report.breached_rules)}" if report.breached_rules else "", report.seconds)
    return report


def _apply(store: TableStore, source: SourceConfig, increment: DataFrame, *,
           rules: Sequence[QualityRule], run_id: str, mode: Mode, txn: AppTxn, recorded_at: dt.datetime,
           after: int, report_dir: Path | None, replay: bool = False) -> RefineReport:
    kept = drop_suppressed(increment, store.read(ERASURE_SUPPRESSION), source=source) \
        if store.exists(ERASURE_SUPPRESSION) else increment
    parsed = kafka_rows(kept, source) if source.format == "kafka" else file_rows(kept)
    rows = _without_stored_origins(store, source, parsed.rows) if replay else parsed.rows
    options = StandardizeOptions.for_source(source)
    canonical = with_input_hash(to_canonical(rows, source), standardization=repr(options))
    # compared with history, never party: history is read in its pre-increment state even after a crash
    # between the two commits, so a re-run recomputes exactly what the crashed run would have written
    current = store.read(HISTORY).where(F.col("is_current"))
    suppressed = increment.count() - kept.count()
    started = time.monotonic()
    with persisted(standardize(changed_input(canonical, current), options=options)) as standardized:
        quality = evaluate(standardized, rules, run_id=run_id, reference_tables={})
        with persisted(quality.checked):  # metrics, quarantine and the new versions all read it: rules run once
            return _apply_checked(store, source, increment, parsed.malformed, quality, rules=rules, run_id=run_id,
                                  mode=mode, txn=txn, recorded_at=recorded_at, after=after, report_dir=report_dir,
                                  suppressed=suppressed, replay=replay, started=started)


def _apply_checked(store: TableStore, source: SourceConfig, increment: DataFrame, malformed: DataFrame,
                   quality: QualityResult, *, rules: Sequence[QualityRule], run_id: str, mode: Mode, txn: AppTxn,
                   recorded_at: dt.datetime, after: int, report_dir: Path | None, suppressed: int, replay: bool,
                   started: float) -> RefineReport:
    metrics = quality.metrics.collect()
    log.info("silver %s: standardized and validated %d changed row(s); rows equal to their stored input "
             "skipped, %.1fs", source.name, quality.checked.count(), time.monotonic() - started)
    if report_dir is not None:
        write_validation_report(report_dir, run_id=run_id, checks=rule_checks(metrics), issues=quality.issues)
    if mode == "batch":
        raise_if_failed(metrics)
    failing = sorted({r["rule"] for r in metrics if r["action"] == "fail" and r["rows_failed"]})
    quarantine = _quarantine_frame(source, malformed, quality.quarantined, run_id=run_id,
                                   recorded_at=recorded_at).toArrow()
    dead = _dead_letters(source, malformed, run_id=run_id, recorded_at=recorded_at)

    now = F.lit(recorded_at).cast("timestamp")
    valid = with_version_identity(quality.valid.withColumnRenamed("_is_delete", "is_deleted"))
    incoming = valid.withColumn("_recorded_at", now).select(*[f.name for f in PARTY_SCHEMA.fields])
    touched = incoming.select(*KEY).distinct()
    existing = store.read(HISTORY).select(*CHAIN_COLUMNS).join(touched, list(KEY), "left_semi")
    with persisted(existing):  # rebuild_chains reads it twice; one scan of the whole history is enough
        history_changes = rebuild_chains(existing, incoming, recorded_at=now).toArrow()
    party_changes = party_rows(history_changes)

    read = increment.count()
    # distinct bronze rows: a file landed again under the same name repeats its _source_refs in a later version
    quarantined_records = quarantine.group_by(list(ROW_ORIGIN)).aggregate([]).num_rows
    dead_count = dead.num_rows if dead is not None else 0
    new_versions = new_version_count(history_changes)
    valid_rows = read - quarantined_records - dead_count - suppressed
    counts = RefineCounts(read=read, upserted=party_changes.num_rows, unchanged=valid_rows - new_versions,
                          superseded=new_versions - party_changes.num_rows, quarantined=quarantined_records,
                          dead_lettered=dead_count, suppressed=suppressed,
                          warned=sum(int(r["rows_failed"]) for r in metrics if r["action"] == "warn"))
    if not counts.balanced or counts.unchanged < 0 or counts.superseded < 0:
        raise MdmError(f"source {source.name}: row conservation broken before writing {counts}; nothing written")
    if replay:
        quarantine, dead = _not_stored_yet(store, source, quarantine, dead, after=after, target=txn.version)

    store.append_rows(QUARANTINE, quarantine, txn=txn)
    if dead is not None:
        store.append_rows(DEAD_LETTER, dead, txn=txn)
    store.append_rows(DQ_METRICS, [{**r.asDict(), "source_system": source.name, "recorded_at": recorded_at}
                                   for r in metrics], txn=txn)
    if party_changes.num_rows:
        store.merge(PARTY, party_changes, key_predicate(), txn=txn) \
            .when_matched_update({c: f"s.{c}" for c in PARTY_SCHEMA.names}, predicate=newer_than_target()) \
            .when_not_matched_insert({c: f"s.{c}" for c in PARTY_SCHEMA.names}) \
            .execute()
    kill_point("refine:between_party_and_history")
    history = history_rows(history_changes)
    if history.num_rows:
        store.merge(HISTORY, history, "t.version_id = s.version_id", txn=txn) \
            .when_matched_update({"valid_to": "s.valid_to", "is_current": "s.is_current"}) \
            .when_not_matched_insert({c: f"s.{c}" for c in HISTORY_SCHEMA.names}) \
            .execute()
    else:
        store.append_rows(HISTORY, [], txn=txn)
    return RefineReport(source.name, after, txn.version, counts,
                        tuple(failing) if mode == "stream" else (), metrics=tuple(r.asDict() for r in metrics))


def _without_stored_origins(store: TableStore, source: SourceConfig, rows: DataFrame) -> DataFrame:
    """Replay: the parsed rows whose bronze row has no version in silver.party_history yet."""
    stored = store.read(HISTORY).where(F.col("source_system") == source.name).select(*ROW_ORIGIN).distinct()
    return rows.join(stored, list(ROW_ORIGIN), "left_anti")


def _origin_keys(table: pa.Table, columns: Sequence[str]) -> pa.Array:
    """One string per row joining ``columns`` (nulls as their own value), to compare origins on the driver."""
    parts = [pc.cast(table.column(c), pa.string()) for c in columns]
    return pc.binary_join_element_wise(*parts, "\u001f", null_handling="replace", null_replacement="\u0000")


def _drop_stored(rows: pa.Table, stored: pa.Table, columns: Sequence[str]) -> pa.Table:
    if not rows.num_rows or not stored.num_rows:
        return rows
    known = pc.is_in(_origin_keys(rows, columns), value_set=pc.unique(_origin_keys(stored, columns)))
    return rows.filter(pc.invert(known))


def _not_stored_yet(store: TableStore, source: SourceConfig, quarantine: pa.Table, dead: pa.Table | None, *,
                    after: int, target: int) -> tuple[pa.Table, pa.Table | None]:
    """Replay: quarantine rows and dead letters minus those already stored for the same origin (and rule)."""
    stored_q = store.read(QUARANTINE).where((F.col("source_system") == source.name)
                                            & F.col(BRONZE_VERSION).between(after + 1, target)) \
        .select(*QUARANTINE_ORIGIN).toArrow()
    fresh_q = _drop_stored(quarantine, stored_q, QUARANTINE_ORIGIN)
    fresh_d = dead
    if dead is not None:
        stored_d = store.read(DEAD_LETTER).where((F.col("source_system") == source.name)
                                                 & F.col("bronze_version").between(after + 1, target)) \
            .select(*DEAD_LETTER_ORIGIN).toArrow()
        fresh_d = _drop_stored(dead, stored_d, DEAD_LETTER_ORIGIN)
    known_q = quarantine.num_rows - fresh_q.num_rows
    known_d = 0 if dead is None or fresh_d is None else dead.num_rows - fresh_d.num_rows
    if known_q or known_d:
        log.info("silver %s (replay): %d quarantine row(s) and %d dead letter(s) already stored for the same "
                 "bronze row: not appended again", source.name, known_q, known_d)
    return fresh_q, fresh_d


def _quarantine_frame(source: SourceConfig, malformed: DataFrame, failed: DataFrame, *, run_id: str,
                      recorded_at: dt.datetime) -> DataFrame:
    rejected = quality_rows(failed, recorded_at=recorded_at)
    if source.format == "kafka":  # unparseable events are dead letters, not quarantine rows
        return rejected
    return rejected.unionByName(malformed_rows(malformed, source=source, run_id=run_id, recorded_at=recorded_at))


def _dead_letters(source: SourceConfig, malformed: DataFrame, *, run_id: str,
                  recorded_at: dt.datetime) -> pa.Table | None:
    if source.format != "kafka":
        return None
    return malformed.select(
        F.lit(source.name).alias("source_system"), F.lit(run_id).alias("run_id"),
        F.col("_kafka_topic").alias("kafka_topic"), F.col("_kafka_partition").alias("kafka_partition"),
        F.col("_kafka_offset").alias("kafka_offset"), F.col("_kafka_timestamp").alias("kafka_timestamp"),
        F.col("key"), F.col("value"), F.col("_parse_error").alias("error"),
        F.col(BRONZE_VERSION).alias("bronze_version"), F.lit(recorded_at).cast("timestamp").alias("recorded_at")
    ).toArrow()
