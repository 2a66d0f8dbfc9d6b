"""Scoring: every pair explainable (its terms sum to its weight), frozen term frequencies, weighted model, decisions."""
from __future__ import annotations

import dataclasses
import math

import pyarrow as pa
import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from customer_mdm.config.matching import BlockingRule, BlockingSpec, LevelSpec, Signal, Thresholds
from customer_mdm.gold.blocking import block
from customer_mdm.gold.comparisons import Comparison, Plan, build_level
from customer_mdm.gold.scoring import (SCORED_SCHEMA, ComparisonParams, FellegiSunterModel, LevelParams,
                                       TermFrequencies, WeightedModel, check_plan, score_arrow, score_pairs)
from customer_mdm.gold.training import term_frequencies
from customer_mdm.hops.match import candidate_pairs, live_records, prepare_records

THRESHOLDS = Thresholds(auto_merge=0.9, review=0.5)


def _comparison(name: str, *, tf: bool = False, fuzzy: bool = False) -> Comparison:
    specs = [LevelSpec("missing", "missing"), LevelSpec("exact", "exact")]
    if fuzzy:
        specs.append(LevelSpec("similar", "jw >= 0.9", function="jaro_winkler", threshold=0.9))
    specs.append(LevelSpec("else", "else"))
    return Comparison(name, name, tuple(build_level(s) for s in specs), term_frequency=tf)


PLAN: Plan = (_comparison("last_name", tf=True, fuzzy=True), _comparison("email"))
MODEL = FellegiSunterModel(
    version="fs-test", prior=0.001, thresholds=THRESHOLDS,
    comparisons=(ComparisonParams("last_name", (LevelParams("missing", 1, 1), LevelParams("exact", 0.8, 0.01),
                                                LevelParams("jw >= 0.9", 0.15, 0.04), LevelParams("else", 0.05, 0.95))),
                 ComparisonParams("email", (LevelParams("missing", 1, 1), LevelParams("exact", 0.7, 0.0001),
                                            LevelParams("else", 0.3, 0.9999)))),
    term_frequencies=TermFrequencies.none_seen(["last_name"]))  # the pairs below carry their own frequencies


def _pairs(rows: list[tuple[str | None, ...]]) -> pa.Table:
    names = ["l_source_system", "l_source_record_id", "r_source_system", "r_source_record_id", "blocking_rule",
             "l_last_name", "r_last_name", "l_email", "r_email"]
    table = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
    return table


def _with_tf(table: pa.Table, left: list[float | None], right: list[float | None]) -> pa.Table:
    return table.append_column("l_tf_last_name", pa.array(left, pa.float64())) \
        .append_column("r_tf_last_name", pa.array(right, pa.float64()))


ROWS = [
    ("crm", "1", "crm", "2", "email", "Smith", "Smith", "a@x.com", "a@x.com"),
    ("crm", "1", "web", "7", "email", "Zyzzyva", "Zyzzyva", "a@x.com", "b@x.com"),
    ("crm", "3", "web", "8", "phone", "Jonson", "Johnson", None, "c@x.com"),
    ("crm", "4", "web", "9", "phone", "Brown", "Green", "d@x.com", "e@x.com"),
]


def test_every_pair_is_explained_by_terms_that_sum_to_its_weight() -> None:
    scored = score_arrow(PLAN, MODEL, _with_tf(_pairs(ROWS), [0.02, 0.0001, 0.001, 0.01], [0.02, 0.0001, 0.003,
                                                                                           0.001]))
    for row in scored.to_pylist():
        terms = row["explanation"]
        assert [t["name"] for t in terms] == ["last_name", "email"]
        assert row["prior_weight"] + sum(t["weight"] for t in terms) == pytest.approx(row["match_weight"])
        assert row["match_probability"] == pytest.approx(1 / (1 + 2 ** -row["match_weight"]))
    levels = [[t["level"] for t in row["explanation"]] for row in scored.to_pylist()]
    assert levels == [["exact", "exact"], ["exact", "else"], ["jw >= 0.9", "missing"], ["else", "else"]]
    fuzzy = scored.to_pylist()[2]["explanation"][0]["weight"]
    assert fuzzy == pytest.approx(math.log2(0.15 / 0.04))  # term frequency adjusts the exact level only


