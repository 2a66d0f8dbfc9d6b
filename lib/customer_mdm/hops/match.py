"""Silver -> gold.match_pairs, the batch form: block, compare, score and decide every candidate pair.

Reads one snapshot of silver.party through the store, skips tombstones,
scores with the frozen model the configuration selects, and appends every
scored pair to gold.match_pairs with its blocking rule, explanation,
probability, decision and model version; oversized blocks go to
gold.blocking_skipped. Both commits carry the application transaction
(``match:<model version>``, silver version): re-running the same model on the
same silver version writes nothing twice. Issue 6 turns this into the
incremental hop; the pure steps below are what it reuses.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_mdm.config.matching import MatchingConfig
from customer_mdm.errors import ConfigError
from customer_mdm.gold.blocking import (Blocked, BlockingReport, block, blocking_report, check_rules, pair_records,
                                        with_record_id)
from customer_mdm.gold.comparisons import Plan, build_plan, plan_columns
from customer_mdm.gold.scoring import FellegiSunterModel, Model, check_plan, score_pairs
from customer_mdm.gold.tables import (BLOCKING_SKIPPED, BLOCKING_SKIPPED_SCHEMA, GOLD_PROPERTIES, MATCH_PAIRS,
                                      MATCH_PAIRS_SCHEMA)
from customer_mdm.gold.training import scoring_model, tf_name, with_term_frequencies
from customer_mdm.silver.versions import PARTY_SCHEMA
from customer_mdm.storage import AppTxn, TableStore

log = logging.getLogger(__name__)

PARTY = "silver.party"


def prepare_records(party: DataFrame, plan: Plan) -> DataFrame:
    """Live records with their key, the compared columns and term frequencies: what blocking and scoring read."""
    live = party.where(~F.coalesce(F.col("is_deleted"), F.lit(False)))
    return with_term_frequencies(with_record_id(live), plan)


def pair_columns(plan: Plan) -> list[str]:
    """Record columns each side of a pair carries into scoring."""
    return [*plan_columns(plan), *(tf_name(c.name) for c in plan if c.term_frequency)]


def candidate_pairs(records: DataFrame, blocked: Blocked, plan: Plan) -> DataFrame:
    return pair_records(blocked.pairs, records, pair_columns(plan))


def checked_plan(spark: SparkSession, matching: MatchingConfig) -> Plan:
    """The comparison plan, once the blocking expressions are known to analyse over silver.party."""
    issues = check_rules(spark, matching, PARTY_SCHEMA)
    if issues:
        raise ConfigError(issues)
    return build_plan(matching.comparisons)


def load_model(spark: SparkSession, matching: MatchingConfig) -> tuple[Plan, Model]:
    """The plan and frozen model, checked before any work: bad rules or a stale model stop here."""
    plan = checked_plan(spark, matching)
    model = scoring_model(matching)
    if isinstance(model, FellegiSunterModel):
        check_plan(plan, model)
    return plan, model


@dataclass(frozen=True)
class MatchReport:
    silver_version: int
    model_version: str
    blocking: BlockingReport | None
    pairs_written: int
    decisions: dict[str, int]
    seconds: float
    skipped: bool = False


def txn(model: Model, silver_version: int) -> AppTxn:
    return AppTxn(f"match:{model.version}", silver_version)


def run_match(spark: SparkSession, store: TableStore, matching: MatchingConfig, *, run_id: str) -> MatchReport:
    """Scores every candidate pair of the current silver.party snapshot into gold.match_pairs."""
    started = time.monotonic()
    plan, model = load_model(spark, matching)
    store.ensure_table(MATCH_PAIRS, MATCH_PAIRS_SCHEMA, properties=GOLD_PROPERTIES)
    store.ensure_table(BLOCKING_SKIPPED, BLOCKING_SKIPPED_SCHEMA, properties=GOLD_PROPERTIES)
    silver_version = store.version(PARTY)
    commit = txn(model, silver_version)
    if store.txn_version(MATCH_PAIRS, commit.app_id) == silver_version:
        log.info("match: silver.party version %d already scored by model %s; nothing to do", silver_version,
                 model.version)
        return MatchReport(silver_version, model.version, None, 0, {}, time.monotonic() - started, skipped=True)
    records = prepare_records(store.read(PARTY, version=silver_version), plan).cache()
    try:
        blocked = block(records, matching.blocking)
        pairs = blocked.pairs.cache()
        blocked = Blocked(pairs=pairs, skipped=blocked.skipped)
        report = blocking_report(blocked, records=records.count(), spec=matching.blocking)
        log.info("match: blocking %s", report.describe())
        now = F.lit(dt.datetime.now(dt.timezone.utc)).cast("timestamp")
        extra = [F.lit(silver_version).cast("long").alias("silver_version"), F.lit(run_id).alias("run_id")]
        store.append(BLOCKING_SKIPPED, blocked.skipped.select("*", *extra, now.alias("recorded_at")), txn=commit)
        scored = score_pairs(plan, model, candidate_pairs(records, blocked, plan))
        result = store.append(MATCH_PAIRS, scored.select("*", *extra, now.alias("scored_at")), txn=commit)
    finally:
        records.unpersist()
    written = store.read(MATCH_PAIRS, version=result.version) if result.version is not None else None
    decisions = {} if written is None else {
        r["decision"]: int(r["n"]) for r in written.where((F.col("model_version") == model.version)
                                                          & (F.col("silver_version") == silver_version))
        .groupBy("decision").agg(F.count(F.lit(1)).alias("n")).collect()}
    pairs.unpersist()
    seconds = time.monotonic() - started
    log.info("match: silver.party version %d, model %s: %d pairs scored (%s) in %.1fs", silver_version,
             model.version, result.rows, ", ".join(f"{k} {v}" for k, v in sorted(decisions.items())), seconds)
    return MatchReport(silver_version, model.version, report, result.rows, decisions, seconds)
