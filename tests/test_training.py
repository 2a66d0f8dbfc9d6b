"""Training: EM recovers planted parameters, u from sampled pairs, frozen term frequencies, the model files."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_mdm.config.matching import BlockingRule, ComparisonSpec, EmSettings, LevelSpec, Thresholds
from customer_mdm.errors import MdmError
from customer_mdm.gold.comparisons import build_plan
from customer_mdm.gold.scoring import FellegiSunterModel, TermFrequencies
from customer_mdm.gold.training import (Session, TrainingReport, all_pairs, estimate, expectation_maximisation,
                                        initial_m, level_shares, load_model, save_model, session_active,
                                        term_frequencies, tf_file, with_term_frequencies)

M = [np.array([0, 0.80, 0.15, 0.05]), np.array([0, 0.90, 0.10]), np.array([0, 0.60, 0.30, 0.10])]
U = [np.array([0, 0.02, 0.08, 0.90]), np.array([0, 0.05, 0.95]), np.array([0, 0.10, 0.20, 0.70])]
N_LEVELS = [4, 3, 4]
SETTINGS = EmSettings(max_iterations=500, tolerance=1e-8, initial_prior=0.3)


def _planted(n: int, prior: float, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Comparison vectors drawn from the planted m/u (5% of values missing), as (pattern, count)."""
    rng = np.random.default_rng(seed)
    is_match = rng.random(n) < prior
    columns = []
    for m, u in zip(M, U):
        drawn = np.where(is_match, rng.choice(len(m), n, p=m), rng.choice(len(u), n, p=u))
        columns.append(np.where(rng.random(n) < 0.05, 0, drawn))
    patterns, counts = np.unique(np.column_stack(columns), axis=0, return_counts=True)
    return patterns, counts


def _start() -> tuple[list[np.ndarray], list[np.ndarray]]:
    m = [np.array([0.0] + [2.0 ** -i for i in range(n - 1)]) for n in N_LEVELS]
    u = [np.array([0.0] + [2.0 ** -(n - 2 - i) for i in range(n - 1)]) for n in N_LEVELS]
    return [a / a.sum() for a in m], [a / a.sum() for a in u]


def test_em_recovers_planted_m_and_u_within_two_hundredths() -> None:
    patterns, counts = _planted(200_000, prior=0.2)
    m0, u0 = _start()
    result = expectation_maximisation(patterns, counts, n_levels=N_LEVELS, m=m0, u=u0, prior=0.3,
                                      settings=SETTINGS, fix_u=False)
    assert result.converged
    assert result.prior == pytest.approx(0.2, abs=0.02)
    for got, planted in zip(result.m + result.u, M + U):
        np.testing.assert_allclose(got[1:], planted[1:], atol=0.02)


def test_em_with_u_fixed_recovers_m_and_the_match_share() -> None:
    patterns, counts = _planted(100_000, prior=0.05, seed=11)
    m0, _ = _start()
    result = expectation_maximisation(patterns, counts, n_levels=N_LEVELS, m=m0, u=U, prior=0.3,
                                      settings=SETTINGS)
    assert result.prior == pytest.approx(0.05, abs=0.01)
    for got, planted in zip(result.m, M):
        np.testing.assert_allclose(got[1:], planted[1:], atol=0.02)
    assert [list(u) for u in result.u] == [list(u) for u in U]


def test_em_stops_at_the_iteration_cap() -> None:
    patterns, counts = _planted(10_000, prior=0.2)
    m0, u0 = _start()
    result = expectation_maximisation(patterns, counts, n_levels=N_LEVELS, m=m0, u=u0, prior=0.3,
                                      settings=EmSettings(max_iterations=3, tolerance=0.0), fix_u=False)
    assert (result.iterations, result.converged) == (3, False)


def test_level_shares_ignore_missing_and_floor_unseen_levels() -> None:
    levels = np.array([[0], [1], [1], [2], [1]])
    (shares,) = level_shares(levels, [4])
    assert shares[0] == 0.0
    np.testing.assert_allclose(shares[1:], [0.75, 0.25, 0.0], atol=1e-5)
    assert shares[3] > 0 and shares[1:].sum() == pytest.approx(1.0)


NAME = ComparisonSpec("first_name", "first_name", (
    LevelSpec("missing", "missing"), LevelSpec("exact", "exact", m=0.7), LevelSpec("nickname", "nickname"),
    LevelSpec("else", "else")), term_frequency=True)


def test_initial_m_takes_configured_seeds_and_halves_the_rest() -> None:
    np.testing.assert_allclose(initial_m(NAME), np.array([0, 0.7, 0.5, 0.25]) / 1.45)


