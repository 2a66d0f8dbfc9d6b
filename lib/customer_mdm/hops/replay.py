"""Replay from bronze: re-apply chosen bronze rows to silver through hop 1's own code, then gold catches up.

Bronze is kept forever, so silver can always be recomputed from it. A replay
selects bronze rows (``ReplaySelection``: sources, the ingest run, a bronze
version range, an ingest-time window, or only the rows still in quarantine /
the dead letter table) and hands them to ``refine_range`` in replay mode:

- first the normal hop catches up, and the replay's range ends at the
  watermark, so a replay never reads what the normal hop has not applied;
- rows whose bronze origin (``_source_ref``, ``_bronze_version``) already has a
  version in silver.party_history are dropped (counted unchanged): a replay
  never makes a second version of one bronze row;
- quarantine rows (same origin, rule, column) and dead letters (same topic,
  partition, offset) already stored are not appended again;
- commits carry ``replay:<source>:<run id>``; the ``refine:<source>``
  watermark is never touched.

So replaying a range twice changes nothing in silver, quarantine or dead
letters (ops.runs and ops.dq_metrics record each run: that is audit). After a
rule fix (conf/quality.yaml) or a parser fix, ``errors_only`` moves the rows
that now pass into silver exactly once.

``rebuild_silver`` empties silver.party and silver.party_history (one overwrite
commit each; older versions stay readable by time travel until vacuum) and
re-applies every source's bronze in replay mode, for after a standardization
code change. Versions are ordered by business time, so the result equals the
original silver but for ``_recorded_at``. Gold ids are stored state: gold only
catches up incrementally (``run_resolve``) and, with identical version ids,
changes nothing.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_mdm.bronze.audit import INGEST_RUN_ID, INGESTED_AT
from customer_mdm.config import PipelineConfig, SourceConfig
from customer_mdm.config.quality import QualityRule
from customer_mdm.config.resolve import ResolveSettings
from customer_mdm.errors import MdmError
from customer_mdm.hops.batch import gold_counts, silver_counts
from customer_mdm.hops.refine import (HISTORY, PARTY, ROW_ORIGIN, RefineReport, RowFilter, ensure_silver_tables,
                                      refine_range, refine_source, watermark)
from customer_mdm.hops.resolve import ResolveReport, Scope, read_overrides, run_resolve
from customer_mdm.ops.runs import Run
from customer_mdm.ops.tables import DEAD_LETTER
from customer_mdm.silver.canonical import BRONZE_VERSION
from customer_mdm.silver.quarantine import MALFORMED_RULE, QUARANTINE
from customer_mdm.storage import AppTxn, TableStore

log = logging.getLogger(__name__)

#: Transaction of the truncation that starts rebuild n (on party and history) and of its end (on history).
REBUILD_STARTED = "rebuild"
REBUILD_DONE = "rebuild:done"
_REF = "__origin_ref"


class ReplayUsageError(MdmError):
    """A replay selection that cannot be run as asked (flag misuse); nothing was written."""


@dataclass(frozen=True, kw_only=True)
class ReplaySelection:
    """Which bronze rows a replay re-applies; every given condition must hold (versions and times inclusive
    of ``from_version``/``to_version`` and ``since``, exclusive of ``until``).

    ``sources`` empty: every configured source (Kafka sources included). ``ingest_run_id``: rows whose
    ``_ingest_run_id`` is that run. ``errors_only``: only the rows behind quarantine rows and dead letters
    that are still open (their bronze row has no version in silver.party_history); rows flagged malformed at
    ingest are not among them (replay cannot repair a line bronze could not split).
    """

    sources: tuple[str, ...] = ()
    ingest_run_id: str | None = None
    from_version: int | None = None
    to_version: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    errors_only: bool = False

    def __post_init__(self) -> None:
        for name, value in (("from_version", self.from_version), ("to_version", self.to_version)):
            if value is not None and value < 0:
                raise ReplayUsageError(f"--{name.replace('_', '-')} must be a bronze version >= 0 (got {value})")
        if self.from_version is not None and self.to_version is not None and self.from_version > self.to_version:
            raise ReplayUsageError(f"--from-version {self.from_version} is after --to-version {self.to_version}: "
                                   "the range is empty")
        for name, moment in (("since", self.since), ("until", self.until)):
            if moment is not None and moment.tzinfo is None:
                raise ReplayUsageError(f"--{name} needs a time zone (use as_utc)")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ReplayUsageError(f"--since {self.since.isoformat()} is not before --until "
                                   f"{self.until.isoformat()}: the window [since, until) is empty")
        if self.ingest_run_id is not None and not self.ingest_run_id.strip():
            raise ReplayUsageError("--run-id is empty")

    def describe(self) -> str:
        parts = [f"sources {','.join(self.sources) or 'all'}"]
        if self.ingest_run_id is not None:
            parts.append(f"ingest run {self.ingest_run_id}")
        if self.from_version is not None or self.to_version is not None:
            parts.append(f"bronze versions [{'' if self.from_version is None else self.from_version}, "
                         f"{'' if self.to_version is None else self.to_version}]")
        if self.since is not None or self.until is not None:
            parts.append(f"ingested [{'' if self.since is None else self.since.isoformat()}, "
                         f"{'' if self.until is None else self.until.isoformat()})")
        if self.errors_only:
            parts.append("errors only")
        return "; ".join(parts)

    def row_condition(self) -> Column | None:
        """The run-id and ingest-time conditions on bronze rows (None: every row)."""
        conditions: list[Column] = []
        if self.ingest_run_id is not None:
            conditions.append(F.col(INGEST_RUN_ID) == F.lit(self.ingest_run_id))
        if self.since is not None:
            conditions.append(F.col(INGESTED_AT) >= F.lit(self.since))
        if self.until is not None:
            conditions.append(F.col(INGESTED_AT) < F.lit(self.until))
        if not conditions:
            return None
        condition = conditions[0]
        for more in conditions[1:]:
            condition = condition & more
        return condition


def as_utc(text: str) -> dt.datetime:
    """An ISO-8601 timestamp (date, or date and time; no zone means UTC) as an aware UTC datetime."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ReplayUsageError(f"{text!r} is not an ISO-8601 timestamp (e.g. 2024-05-01T12:00:00Z)") from exc
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def replay_sources(config: PipelineConfig, names: Sequence[str]) -> list[SourceConfig]:
    """The sources a replay runs: every configured one (file and Kafka), or those named, which must exist."""
    if not names:
        return list(config.sources)
    known = {s.name: s for s in config.sources}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ReplayUsageError(f"unknown source(s) {unknown}; configured sources: {', '.join(known)}")
    return [known[n] for n in dict.fromkeys(names)]


