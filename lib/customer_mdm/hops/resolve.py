"""Hop 2: silver -> gold, in numbered increments: the same code for a batch catch-up and a stream micro-batch.

Increment n resolves the silver.party snapshot at version S. Incremental:
the records changed since the previous increment's snapshot are blocked and
compared against every live record; full: every live record is re-scored
with the current model. Scores become edge events; clusters are the
components of the whole edge set under the manual links and splits; ids are
reconciled with the stored xref (never regenerated); golden records are
rebuilt for the entities touched only.

gold.resolve_log records (n, S, scope) first. Every commit carries the
application transaction (``resolve``, n), and every state table is read as
it was before n (append-only logs by their increment column, SCD2 tables by
valid_from/valid_to_increment), so a re-run after a crash anywhere
recomputes the same increment and skips the commits already made.
gold.golden_record_history is written last: its transaction says n is
complete. A logged but incomplete increment is finished, as planned, before
anything newer.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType

from customer_mdm.config.overrides import ManualPair, Overrides, with_table_rows
from customer_mdm.config.resolve import ResolveSettings, ReviewDecision
from customer_mdm.gold.blocking import (BLOCK_KEYS, KEY_COLUMNS, L_RID, R_RID, RID, block, block_indexed,
                                       block_keys, pair_rows, record_ids, rules_digest, with_record_id)
from customer_mdm.gold.comparisons import Plan
from customer_mdm.gold.clustering import Edge
from customer_mdm.gold.components import clusters_by_size
from customer_mdm.gold.closure import linked_closure
from customer_mdm.gold.edges import (EdgeEvent, Pair, active_edges, after_events, edge_events, edges_in_force,
                                     pair_of, pairs_column, rid, split_rid)
from customer_mdm.gold.identity import PriorState, Reconciled, reconcile
from customer_mdm.gold.scoring import AUTO_MERGE, PAIR_KEYS, REVIEW, Model, score_arrow, score_pairs
from customer_mdm.gold.survivorship import GOLDEN_ATTRIBUTES, GOLDEN_SCHEMA, PIN_SCHEMA, golden_records
from customer_mdm.gold.tables import (BLOCKING_KEYS, BLOCKING_KEYS_SCHEMA, BLOCKING_SKIPPED, BLOCKING_SKIPPED_SCHEMA,
                                      ENTITY_MERGES, ENTITY_MERGES_SCHEMA, ENTITY_XREF, ENTITY_XREF_SCHEMA,
                                      GOLD_PROPERTIES, GOLDEN_HISTORY, GOLDEN_HISTORY_SCHEMA, GOLDEN_RECORD,
                                      GOLDEN_RECORD_SCHEMA, MANUAL_OVERRIDES, MANUAL_OVERRIDES_SCHEMA, MATCH_EDGES,
                                      MATCH_EDGES_SCHEMA, MATCH_PAIRS, MATCH_PAIRS_SCHEMA, RESOLVE_LOG,
                                      RESOLVE_LOG_SCHEMA, REVIEW_QUEUE, REVIEW_QUEUE_SCHEMA)
from customer_mdm.hops.match import candidate_pairs, live_records, load_model, pair_columns, prepare_records
from customer_mdm.ops.faults import kill_point
from customer_mdm.spark import persisted
from customer_mdm.storage import AppTxn, TableStore
from customer_mdm.storage.schema import spark_to_arrow

log = logging.getLogger(__name__)

PARTY = "silver.party"
HISTORY = "silver.party_history"
APP_ID = "resolve"
Mode = Literal["batch", "stream"]
Scope = Literal["incremental", "full"]
_TABLES = ((RESOLVE_LOG, RESOLVE_LOG_SCHEMA), (MATCH_PAIRS, MATCH_PAIRS_SCHEMA),
           (BLOCKING_SKIPPED, BLOCKING_SKIPPED_SCHEMA), (REVIEW_QUEUE, REVIEW_QUEUE_SCHEMA),
           (MATCH_EDGES, MATCH_EDGES_SCHEMA), (ENTITY_MERGES, ENTITY_MERGES_SCHEMA), (ENTITY_XREF, ENTITY_XREF_SCHEMA),
           (GOLDEN_RECORD, GOLDEN_RECORD_SCHEMA), (GOLDEN_HISTORY, GOLDEN_HISTORY_SCHEMA),
           (MANUAL_OVERRIDES, MANUAL_OVERRIDES_SCHEMA), (BLOCKING_KEYS, BLOCKING_KEYS_SCHEMA))
_DRIVER_ROWS = 50_000  # silver rows an increment hands from the driver to Spark; more are joined in Spark
_DATES = tuple(c for c in GOLDEN_ATTRIBUTES if isinstance(GOLDEN_SCHEMA[c].dataType, DateType))


@dataclass(frozen=True)
class ResolveReport:
    increment: int
    scope: Scope
    from_version: int
    to_version: int
    changed_records: int = 0
    pairs_scored: int = 0
    decisions: Mapping[str, int] = field(default_factory=dict)
    edges_added: int = 0
    edges_removed: int = 0
    review_items: int = 0
    entities_created: int = 0
    merges: int = 0
    splits: int = 0
    records_moved: int = 0
    records_reclustered: int = 0  # live records in the closure of the changes: clustered and reconciled again
    golden_written: int = 0
    golden_retired: int = 0
    seconds: float = 0.0
    skipped: bool = False
    blocked_by: Literal["index", "spark", ""] = ""  # index: gold.blocking_keys, changed records on the driver


@dataclass(frozen=True)
class Planned:
    """An increment: its number, the silver.party versions it spans, its scope, and whether a crashed run
    logged it (``resumed``): it is then finished as planned before anything newer."""

    increment: int
    after: int
    version: int
    scope: Scope
    resumed: bool = False


def ensure_gold_tables(store: TableStore) -> None:
    for table, schema in _TABLES:
        store.ensure_table(table, schema, properties=GOLD_PROPERTIES)


def completed_increment(store: TableStore) -> int:
    """The last increment fully in gold (0: none); gold.golden_record_history is written last."""
    return store.txn_version(GOLDEN_HISTORY, APP_ID) or 0


def read_overrides(store: TableStore, overrides: Overrides, *,
                   adding: Sequence[Mapping[str, Any]] = ()) -> Overrides:
    """conf/overrides.yaml's ``overrides`` plus gold.manual_overrides (and rows about to be appended to it),
    checked: a bad row raises ConfigError, so a caller reads them before it writes anything."""
    rows = store.read_arrow(MANUAL_OVERRIDES).to_pylist() if store.exists(MANUAL_OVERRIDES) else []
    return with_table_rows(overrides, [*rows, *adding], table=MANUAL_OVERRIDES, attributes=GOLDEN_ATTRIBUTES,
                           dates=_DATES)


def plan_increment(store: TableStore, scope: Scope) -> Planned | None:
    """A crashed increment if one is pending (finished as it was planned), else the next one, else None."""
    done = completed_increment(store)
    log_rows = store.read_arrow(RESOLVE_LOG).to_pylist()
    by_number = {r["increment"]: r for r in log_rows}
    if done + 1 in by_number:
        pending = by_number[done + 1]
        return Planned(done + 1, pending["previous_silver_version"], pending["silver_version"], pending["mode"],
                       resumed=True)
    after = by_number[done]["silver_version"] if done in by_number else -1
    version = store.version(PARTY)
    if scope == "incremental" and version <= after:
        return None
    return Planned(done + 1, after, version, scope)


def run_resolve(spark: SparkSession, store: TableStore, settings: ResolveSettings, *, run_id: str,
                mode: Mode = "batch", scope: Scope = "incremental") -> ResolveReport:
    """One increment bringing gold up to silver.party's current version (a pending crashed increment first).

    ``scope="full"`` re-scores every live record with the current model and reconciles the new clusters
    with the stored ids: entities that still stand keep their ids, merges and splits are recorded.
    """
    with store.lock("gold"):  # one increment at a time per lake, whichever job runs it
        return _run_resolve(spark, store, settings, run_id=run_id, mode=mode, scope=scope)


def _run_resolve(spark: SparkSession, store: TableStore, settings: ResolveSettings, *, run_id: str,
                 mode: Mode, scope: Scope) -> ResolveReport:
    started = time.monotonic()
    if not store.exists(PARTY):
        return ResolveReport(0, scope, -1, -1, skipped=True)
    current = replace(settings, overrides=read_overrides(store, settings.overrides))  # a bad row: nothing written
    ensure_gold_tables(store)
    planned = plan_increment(store, scope)
    if planned is None:
        done = completed_increment(store)
        return ResolveReport(done, scope, store.version(PARTY), store.version(PARTY), skipped=True)
    report = _Increment(spark, store, current, planned, run_id=run_id).apply()
    report = replace(report, seconds=time.monotonic() - started)
    log.info("gold increment %d (%s, %s): silver.party versions (%d, %d]: %d changed records, %d pairs scored (%s), "
             "edges +%d -%d, %d review item(s), %d record(s) clustered again, %d new entities, %d merge(s), "
             "%d split(s), %d record(s) moved, golden records %d written %d retired, blocked by %s, %.1fs",
             report.increment, report.scope, mode, report.from_version, report.to_version, report.changed_records,
             report.pairs_scored, ", ".join(f"{k} {v}" for k, v in sorted(report.decisions.items())) or "none",
             report.edges_added, report.edges_removed, report.review_items, report.records_reclustered,
             report.entities_created, report.merges, report.splits, report.records_moved, report.golden_written,
             report.golden_retired, report.blocked_by, report.seconds)
    if planned.resumed and (planned.scope != scope or planned.version < store.version(PARTY)):
        # a crashed run's increment was finished as planned; now the one this call was asked for. Only then:
        # a stream under steady load would otherwise chain increments, one call deep each, never reporting
        follow = _run_resolve(spark, store, settings, run_id=run_id, mode=mode, scope=scope)
        return report if follow.skipped else follow
    return report


def _before(table: pa.Table, increment: int) -> pa.Table:
    """Rows of an append-only gold log written before hop-2 increment ``increment``."""
    return table.filter(pc.less(table.column("increment"), increment))


def _current_before(table: pa.Table, increment: int) -> pa.Table:
    """Rows of a versioned SCD2 gold table that were current just before hop-2 increment ``increment``."""
    began = pc.less(table.column("valid_from_increment"), increment)
    open_then = pc.or_kleene(pc.is_null(table.column("valid_to_increment")),
                       pc.greater_equal(table.column("valid_to_increment"), increment))
    return table.filter(pc.and_(began, open_then))


def _pair(pair: ManualPair | ReviewDecision) -> Pair:
    return pair_of(rid(pair.left.source_system, pair.left.source_record_id),
                   rid(pair.right.source_system, pair.right.source_record_id))


def _follow(entity: str, redirect: Mapping[str, str]) -> str:
    """The id ``entity`` lives on as now (redirects are one step long; the bound only guards a cycle)."""
    for _ in range(len(redirect) + 1):
        if entity not in redirect:
            break
        entity = redirect[entity]
    return entity


@dataclass(frozen=True)
class _Candidates:
    """What blocking and scoring hand the rest of an increment, whichever way they ran."""

    live: set[str]  # every live record key
    rescored: set[str]  # the live records whose candidate pairs were scored
    pairs: pa.Table  # scored pairs (SCORED_SCHEMA's columns)
    skipped: pa.Table  # oversized blocks holding a rescored record
    keys: pa.Table  # gold.blocking_keys rows to write (source_system, source_record_id, block_keys)
    complete: bool  # ``keys`` hold every live record: rows of any other record go


@dataclass(frozen=True)
class _GoldenChange:
    rows: pa.Table  # golden rows whose content changed (or new)
    retired: list[str]  # ids whose golden record goes
    closing: pa.Table  # (entity_id, valid_from_increment) of the stored history rows both close


_KEYS_SCHEMA = pa.schema([(RID, pa.string()), (BLOCK_KEYS, pa.list_(pa.string()))])


def _rows(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=schema)


class _Increment:
    """One increment S: reads state as of before S, computes, writes each table once under (resolve, S)."""

    def __init__(self, spark: SparkSession, store: TableStore, settings: ResolveSettings, planned: Planned, *,
                 run_id: str):
        self.spark, self.store, self.settings, self.run_id = spark, store, settings, run_id
        self.n, self.after, self.version, self.scope = planned.increment, planned.after, planned.version, planned.scope
        self.txn = AppTxn(APP_ID, self.n)
        self.now = dt.datetime.now(dt.timezone.utc)
        self.hop = {"increment": self.n, "silver_version": self.version, "run_id": run_id, "recorded_at": self.now}

    # -- reading ---------------------------------------------------------------------------------------------
    def keys_frame(self, records: Iterable[str]) -> DataFrame:
        """Record keys as a one-column frame to semi-join with."""
        return self.spark.createDataFrame([(r,) for r in sorted(records)], f"{RID} string")

    def changed_records(self) -> tuple[set[str], set[str]]:
        """(live, deleted) record keys whose silver version changed in (after, version]: three columns of two
        snapshots compared in Arrow (a Spark job took ~4 s over 1M records)."""
        def versions(version: int) -> pa.Table:
            rows = self.store.read_arrow(PARTY, columns=[*KEY_COLUMNS, "version_id", "is_deleted"], version=version)
            return pa.table({RID: record_ids(rows), "version_id": rows.column("version_id"),
                             "gone": pc.fill_null(rows.column("is_deleted"), False)})
        now = versions(self.version)
        if self.after >= 0:
            now = now.join(versions(self.after).select([RID, "version_id"]), [RID, "version_id"],
                           join_type="left anti")
        keys, gone = now.column(RID).to_pylist(), now.column("gone").to_pylist()
        return {k for k, g in zip(keys, gone) if not g}, {k for k, g in zip(keys, gone) if g}

    def party_of(self, records: Iterable[str]) -> DataFrame:
        """silver.party's rows of ``records`` at this increment's version: read on the driver, handed to Spark as a
        small frame (each Spark scan of the whole table cost seconds at 1M records; an Arrow read is ~0.5 s). Many
        records (a first load, a full re-resolution) are joined in Spark instead: no large frame from the driver."""
        wanted = sorted(records)
        if len(wanted) > _DRIVER_ROWS:
            party = with_record_id(self.store.read(PARTY, version=self.version))
            return party.join(self.keys_frame(wanted), RID, "left_semi").drop(RID)
        rows = self.store.read_arrow(PARTY, version=self.version)
        rows = rows.filter(pc.is_in(record_ids(rows), value_set=pa.array(wanted, pa.string())))
        schema = self.store.schema(PARTY)
        return self.spark.createDataFrame(rows if rows.num_rows else [], schema=schema)  # Arrow: no empty table

    def first_seen(self, records: Iterable[str]) -> dict[str, str]:
        """Earliest business time of each record over its whole history: the order that names new entities."""
        history = with_record_id(self.store.read(HISTORY)).join(self.keys_frame(records), RID, "left_semi")
        rows = history.groupBy(RID).agg(F.min("valid_from").alias("first")).toArrow()
        return {k: v.isoformat() for k, v in zip(rows.column(RID).to_pylist(), rows.column("first").to_pylist())}

    def prior(self, current: pa.Table, xref: pa.Table, live: Iterable[str]) -> PriorState:
        """The stored state of the ``current`` xref rows (the closure's) and the ``live`` records; every id ever
        handed out, from the whole ``xref``."""
        keys = record_ids(current).to_pylist()
        entities = current.column("entity_id").to_pylist()
        anchors = {e: k for k, e, a in zip(keys, entities, current.column("is_anchor").to_pylist()) if a}
        seen = {k: v.isoformat() for k, v in zip(keys, current.column("first_seen").to_pylist())}
        seen.update(self.first_seen(set(live) - set(seen)))
        used = frozenset(pc.unique(xref.filter(pc.less(xref.column("valid_from_increment"), self.n))
                                   .column("entity_id")).to_pylist())
        return PriorState(dict(zip(keys, entities)), anchors, used, seen)

    def reclustered(self, in_force: pa.Table, current: pa.Table, changed: Iterable[str],
                    earlier: Mapping[str, str], *, pairs: Iterable[Pair]) -> pa.Array:
        """The records this increment clusters and reconciles again (``linked_closure``): seeded by the
        ``changed`` records, both records of every scored match and manual link or split (in effect or revoked),
        and the records of pinned or unpinned entities, whose golden records are rebuilt."""
        pinned = pa.array(sorted({_follow(p.entity_id, earlier) for p in (*self.settings.overrides.pins,
                                                                          *self.settings.overrides.unpinned)}),
                          pa.string())
        current_rid = record_ids(current)
        seeds = pa.concat_arrays([pa.array(sorted({*changed, *(r for pair in pairs for r in pair)}), pa.string()),
                                  current_rid.filter(pc.is_in(current.column("entity_id"), value_set=pinned))
                                  .combine_chunks().cast(pa.string())])
        return linked_closure(seeds, links=(record_ids(in_force, prefix="l_"), record_ids(in_force, prefix="r_")),
                              members=(current_rid, current.column("entity_id")))

    # -- the increment ---------------------------------------------------------------------------------------
    def apply(self) -> ResolveReport:
        matching = self.settings.matching
        plan, model = load_model(self.spark, matching)
        self.store.append_rows(RESOLVE_LOG, [{"increment": self.n, "silver_version": self.version,
                                              "previous_silver_version": self.after, "mode": self.scope,
                                              "model_version": model.version, "run_id": self.run_id,
                                              "recorded_at": self.now}], txn=self.txn)
        live_changed, deleted = self.changed_records()
        stored = self.stored_keys(len(live_changed) + len(deleted))
        if stored is None:
            candidates = self.score_in_spark(self.store.read(PARTY, version=self.version), plan, model, live_changed)
        else:
            candidates = self.score_on_driver(stored, plan, model, live_changed, deleted)
        kill_point("resolve:after_scoring")
        return self.decide_and_write(candidates, deleted=deleted, model_version=model.version)

    def stored_keys(self, changed: int) -> pa.Table | None:
        """gold.blocking_keys as of before this increment, when it can serve it: an incremental scope, at most
        ``index_max_changed`` records changed, kept by the increment before (or this one, resumed) with these
        rules. Else None: block every live record in Spark, and rewrite the index."""
        spec = self.settings.matching.blocking
        if self.scope == "full" or changed > spec.index_max_changed or \
                self.store.txn_version(BLOCKING_KEYS, APP_ID) not in (self.n - 1, self.n):
            return None
        stored = self.store.read_arrow(BLOCKING_KEYS, columns=[*KEY_COLUMNS, BLOCK_KEYS, "rules_digest"])
        if pc.any(pc.not_equal(stored.column("rules_digest"), rules_digest(spec))).as_py():
            log.info("gold.blocking_keys was built with other blocking rules: blocking every record in Spark")
            return None
        return stored

    def score_in_spark(self, party: DataFrame, plan: Plan, model: Model, live_changed: set[str]) -> _Candidates:
        spec = self.settings.matching.blocking
        with persisted(prepare_records(party, plan, model)) as records:
            live = set(records.select(RID).toArrow().column(RID).to_pylist())
            rescored = live if self.scope == "full" else live_changed
            focus = None if live <= rescored else self.keys_frame(rescored)
            blocked = block(records, spec, focus=focus)
            skipped = blocked.skipped.toArrow()
            pairs = score_pairs(plan, model, candidate_pairs(records, blocked, plan)).toArrow()
            keys = block_keys(records, spec).toArrow()
        return _Candidates(live, rescored, pairs, skipped, keys, complete=True)

    def score_on_driver(self, stored: pa.Table, plan: Plan, model: Model, live_changed: set[str],
                        deleted: set[str]) -> _Candidates:
        """Keys only the changed records (Spark), finds their candidates in the stored keys and scores the pairs
        with the same functions on the driver: an increment's cost follows its size, not the lake's."""
        spec = self.settings.matching.blocking
        fresh = block_keys(live_records(self.party_of(live_changed)), spec).toArrow()
        stored_rid = record_ids(stored)
        unchanged = pc.invert(pc.is_in(stored_rid, value_set=pa.array(sorted(live_changed | deleted), pa.string())))
        keys = pa.concat_tables([pa.table({RID: stored_rid, BLOCK_KEYS: stored.column(BLOCK_KEYS)}).filter(unchanged)
                                 .cast(_KEYS_SCHEMA), fresh.select([RID, BLOCK_KEYS]).cast(_KEYS_SCHEMA)])
        pairs, skipped = block_indexed(keys, live_changed, spec)
        columns = pair_columns(plan)
        named = set(pairs.column(L_RID).to_pylist()) | set(pairs.column(R_RID).to_pylist())
        records = prepare_records(self.party_of(named), plan, model).select(
            RID, *KEY_COLUMNS, *[c for c in columns if c not in KEY_COLUMNS])
        rows = records.toArrow() if named else spark_to_arrow(records.schema).empty_table()  # no pair: no Spark job
        scored = score_arrow(plan, model, pair_rows(pairs, rows, columns))
        return _Candidates(set(keys.column(RID).to_pylist()), live_changed, scored, skipped, fresh,
                           complete=False)

    def decide_and_write(self, candidates: _Candidates, *, deleted: set[str], model_version: str) -> ResolveReport:
        scored, skipped, live, live_changed = candidates.pairs, candidates.skipped, candidates.live, candidates.rescored
        changed = live_changed | deleted
        store, settings = self.store, self.settings
        decisions = pc.value_counts(scored.column("decision")).to_pylist() if scored.num_rows else []
        pair_keys = pairs_column(scored)
        probability = scored.column("match_probability").to_pylist()
        decision = scored.column("decision").to_pylist()
        matches = {p: pr for p, pr, d in zip(pair_keys, probability, decision) if d == AUTO_MERGE}

        queue = store.read_arrow(REVIEW_QUEUE)
        status = dict(zip(pairs_column(queue), queue.column("status").to_pylist()))
        manual = {_pair(d): d for d in settings.decisions}
        accepted = {p for p, s in status.items() if s == "accepted"} | {p for p, d in manual.items()
                                                                         if d.decision == "accept"}
        rejected = {p for p, s in status.items() if s == "rejected"} | {p for p, d in manual.items()
                                                                         if d.decision == "reject"}
        accepted -= rejected

        overrides = settings.overrides
        must = [_pair(p) for p in overrides.force_link]
        cannot = [_pair(p) for p in overrides.force_split]
        in_force = edges_in_force(store.read_arrow(MATCH_EDGES), before=self.n)
        xref = store.read_arrow(ENTITY_XREF)
        current = _current_before(xref, self.n)
        earlier = self.redirects_before()
        seeds = live | changed if self.scope == "full" else changed  # full: every record, the deleted ones too
        in_scope = self.reclustered(in_force, current, seeds, earlier, pairs=[
            *matches, *accepted, *rejected, *must, *cannot, *(_pair(p) for p in overrides.unlinked)])
        active = active_edges(in_force.filter(pc.is_in(record_ids(in_force, prefix="l_"), value_set=in_scope)))
        events = edge_events(active, matches=matches, model_version=model_version, rescored=changed,
                             accepted=accepted, rejected=rejected)
        edges_now = after_events(active, events)
        records = set(in_scope.to_pylist()) & live
        clusters = clusters_by_size(
            self.spark, records, [Edge(a, b, e.probability) for (a, b), e in edges_now.items() if e.origin == "model"],
            must_link=must + [p for p, e in edges_now.items() if e.origin == "review"],
            cannot_link=cannot + sorted(rejected), max_size=settings.matching.clustering.max_cluster_size,
            driver_max_links=settings.matching.clustering.driver_max_links)
        prior = self.prior(current.filter(pc.is_in(record_ids(current), value_set=in_scope)), xref, records)
        reconciled = reconcile(clusters, prior)

        review_rows = self.review_rows(scored, pair_keys, status, clusters.oversized, manual)
        redirect = {**earlier, **{r.from_id: r.to_id for r in reconciled.redirects if r.kind == "merge"}}
        golden = self.golden(reconciled, prior, live_changed, records, redirect)

        # -- writes, each once per increment; golden history last (the watermark) --------------------------
        hop = self.hop
        store.append_rows(MATCH_PAIRS, scored.append_column("silver_version", pa.array([self.version] * scored.num_rows,
                                                                                         pa.int64()))
                          .append_column("run_id", pa.array([self.run_id] * scored.num_rows, pa.string()))
                          .append_column("scored_at", pa.array([self.now] * scored.num_rows,
                                                               pa.timestamp("us", "UTC"))), txn=self.txn)
        store.append_rows(BLOCKING_SKIPPED, [{**r, **hop} for r in skipped.to_pylist()], txn=self.txn)
        self.write_blocking_keys(candidates, deleted)
        self.write_review(review_rows)
        store.append_rows(MATCH_EDGES, [self.edge_row(e) for e in events], txn=self.txn)
        store.append_rows(ENTITY_MERGES, self.redirect_rows(reconciled, earlier), txn=self.txn)
        kill_point("resolve:before_xref")
        self.write_xref(reconciled, prior, xref)
        kill_point("resolve:between_xref_and_golden")
        self.write_golden(golden)
        return ResolveReport(
            self.n, self.scope, self.after, self.version, changed_records=len(changed), pairs_scored=scored.num_rows,
            decisions={d["values"]: int(d["counts"]) for d in decisions},
            edges_added=sum(e.action == "add" for e in events), edges_removed=sum(e.action == "remove" for e in events),
            review_items=len(review_rows), entities_created=len(reconciled.created),
            merges=sum(r.kind == "merge" for r in reconciled.redirects),
            splits=sum(r.kind == "split" for r in reconciled.redirects),
            records_moved=reconciled.count("moved"), records_reclustered=len(records),
            golden_written=golden.rows.num_rows, golden_retired=len(golden.retired),
            blocked_by="spark" if candidates.complete else "index")

    def write_blocking_keys(self, candidates: _Candidates, deleted: set[str]) -> None:
        """The index in step with silver.party at this increment: the changed records' keys upserted and the
        deleted records' rows removed; or, from a Spark blocking, every live record's keys and nothing else."""
        gone = [] if candidates.complete else [split_rid(r) for r in sorted(deleted)]  # complete: others go anyway
        record_keys = pa.schema([(KEY_COLUMNS[0], pa.string()), (KEY_COLUMNS[1], pa.string()),
                                 (BLOCK_KEYS, pa.list_(pa.string()))])
        rows = pa.concat_tables([
            candidates.keys.select(record_keys.names).cast(record_keys),
            pa.table([pa.array([s for s, _ in gone], pa.string()), pa.array([r for _, r in gone], pa.string()),
                      pa.nulls(len(gone), pa.list_(pa.string()))], schema=record_keys)])
        constant = {"rules_digest": rules_digest(self.settings.matching.blocking), "increment": self.n,
                    "silver_version": self.version, "run_id": self.run_id, "recorded_at": self.now}
        schema = spark_to_arrow(BLOCKING_KEYS_SCHEMA)
        for name, value in constant.items():
            rows = rows.append_column(schema.field(name), pa.array([value] * rows.num_rows, schema.field(name).type))
        source = rows.append_column("_gone", pa.array([False] * candidates.keys.num_rows + [True] * len(gone),
                                                      pa.bool_()))
        if not source.num_rows and not candidates.complete:
            self.store.append_rows(BLOCKING_KEYS, [], txn=self.txn)
            return
        columns = {c: f"s.{c}" for c in BLOCKING_KEYS_SCHEMA.names}
        merge = self.store.merge(BLOCKING_KEYS, source, " AND ".join(f"t.{k} = s.{k}" for k in KEY_COLUMNS),
                                 txn=self.txn) \
            .when_matched_delete(predicate="s._gone") \
            .when_matched_update(columns) \
            .when_not_matched_insert(columns, predicate="NOT s._gone")
        if candidates.complete:
            merge = merge.when_not_matched_by_source_delete()
        merge.execute()

    # -- review queue ----------------------------------------------------------------------------------------
    def review_rows(self, scored: pa.Table, pair_keys: Sequence[Pair], status: Mapping[Pair, str],
                    oversized: Iterable[Edge], manual: Mapping[Pair, Any]) -> list[dict[str, Any]]:
        rows: dict[Pair, dict[str, Any]] = {}
        for pair, row in zip(pair_keys, scored.to_pylist()):
            if row["decision"] == REVIEW and pair not in status:
                rows[pair] = self.review_row(pair, "score", row["blocking_rule"], row["match_probability"],
                                             row["explanation"])
            elif row["decision"] != REVIEW and status.get(pair) == "open":
                rows[pair] = self.review_row(pair, "score", row["blocking_rule"], row["match_probability"],
                                             row["explanation"], status="superseded")
        for edge in oversized:
            pair = (edge.left, edge.right)
            if pair not in status and pair not in rows:
                rows[pair] = self.review_row(pair, "cluster_size", None, edge.probability, None)
        for pair, d in manual.items():
            wanted = "accepted" if d.decision == "accept" else "rejected"
            if status.get(pair) != wanted:
                base = rows.get(pair) or self.review_row(pair, "manual", None, None, None)
                rows[pair] = {**base, "status": wanted, "decided_by": d.reviewer, "decided_at": self.now,
                              "note": d.note}
        return [rows[p] for p in sorted(rows)]

    def review_row(self, pair: Pair, reason: str, rule: str | None, probability: float | None,
                   explanation: Any, *, status: str = "open") -> dict[str, Any]:
        (ls, lr), (rs, rr) = split_rid(pair[0]), split_rid(pair[1])
        return {"l_source_system": ls, "l_source_record_id": lr, "r_source_system": rs, "r_source_record_id": rr,
                "reason": reason, "blocking_rule": rule, "match_probability": probability, "explanation": explanation,
                "status": status, "decided_by": None, "decided_at": None, "note": None, **self.hop}

    def write_review(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            self.store.append_rows(REVIEW_QUEUE, [], txn=self.txn)
            return
        keys = " AND ".join(f"t.{k} = s.{k}" for k in PAIR_KEYS)
        columns = REVIEW_QUEUE_SCHEMA.names
        self.store.merge(REVIEW_QUEUE, _rows(rows, spark_to_arrow(REVIEW_QUEUE_SCHEMA)), keys, txn=self.txn) \
            .when_matched_update({c: f"s.{c}" for c in ("status", "decided_by", "decided_at", "note", "increment",
                                                        "silver_version", "run_id", "recorded_at")}) \
            .when_not_matched_insert({c: f"s.{c}" for c in columns}) \
            .execute()

    # -- edges and ids ---------------------------------------------------------------------------------------
    def edge_row(self, event: EdgeEvent) -> dict[str, Any]:
        (ls, lr), (rs, rr) = split_rid(event.pair[0]), split_rid(event.pair[1])
        return {"l_source_system": ls, "l_source_record_id": lr, "r_source_system": rs, "r_source_record_id": rr,
                "action": event.action, "origin": event.origin, "match_probability": event.probability,
                "model_version": event.model_version, **self.hop}

    def redirects_before(self) -> dict[str, str]:
        """Each merged-away id -> the id it lives on as, before this increment (one step: chains are flat)."""
        earlier = _before(self.store.read_arrow(ENTITY_MERGES), self.n)
        rows = sorted(zip(earlier.column("increment").to_pylist(), earlier.column("from_entity_id").to_pylist(),
                          earlier.column("to_entity_id").to_pylist(), earlier.column("kind").to_pylist()))
        return {f: t for _, f, t, kind in rows if kind == "merge"}

    def redirect_rows(self, reconciled: Reconciled, earlier: Mapping[str, str]) -> list[dict[str, Any]]:
        """New redirects, plus older redirects re-pointed so no chain is longer than one step."""
        merged = {r.from_id: r.to_id for r in reconciled.redirects if r.kind == "merge"}
        rows = [{"from_entity_id": r.from_id, "to_entity_id": r.to_id, "kind": r.kind, **self.hop}
                for r in reconciled.redirects]
        rows += [{"from_entity_id": f, "to_entity_id": merged[t], "kind": "merge", **self.hop}
                 for f, t in sorted(earlier.items()) if t in merged]
        return rows

    def write_xref(self, reconciled: Reconciled, prior: PriorState, xref: pa.Table) -> None:
        closing = [a for a in reconciled.assignments if a.record in prior.entity_of]
        xref_now = _current_before(xref, self.n)
        xref_now = xref_now.filter(pc.is_in(record_ids(xref_now),
                                            value_set=pa.array([a.record for a in closing], pa.string())))
        open_rows = {rid(s, r): row for s, r, row in zip(xref_now.column("source_system").to_pylist(),
                                                         xref_now.column("source_record_id").to_pylist(),
                                                         xref_now.to_pylist())}  # the closing records' rows only
        rows = [{**open_rows[a.record], "valid_to": self.now, "valid_to_increment": self.n, "is_current": False}
                for a in closing]
        for a in reconciled.assignments:
            if a.change == "deleted":
                continue
            system, record = split_rid(a.record)
            rows.append({"source_system": system, "source_record_id": record, "entity_id": a.entity_id,
                         "is_anchor": a.is_anchor, "first_seen": dt.datetime.fromisoformat(prior.first_seen[a.record]),
                         "change": a.change, "valid_from": self.now, "valid_to": None,
                         "valid_from_increment": self.n, "valid_to_increment": None, "is_current": True,
                         "run_id": self.run_id, "recorded_at": self.now})
        self._scd2_merge(ENTITY_XREF, ENTITY_XREF_SCHEMA, rows, ("source_system", "source_record_id"))

    def _scd2_merge(self, table: str, schema: Any, rows: list[dict[str, Any]], key: Sequence[str]) -> None:
        if not rows:
            self.store.append_rows(table, [], txn=self.txn)
            return
        predicate = " AND ".join([f"t.{k} = s.{k}" for k in key]
                                 + ["t.valid_from_increment = s.valid_from_increment"])
        self.store.merge(table, _rows(rows, spark_to_arrow(schema)), predicate, txn=self.txn) \
            .when_matched_update({c: f"s.{c}" for c in ("valid_to", "valid_to_increment", "is_current")}) \
            .when_not_matched_insert({c: f"s.{c}" for c in schema.names}) \
            .execute()

    # -- golden records --------------------------------------------------------------------------------------
    def golden(self, reconciled: Reconciled, prior: PriorState, live_changed: set[str], live: set[str],
               redirect: Mapping[str, str]) -> _GoldenChange:
        """Golden rows that differ from the stored ones, for the touched entities; the retired ids; the stored
        history rows both close."""
        entity_of = dict(prior.entity_of)
        for a in reconciled.assignments:
            if a.change == "deleted":
                entity_of.pop(a.record, None)
            else:
                entity_of[a.record] = a.entity_id
        pins = self.pins(redirect)
        touched = set(reconciled.touched) | {entity_of[r] for r in live_changed if r in entity_of}
        # pinned and unpinned entities too: a pin entered or revoked applies at the next increment, touched or not
        touched |= {e for e, _, _ in pins} | {_follow(p.entity_id, redirect) for p in self.settings.overrides.unpinned}
        members = sorted((r, e) for r, e in entity_of.items() if e in touched and r in live)
        assigned = self.spark.createDataFrame(members, f"{RID} string, entity_id string")
        party = with_record_id(self.party_of(r for r, _ in members)).join(assigned, RID).drop(RID)
        priority = F.create_map(*[x for name, p in sorted(self.settings.source_priority.items())
                                  for x in (F.lit(name), F.lit(p))])
        members_df = party.withColumn("source_priority", F.coalesce(priority[F.col("source_system")], F.lit(1000)))
        golden = golden_records(members_df, rules=self.settings.survivorship,
                                pins=self.spark.createDataFrame(pins, PIN_SCHEMA)).toArrow()
        stored = _current_before(self.store.read_arrow(GOLDEN_HISTORY, columns=[
            "entity_id", "row_hash", "valid_from_increment", "valid_to_increment"]), self.n)
        named = pa.array(sorted({*golden.column("entity_id").to_pylist(), *reconciled.retired}), pa.string())
        stored = stored.filter(pc.is_in(stored.column("entity_id"), value_set=named))
        known = dict(zip(stored.column("entity_id").to_pylist(), stored.column("row_hash").to_pylist()))
        changed = golden.take(pa.array([i for i, (e, h) in enumerate(zip(golden.column("entity_id").to_pylist(),
                                                                          golden.column("row_hash").to_pylist()))
                                        if known.get(e) != h], pa.int64()))
        retired = sorted(e for e in reconciled.retired if e in known)
        closing = pa.array(sorted({*changed.column("entity_id").to_pylist(), *retired}), pa.string())
        return _GoldenChange(changed, retired, stored.filter(pc.is_in(stored.column("entity_id"), value_set=closing))
                             .select(["entity_id", "valid_from_increment"]))

    def pins(self, redirect: Mapping[str, str]) -> list[tuple[str, str, str]]:
        """Pinned values by the id each pinned entity lives on now: a pin follows its entity through merges."""
        return [(_follow(p.entity_id, redirect), p.attribute, p.value) for p in self.settings.overrides.pins]

    def write_golden(self, change: _GoldenChange) -> None:
        golden, retired = change.rows, change.retired
        extra = {"updated_increment": self.n, "run_id": self.run_id, "updated_at": self.now}
        rows = [{**r, **extra} for r in golden.to_pylist()]
        current = _rows(rows, spark_to_arrow(GOLDEN_RECORD_SCHEMA))
        gone = _rows([{"entity_id": e, **extra} for e in retired], spark_to_arrow(GOLDEN_RECORD_SCHEMA))
        source = pa.concat_tables([current.append_column("_retired", pa.array([False] * current.num_rows, pa.bool_())),
                                   gone.append_column("_retired", pa.array([True] * gone.num_rows, pa.bool_()))])
        if source.num_rows:
            self.store.merge(GOLDEN_RECORD, source, "t.entity_id = s.entity_id", txn=self.txn) \
                .when_matched_delete(predicate="s._retired") \
                .when_matched_update({c: f"s.{c}" for c in GOLDEN_RECORD_SCHEMA.names}) \
                .when_not_matched_insert({c: f"s.{c}" for c in GOLDEN_RECORD_SCHEMA.names},
                                         predicate="NOT s._retired") \
                .execute()
        else:
            self.store.append_rows(GOLDEN_RECORD, [], txn=self.txn)
        kill_point("resolve:before_golden_history")
        # the merge sets only these columns of a closed row: its key and them are all the source needs
        history = [{**r, "valid_to": self.now, "valid_to_increment": self.n, "is_current": False}
                   for r in change.closing.to_pylist()]
        history += [{**r, **extra, "valid_from": self.now, "valid_to": None, "valid_from_increment": self.n,
                     "valid_to_increment": None, "is_current": True} for r in golden.to_pylist()]
        self._scd2_merge(GOLDEN_HISTORY, GOLDEN_HISTORY_SCHEMA, history, ("entity_id",))
