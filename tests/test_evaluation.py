"""Pairwise evaluation against truth: counts, thresholds, the curve, the readable table."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import SparkSession

from customer_mdm.gold.evaluation import Point, evaluate, evaluate_scores


def test_precision_recall_f1_at_the_threshold_and_at_the_best_one() -> None:
    probability = np.array([0.99, 0.95, 0.9, 0.7, 0.6, 0.2])
    is_match = np.array([True, True, False, True, False, False])
    result = evaluate_scores(probability, is_match, true_pairs=4, threshold=0.9)
    assert result.at_threshold == Point(0.9, 2 / 3, 0.5, 2 * (2 / 3 * 0.5) / (2 / 3 + 0.5), 2, 1, 2)
    assert result.best == Point(0.7, 0.75, 0.75, 0.75, 3, 1, 1)  # the fourth true pair was never scored
    assert [(p.threshold, p.true_positives, p.false_positives) for p in result.curve] == [
        (0.99, 1, 0), (0.95, 2, 0), (0.9, 2, 1), (0.7, 3, 1), (0.6, 3, 2), (0.2, 3, 3)]
    assert (result.scored_pairs, result.scored_true_pairs) == (6, 3)


def test_ties_are_one_threshold_and_the_table_reads() -> None:
    result = evaluate_scores(np.array([0.8, 0.8, 0.1]), np.array([True, False, True]), true_pairs=2,
                             threshold=0.5)
    assert [(p.threshold, p.true_positives, p.false_positives) for p in result.curve] == [(0.8, 1, 1), (0.1, 2, 1)]
    lines = result.table().splitlines()
    assert lines[1].split() == ["configured", "threshold", "0.5000", "0.5000", "0.5000", "0.5000", "1", "1", "1"]
    assert lines[3] == "true pairs 2; scored pairs 3; true pairs scored 2 (blocking recall 1.0000)"


def test_evaluate_labels_scored_pairs_with_the_truth(spark: SparkSession) -> None:
    scored = spark.createDataFrame([("crm", "1", "web", "1", 0.99), ("crm", "2", "web", "2", 0.97),
                                    ("crm", "3", "web", "9", 0.5)],
                                   "l_source_system string, l_source_record_id string, r_source_system string, "
                                   "r_source_record_id string, match_probability double")
    truth = spark.createDataFrame([("crm", "1", "A"), ("web", "1", "A"), ("billing", "1", "A"), ("crm", "2", "B"),
                                   ("web", "2", "C"), ("crm", "3", "D"), ("crm", "4", "D")],
                                  "source_system string, source_record_id string, entity_id string")
    records = truth.select("source_system", "source_record_id").where("source_system != 'billing'") \
        .union(spark.createDataFrame([("web", "9")], "source_system string, source_record_id string"))
    result = evaluate(scored, truth, records, threshold=0.9)
    # true pairs among resolved records: crm1-web1 (A), crm3-crm4 (D); web9 has no truth row
    assert (result.true_pairs, result.at_threshold.true_positives, result.at_threshold.false_positives) == (2, 1, 1)
    assert (result.best.threshold, result.best.f1) == (0.99, pytest.approx(2 / 3))