@dataclass(frozen=True)
class SourceReplay:
    """One source: the normal hop's catch-up first, then the replay (or the rebuild) of its selection."""

    source: str
    catch_up: RefineReport
    replay: RefineReport
    selected: str  # what was selected, for the summary line


@dataclass(frozen=True)
class ReplaySummary:
    run_id: str
    status: str
    kind: str  # "replay" | "rebuild"
    selection: str
    sources: tuple[SourceReplay, ...]
    resolve: ResolveReport
    rebuild_generation: int | None = None
    silver_versions_before: tuple[tuple[str, int], ...] = ()  # rebuild: where the old silver stays readable


def replay_txn(source: SourceConfig, run_id: str, target: int) -> AppTxn:
    return AppTxn(f"replay:{source.name}:{run_id}", target)


def bronze_source_ref(source: SourceConfig) -> Column:
    """A bronze row's ``_source_ref`` computed from bronze columns, exactly as silver.canonical derives it."""
    if source.format == "kafka":
        return F.format_string("%s/%d/%d", F.col("_kafka_topic"), F.col("_kafka_partition"), F.col("_kafka_offset"))
    return F.concat(F.col("_source_file"), F.lit("#"), F.col("_row_ref").cast("string"))


def open_errors(store: TableStore, source: SourceConfig) -> DataFrame:
    """Origins (``__origin_ref``, ``_bronze_version``) of the source's quarantine rows and dead letters whose bronze
    row has no version in silver.party_history yet; malformed file rows are left out (replay cannot fix them)."""
    name = F.col("source_system") == source.name
    origins = store.read(QUARANTINE).where(name & (F.col("rule") != MALFORMED_RULE)) \
        .select(F.col("_source_ref").alias(_REF), F.col(BRONZE_VERSION))
    if source.format == "kafka" and store.exists(DEAD_LETTER):
        dead = store.read(DEAD_LETTER).where(name).select(
            F.format_string("%s/%d/%d", "kafka_topic", "kafka_partition", "kafka_offset").alias(_REF),
            F.col("bronze_version").alias(BRONZE_VERSION))
        origins = origins.unionByName(dead)
    held = store.read(HISTORY).where(name).select(F.col(ROW_ORIGIN[0]).alias(_REF), F.col(BRONZE_VERSION))
    return origins.distinct().join(held, [_REF, BRONZE_VERSION], "left_anti")