def test_a_common_surname_match_scores_below_a_rare_one_by_log2_of_the_u_ratio() -> None:
    rows = [ROWS[0], ("crm", "5", "web", "6", "email", "Zyzzyva", "Zyzzyva", "a@x.com", "a@x.com")]
    scored = score_arrow(PLAN, MODEL, _with_tf(_pairs(rows), [0.02, 0.00001], [0.01, 0.00001])).to_pylist()
    common, rare = (r["explanation"][0]["weight"] for r in scored)
    assert common == pytest.approx(math.log2(0.8 / 0.02))  # log2(m/u) + log2(u / max tf) = log2(m / tf)
    assert rare == pytest.approx(math.log2(0.8 / 0.00001))
    assert rare - common == pytest.approx(math.log2(0.02 / 0.00001))
    assert scored[0]["match_probability"] < scored[1]["match_probability"]


def test_decisions_follow_the_thresholds() -> None:
    scored = score_arrow(PLAN, MODEL, _with_tf(_pairs(ROWS), [0.01] * 4, [0.01] * 4)).to_pylist()
    assert [(r["decision"], r["match_probability"] >= 0.9, r["match_probability"] < 0.5) for r in scored] == [
        ("auto_merge", True, False), ("no_match", False, True), ("no_match", False, True),
        ("no_match", False, True)]
    middle = dataclasses.replace(MODEL, version="fs-mid", prior=0.5, thresholds=Thresholds(0.999, 0.5))
    assert score_arrow(PLAN, middle, _with_tf(_pairs(ROWS[1:2]), [0.01], [0.01])).column("decision").to_pylist() \
        == ["review"]


def test_missing_term_frequency_columns_are_named() -> None:
    with pytest.raises(ValueError, match=r"comparison last_name uses term frequencies but the pairs lack "
                                         r"\['l_tf_last_name', 'r_tf_last_name'\]"):
        score_arrow(PLAN, MODEL, _pairs(ROWS))


def test_a_model_trained_for_other_levels_or_term_frequencies_is_refused() -> None:
    plan = (_comparison("last_name", tf=True), _comparison("email"))
    with pytest.raises(ValueError, match="model fs-test was trained for comparisons .* re-run jobs/train_model.py"):
        check_plan(plan, MODEL)
    plan = (_comparison("last_name", fuzzy=True), _comparison("email", tf=True))
    with pytest.raises(ValueError, match=r"model fs-test has term frequencies for \['last_name'\] but the "
                                         r"configuration asks for \['email'\]; re-run jobs/train_model.py"):
        check_plan(plan, MODEL)


def test_weighted_model_scores_present_signals_only() -> None:
    model = WeightedModel("weighted-test", (
        Signal("email", 3.0, (("email", "exact", 1.0),)),
        Signal("last_name", 2.0, (("last_name", "exact", 1.0), ("last_name", "jw >= 0.9", 0.5))),
        Signal("both_exact", 1.0, (("last_name", "exact", 1.0), ("email", "exact", 1.0)), all_of=True)),
        THRESHOLDS)
    scored = score_arrow(PLAN, model, _pairs(ROWS)).to_pylist()
    assert [round(r["match_probability"], 6) for r in scored] == [1.0, round(2 / 6, 6), 0.5, 0.0]
    assert [r["decision"] for r in scored] == ["auto_merge", "no_match", "review", "no_match"]
    third = scored[2]["explanation"]  # email missing: only the last_name signal counts, at half credit
    assert [(t["name"], t["level"], t["weight"]) for t in third] == [
        ("email", "missing", 0.0), ("last_name", "jw >= 0.9", 0.5), ("both_exact", "jw >= 0.9, missing", 0.0)]
    assert all(r["match_weight"] == pytest.approx(sum(t["weight"] for t in r["explanation"])) for r in scored)


def test_spark_scores_exactly_like_the_driver(spark: SparkSession) -> None:
    table = _with_tf(_pairs(ROWS), [0.02, 0.0001, 0.001, 0.01], [0.02, 0.0001, 0.003, 0.001])
    expected = spark.createDataFrame(score_arrow(PLAN, MODEL, table).to_pandas(), SCORED_SCHEMA)
    got = score_pairs(PLAN, MODEL, spark.createDataFrame(table.to_pandas()))
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


