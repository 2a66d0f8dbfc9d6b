"""Steps shared by everything that scores silver records: hop 2, training, evaluation, the benchmarks.

Live records with their key and the model's frozen term frequencies,
candidate pairs with both sides' compared columns, and the comparison plan
and frozen model, checked against silver.party's schema before any work.
"""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_mdm.config.matching import MatchingConfig
from customer_mdm.errors import ConfigError
from customer_mdm.gold.blocking import Blocked, check_rules, pair_records, with_record_id
from customer_mdm.gold.comparisons import Plan, build_plan, plan_columns
from customer_mdm.gold.scoring import FellegiSunterModel, Model, check_plan
from customer_mdm.gold.training import scoring_model, tf_name, with_term_frequencies
from customer_mdm.silver.versions import PARTY_SCHEMA

PARTY = "silver.party"


def live_records(party: DataFrame) -> DataFrame:
    """Live records with their key: what training and evaluation read."""
    return with_record_id(party.where(~F.coalesce(F.col("is_deleted"), F.lit(False))))


def scoring_records(records: DataFrame, plan: Plan, model: Model) -> DataFrame:
    """Records with the model's frozen term frequencies (null for the weighted model, which has none)."""
    frozen = model.term_frequencies if isinstance(model, FellegiSunterModel) else None
    return with_term_frequencies(records, plan, frozen)


def prepare_records(party: DataFrame, plan: Plan, model: Model) -> DataFrame:
    """Live records with their key and the model's term frequencies: what blocking and scoring read."""
    return scoring_records(live_records(party), plan, model)


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