def _row_filter(selection: ReplaySelection, source: SourceConfig, errors: DataFrame | None) -> RowFilter | None:
    condition = selection.row_condition()
    if condition is None and errors is None:
        return None

    def narrow(bronze: DataFrame) -> DataFrame:
        rows = bronze if condition is None else bronze.where(condition)
        if errors is not None:
            rows = rows.withColumn(_REF, bronze_source_ref(source)).join(errors, [_REF, BRONZE_VERSION], "left_semi") \
                .drop(_REF)
        return rows
    return narrow


def replay_source(store: TableStore, source: SourceConfig, selection: ReplaySelection, *,
                  rules: Sequence[QualityRule], run_id: str, config: PipelineConfig | None = None) -> SourceReplay:
    """Catches the normal hop up, then re-applies the source's selected bronze rows (range clamped to the
    watermark) in replay mode under ``replay:<source>:<run_id>``; with ``config`` the validation reports go to
    ``<lake>/_reports/<run_id>/<source>/`` (the catch-up's under ``catch_up/``)."""
    reports = None if config is None else config.lake_root / "_reports" / run_id / source.name
    catch_up = refine_source(store, source, rules=rules, run_id=run_id, mode="batch",
                             report_dir=None if reports is None else reports / "catch_up")
    ensure_silver_tables(store)
    mark = watermark(store, source)
    after = -1 if selection.from_version is None else selection.from_version - 1
    target = mark if selection.to_version is None else min(selection.to_version, mark)
    errors = None
    if selection.errors_only:
        errors = open_errors(store, source).cache()
        bounds = errors.agg(F.count("*").alias("n"), F.min(BRONZE_VERSION).alias("lo"),
                            F.max(BRONZE_VERSION).alias("hi")).first()
        if bounds is None or not bounds["n"]:
            errors.unpersist()
            log.info("replay %s: %s: no open quarantine rows or dead letters, nothing to replay", source.name,
                     selection.describe())
            return SourceReplay(source.name, catch_up, RefineReport(source.name, after, target, skipped=True),
                                "no open errors")
        log.info("replay %s: %d open quarantined / dead-lettered bronze row(s) in bronze versions [%d, %d]",
                 source.name, bounds["n"], bounds["lo"], bounds["hi"])
        after, target = max(after, int(bounds["lo"]) - 1), min(target, int(bounds["hi"]))
    log.info("replay %s: %s: bronze versions (%d, %d] (watermark %d)", source.name, selection.describe(), after,
             target, mark)
    try:
        if target <= after:
            report = RefineReport(source.name, after, target, skipped=True)
        else:
            report = refine_range(store, source, after=after, target=target, txn=replay_txn(source, run_id, target),
                                  rules=rules, run_id=run_id, mode="batch", report_dir=reports,
                                  row_filter=_row_filter(selection, source, errors), replay=True)
    finally:
        if errors is not None:
            errors.unpersist()
    return SourceReplay(source.name, catch_up, report, selection.describe())


def _generation(store: TableStore) -> tuple[int, bool]:
    """(rebuild number, resuming): an unfinished rebuild is resumed, else the next one starts."""
    started = store.txn_version(HISTORY, REBUILD_STARTED) or 0
    done = store.txn_version(HISTORY, REBUILD_DONE) or 0
    return (started, True) if started > done else (started + 1, False)