CANDIDATE = dataclasses.replace(MODEL, version="fs-cand", prior=0.5, comparisons=(
    ComparisonParams("last_name", (LevelParams("missing", 1, 1), LevelParams("exact", 0.8, 0.4),
                                   LevelParams("jw >= 0.9", 0.15, 0.2), LevelParams("else", 0.05, 0.4)), tf_u=0.01),
    MODEL.comparisons[1]))


def test_term_frequency_adjustment_uses_the_random_pair_u_when_the_model_keeps_one() -> None:
    scored = score_arrow(PLAN, CANDIDATE, _with_tf(_pairs(ROWS[:1]), [0.02], [0.005])).to_pylist()
    assert scored[0]["explanation"][0]["weight"] == pytest.approx(math.log2(0.8 / 0.4) + math.log2(0.01 / 0.02))


def test_a_value_training_never_saw_gets_the_plain_u_of_its_level() -> None:
    """Unseen (null frequency) means no adjustment, not a share of 0; one side seen: its share counts (as Splink)."""
    rows = [ROWS[0], ROWS[0], ROWS[1]]
    for model, u in ((MODEL, 0.01), (CANDIDATE, 0.4)):
        scored = score_arrow(PLAN, model, _with_tf(_pairs(rows), [None, None, 0.02], [None, 0.005, None]))
        unseen, one_seen, other_seen = (r["explanation"][0]["weight"] for r in scored.to_pylist())
        assert unseen == pytest.approx(math.log2(0.8 / u))
        tf_u = model.comparisons[0].tf_u or u
        assert one_seen == pytest.approx(math.log2(0.8 / u) + math.log2(tf_u / 0.005))
        assert other_seen == pytest.approx(math.log2(0.8 / u) + math.log2(tf_u / 0.02))


def _party(spark: SparkSession, rows: list[tuple[str, str, str]]) -> DataFrame:
    return spark.createDataFrame([("crm", key, False, last, email) for key, last, email in rows],
                                 "source_system string, source_record_id string, is_deleted boolean, "
                                 "last_name string, email string")


def _pair_scored(party: DataFrame, model: FellegiSunterModel | WeightedModel) -> DataFrame:
    """Hop 2's path: live records with the model's frequencies, blocked on email, scored; the pair 1-2 only."""
    records = prepare_records(party, PLAN, model)
    blocked = block(records, BlockingSpec((BlockingRule("email", ("email",)),), max_block_size=100))
    return score_pairs(PLAN, model, candidate_pairs(records, blocked, PLAN)) \
        .where("l_source_record_id = '1' AND r_source_record_id = '2'").drop("blocking_rule")


def test_a_pair_scores_the_same_whichever_other_records_exist(spark: SparkSession) -> None:
    """A stream increment sees few records, a batch run all: the frozen frequencies keep the pair's score."""
    pair = [("1", "Smith", "a@x.com"), ("2", "SMITH", "a@x.com")]
    training = _party(spark, pair + [(f"t{i}", "Smith" if i < 3 else f"Name{i}", f"t{i}@x.com") for i in range(18)])
    model = dataclasses.replace(MODEL, term_frequencies=term_frequencies(live_records(training), PLAN))
    alone = _party(spark, pair)
    crowded = _party(spark, pair + [(f"o{i}", "Smith" if i % 2 else "Jones", f"o{i}@x.com") for i in range(40)])
    live_shares = [term_frequencies(live_records(p), PLAN).table for p in (alone, crowded)]
    assert not live_shares[0].equals(live_shares[1])  # what the live computation used to score with
    first = _pair_scored(alone, model)
    assert_df_equality(_pair_scored(crowded, model), first, ignore_nullable=True)
    (row,) = first.collect()
    assert row["explanation"][0]["weight"] == pytest.approx(math.log2(0.8 / (5 / 20)))  # Smith: 5 of 20 trained
    weighted = WeightedModel("weighted-test", (Signal("last_name", 1.0, (("last_name", "exact", 1.0),)),),
                             THRESHOLDS)  # no term frequencies: null columns, same scores
    assert [r["match_probability"] for r in _pair_scored(crowded, weighted).collect()] == [1.0]