def test_u_comes_from_every_pair_of_the_sample() -> None:
    sample = pa.table({"first_name": ["Ann", "Ann", "Bob", "Robert", None]})
    pairs = all_pairs(sample, ["first_name"])
    assert pairs.num_rows == 10 and pairs.column_names == ["l_first_name", "r_first_name"]
    patterns = pa.table({"first_name": pa.array([1, 3], pa.int8()), "_count": [5, 95]})
    model, report = estimate(build_plan([NAME]), [NAME], sample=sample, patterns=patterns, records=1000,
                             settings=SETTINGS, thresholds=Thresholds(0.9, 0.5))
    exact, nickname, other = model.comparisons[0].levels[1:]
    # 6 pairs with both names: Ann=Ann, Bob~Robert, 4 others
    assert (exact.u, nickname.u, other.u) == pytest.approx((1 / 6, 1 / 6, 4 / 6), abs=1e-5)
    assert report.u_sample_pairs == 10 and report.candidate_pairs == 100
    assert model.prior == pytest.approx(report.candidate_match_share * 100 / (1000 * 999 / 2))


FROZEN = TermFrequencies.of(["first_name"], pa.table({"comparison": ["first_name"] * 3, "value": ["ann", "bob", "zed"],
                                                      "share": [0.5, 0.3, 0.2]}))


def _labelled_model(frequencies: TermFrequencies | None = FROZEN) -> tuple[FellegiSunterModel, TrainingReport]:
    sample = pa.table({"first_name": ["Ann", "Ann", "Bob", "Robert", "Zed"]})
    patterns = pa.table({"first_name": pa.array([1, 2, 3], pa.int8()), "_count": [50, 10, 940],
                         "is_match": [True, True, False]})
    return estimate(build_plan([NAME]), [NAME], sample=sample, patterns=patterns, records=1000, settings=SETTINGS,
                    thresholds=Thresholds(0.9, 0.5), labelled=True, frequencies=frequencies)


def test_model_file_round_trips_with_its_version_and_term_frequencies(tmp_path: Path) -> None:
    model, report = _labelled_model()
    assert [round(level.m, 4) for level in model.comparisons[0].levels[1:]] == [0.8333, 0.1667, 0.0]
    path = tmp_path / "models" / "m.json"
    save_model(model, report, path)
    assert tf_file(path) == tmp_path / "models" / "m.tf.parquet" and tf_file(path).is_file()
    loaded = load_model(path, thresholds=Thresholds(0.9, 0.5))
    assert loaded == model and loaded.term_frequencies.table.equals(FROZEN.table)
    document = json.loads(path.read_text())
    assert model.version.startswith("fs-") and document["training"]["m_from"] == "labels"
    assert document["term_frequencies"] == {"file": "m.tf.parquet", "comparisons": ["first_name"], "rows": 3,
                                            "sha256": hashlib.sha256(tf_file(path).read_bytes()).hexdigest()}
    path.write_text('{"format": "customer_mdm.fellegi_sunter/2", "version": "x"}')
    with pytest.raises(MdmError, match=r"model file .*m.json is damaged \(KeyError: 'comparisons'\); re-run "
                                       "jobs/train_model.py"):
        load_model(path, thresholds=Thresholds(0.9, 0.5))
    path.write_text('{"format": "customer_mdm.fellegi_sunter/1", "version": "x"}')  # before frozen frequencies
    with pytest.raises(MdmError, match=r"m.json is not a customer_mdm.fellegi_sunter/2 model file \(format "
                                       r"'customer_mdm.fellegi_sunter/1'\); re-run jobs/train_model.py"):
        load_model(path, thresholds=Thresholds(0.9, 0.5))
    with pytest.raises(MdmError, match="no trained model at .*nothing.json: run jobs/train_model.py first"):
        load_model(tmp_path / "nothing.json", thresholds=Thresholds(0.9, 0.5))


def test_the_version_covers_the_term_frequencies() -> None:
    def digest(frequencies: TermFrequencies) -> str:
        return _labelled_model(frequencies)[0].version.rsplit("-", 1)[1]

    other = TermFrequencies.of(["first_name"], FROZEN.table.set_column(2, "share", pa.array([0.5, 0.2, 0.3])))
    assert digest(FROZEN) == digest(TermFrequencies.of(["first_name"], FROZEN.table.take([2, 0, 1])))
    assert len({digest(FROZEN), digest(other), digest(TermFrequencies.none_seen(["first_name"]))}) == 3


def test_a_model_whose_term_frequency_file_is_missing_or_altered_is_refused(tmp_path: Path) -> None:
    model, report = _labelled_model()
    path = tmp_path / "m.json"
    save_model(model, report, path)
    pq.write_table(FROZEN.table.set_column(2, "share", pa.array([0.4, 0.4, 0.2])), tf_file(path))
    with pytest.raises(MdmError, match=r"term-frequency file .*m.tf.parquet does not belong to model file .*m.json "
                                       r"\(SHA-256 [0-9a-f]{64}, the model expects [0-9a-f]{64}\); re-run "
                                       "jobs/train_model.py"):
        load_model(path, thresholds=Thresholds(0.9, 0.5))
    tf_file(path).unlink()
    with pytest.raises(MdmError, match=r"term-frequency file .*m.tf.parquet of model file .*m.json is missing; "
                                       "re-run jobs/train_model.py"):
        load_model(path, thresholds=Thresholds(0.9, 0.5))