def rebuild_silver(store: TableStore, sources: Sequence[SourceConfig], *, rules: Sequence[QualityRule],
                   run_id: str) -> tuple[int, list[SourceReplay], dict[str, int]]:
    """Rebuilds silver.party and silver.party_history from all of bronze (``sources``: every configured one).

    Returns the rebuild number, per-source reports and the silver versions before the truncation (readable by
    time travel). Resumable: a crashed rebuild n is finished (sources already rebuilt under
    ``rebuild:<n>:<source>`` are skipped) before any new one starts.
    """
    ensure_silver_tables(store)
    generation, resuming = _generation(store)
    catch_ups: dict[str, RefineReport] = {}
    if not resuming:  # a resumed rebuild must not let the normal hop write into half-rebuilt tables first
        for source in sources:
            catch_ups[source.name] = refine_source(store, source, rules=rules, run_id=run_id, mode="batch")
    before = {PARTY: store.version(PARTY), HISTORY: store.version(HISTORY)}
    marker = AppTxn(REBUILD_STARTED, generation)
    log.info("rebuild %d of silver%s: silver.party at version %d, silver.party_history at %d before emptying",
             generation, " (resumed)" if resuming else "", before[PARTY], before[HISTORY])
    store.truncate(PARTY, txn=marker)
    store.truncate(HISTORY, txn=marker)  # last: its transaction says rebuild n has started
    results: list[SourceReplay] = []
    for source in sources:
        skipped = RefineReport(source.name, -1, -1, skipped=True)
        catch_up = catch_ups.get(source.name, skipped)
        if not store.exists(source.bronze_table):
            results.append(SourceReplay(source.name, catch_up, skipped, "no bronze table"))
            continue
        target = watermark(store, source)
        txn = AppTxn(f"rebuild:{generation}:{source.name}", target)
        rebuilt = store.txn_version(HISTORY, txn.app_id)
        if target < 0 or (rebuilt is not None and rebuilt >= target):
            log.info("rebuild %d: %s already rebuilt up to bronze version %d", generation, source.name, target)
            results.append(SourceReplay(source.name, catch_up, RefineReport(source.name, -1, target, skipped=True),
                                        "already rebuilt"))
            continue
        log.info("rebuild %d: %s from bronze versions (-1, %d]", generation, source.name, target)
        report = refine_range(store, source, after=-1, target=target, txn=txn, rules=rules, run_id=run_id,
                              mode="batch", replay=True)
        results.append(SourceReplay(source.name, catch_up, report, "all of bronze"))
    store.append_rows(HISTORY, [], txn=AppTxn(REBUILD_DONE, generation))
    return generation, results, before


def _gold(spark: SparkSession, store: TableStore, resolve: ResolveSettings, run: Run, scope: Scope) -> ResolveReport:
    gold = run_resolve(spark, store, resolve, run_id=run.run_id, mode="batch", scope=scope)
    run.add(**gold_counts(gold))
    return gold


def run_replay(spark: SparkSession, store: TableStore, config: PipelineConfig, run: Run, *,
               selection: ReplaySelection, resolve: ResolveSettings,
               resolve_scope: Scope = "incremental") -> ReplaySummary:
    """The batch job's ``--replay``: per selected source catch-up and replay, then gold catches up."""
    sources = replay_sources(config, selection.sources)
    started = time.monotonic()
    read_overrides(store, resolve.overrides)  # a bad row in gold.manual_overrides: ConfigError before any write
    run.start()
    results: list[SourceReplay] = []
    try:
        for source in sources:
            result = replay_source(store, source, selection, rules=config.quality_rules, run_id=run.run_id,
                                   config=config)
            results.append(result)
            run.add(**silver_counts(result.catch_up.counts), **silver_counts(result.replay.counts, "replay"))
        gold = _gold(spark, store, resolve, run, resolve_scope)
    except Exception as exc:
        run.finish("FAILED", error=f"{type(exc).__name__}: {exc}")
        raise
    run.finish("SUCCEEDED")
    log.info("replay %s (%s) done in %.1fs", run.run_id, selection.describe(), time.monotonic() - started)
    return ReplaySummary(run.run_id, "SUCCEEDED", "replay", selection.describe(), tuple(results), gold)


def run_rebuild(spark: SparkSession, store: TableStore, config: PipelineConfig, run: Run, *,
                resolve: ResolveSettings, resolve_scope: Scope = "incremental") -> ReplaySummary:
    """The batch job's ``--rebuild-silver``: silver rebuilt from all of bronze, then gold catches up."""
    started = time.monotonic()
    read_overrides(store, resolve.overrides)
    run.start()
    try:
        generation, results, before = rebuild_silver(store, config.sources, rules=config.quality_rules,
                                                     run_id=run.run_id)
        for result in results:
            run.add(**silver_counts(result.catch_up.counts), **silver_counts(result.replay.counts, "rebuild"))
        gold = _gold(spark, store, resolve, run, resolve_scope)
    except Exception as exc:
        run.finish("FAILED", error=f"{type(exc).__name__}: {exc}; re-run --rebuild-silver to finish the rebuild "
                                   "(the previous silver stays readable by time travel)")
        raise
    run.finish("SUCCEEDED")
    log.info("rebuild %d of silver (%s) done in %.1fs", generation, run.run_id, time.monotonic() - started)
    return ReplaySummary(run.run_id, "SUCCEEDED", "rebuild", "all of bronze", tuple(results), gold,
                         rebuild_generation=generation, silver_versions_before=tuple(before.items()))