def test_term_frequencies_are_taken_from_training_records_and_joined_frozen(spark: SparkSession) -> None:
    plan = build_plan([NAME])
    training = spark.createDataFrame([("1", "Smith"), ("2", "SMITH"), ("3", "Smith "), ("4", "Jones"), ("5", None),
                                      ("6", " ")], "id string, first_name string")
    frozen = term_frequencies(training, plan)
    assert frozen.comparisons == ("first_name",)
    assert frozen.table.to_pylist() == [{"comparison": "first_name", "value": "jones", "share": 0.25},
                                        {"comparison": "first_name", "value": "smith", "share": 0.75}]
    scored = spark.createDataFrame([("a", " smith"), ("b", "Jones"), ("c", "Zed"), ("d", None)],
                                   "id string, first_name string")
    expected = spark.createDataFrame([("a", " smith", 0.75), ("b", "Jones", 0.25), ("c", "Zed", None),
                                      ("d", None, None)], "id string, first_name string, tf_first_name double")
    got = with_term_frequencies(scored, plan, frozen)  # Zed: never seen in training, so no share (not 0)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    no_model = expected.withColumn("tf_first_name", F.lit(None).cast("double"))  # e.g. the weighted model
    assert_df_equality(with_term_frequencies(scored, plan, None), no_model, ignore_row_order=True,
                       ignore_nullable=True)


def test_sessions_train_only_comparisons_their_keys_do_not_use() -> None:
    specs = [ComparisonSpec(name, name, (LevelSpec("missing", "missing"), LevelSpec("exact", "exact"),
                                         LevelSpec("else", "else"))) for name in ("last_name", "postcode", "email")]
    plan = build_plan(specs)
    assert session_active(plan, BlockingRule("r", ("soundex(last_name)", "postcode"))) == (False, False, True)
    rng = np.random.default_rng(3)
    vectors = np.unique(rng.integers(1, 3, size=(5_000, 3)), axis=0, return_counts=True)
    patterns = pa.table({**{s.name: pa.array(vectors[0][:, j], pa.int8()) for j, s in enumerate(specs)},
                         "_count": vectors[1]})
    sample = pa.table({s.name: ["a", "b", "a", "c"] for s in specs})

    def fit(*sessions: Session) -> np.ndarray:
        model, _ = estimate(plan, specs, sample=sample, patterns=patterns, records=10_000, settings=SETTINGS,
                            thresholds=Thresholds(0.9, 0.5), sessions=sessions)
        return np.array([[level.m for level in c.levels] for c in model.comparisons])

    one = fit(Session("a", patterns, (True, True, False)))
    twice = fit(Session("a", patterns, (True, True, False)), Session("b", patterns, (True, True, False)),
                Session("idle", patterns, (False, False, False)))
    np.testing.assert_allclose(twice, one)  # the mean of equal estimates; an idle session adds nothing
    np.testing.assert_allclose(one[2], [1.0, *initial_m(specs[2])[1:]])  # never trained: keeps its seed
    assert not np.allclose(one[0], [1.0, *initial_m(specs[0])[1:]])


def test_candidate_u_is_refitted_on_candidate_pairs_and_keeps_random_u_for_term_frequencies() -> None:
    spec = ComparisonSpec("last_name", "last_name", (LevelSpec("missing", "missing"), LevelSpec("exact", "exact"),
                                                     LevelSpec("else", "else")), term_frequency=True)
    plan = build_plan([spec])
    sample = pa.table({"last_name": ["Lee", "Lee", "Khan", "Diaz", "Ng"]})  # 1 of 10 random pairs agrees
    # candidates: half agree on the surname (households), matches always agree
    patterns = pa.table({"last_name": pa.array([1, 2], pa.int8()), "_count": [600, 400]})
    fixed, fixed_report = estimate(plan, [spec], sample=sample, patterns=patterns, records=1000,
                                   settings=SETTINGS, thresholds=Thresholds(0.9, 0.5))
    refitted, report = estimate(plan, [spec], sample=sample, patterns=patterns, records=1000, settings=SETTINGS,
                                thresholds=Thresholds(0.9, 0.5), candidate_u=True)
    assert fixed.comparisons[0].levels[1].u == pytest.approx(0.1) and fixed.comparisons[0].tf_u is None
    assert refitted.comparisons[0].tf_u == pytest.approx(0.1)
    assert refitted.comparisons[0].levels[1].u > 0.1  # agreement is common among non-matching candidates
    assert refitted.prior == pytest.approx(report.candidate_match_share)
    assert fixed.prior == pytest.approx(fixed_report.candidate_match_share * 1000 / (1000 * 999 / 2))
