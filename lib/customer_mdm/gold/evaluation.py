"""Pairwise precision, recall and F1 of scored pairs against labelled truth, and the precision-recall curve.

A true pair is two records of one truth entity; recall counts every true
pair among the records resolved, so a pair blocking never proposed is a
miss. A pair is predicted a match when its probability is at or above the
threshold. Records without a truth row belong to no pair of the truth.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from customer_mdm.gold.blocking import KEY_COLUMNS

CURVE_POINTS = 200


@dataclass(frozen=True)
class Point:
    threshold: float
    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int


@dataclass(frozen=True)
class Evaluation:
    true_pairs: int
    scored_pairs: int
    scored_true_pairs: int  # true pairs among the scored ones: the recall blocking allows
    at_threshold: Point
    best: Point
    curve: tuple[Point, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        header = f"{'':<22}{'threshold':>10}{'precision':>11}{'recall':>9}{'F1':>9}{'TP':>10}{'FP':>9}{'FN':>9}"
        rows = [header]
        for name, p in (("configured threshold", self.at_threshold), ("best threshold", self.best)):
            rows.append(f"{name:<22}{p.threshold:>10.4f}{p.precision:>11.4f}{p.recall:>9.4f}{p.f1:>9.4f}"
                        f"{p.true_positives:>10,}{p.false_positives:>9,}{p.false_negatives:>9,}")
        rows.append(f"true pairs {self.true_pairs:,}; scored pairs {self.scored_pairs:,}; true pairs scored "
                    f"{self.scored_true_pairs:,} (blocking recall "
                    f"{self.scored_true_pairs / self.true_pairs if self.true_pairs else 0.0:.4f})")
        return "\n".join(rows)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)


def _point(threshold: float, tp: int, fp: int, true_pairs: int) -> Point:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / true_pairs if true_pairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Point(float(threshold), precision, recall, f1, int(tp), int(fp), int(true_pairs - tp))


def evaluate_scores(probability: np.ndarray, is_match: np.ndarray, *, true_pairs: int,
                    threshold: float) -> Evaluation:
    """The evaluation of scored pairs given as arrays: probabilities and whether each pair is a true pair."""
    order = np.argsort(-probability, kind="stable")
    p, match = probability[order], is_match[order].astype(bool)
    tp, fp = np.cumsum(match), np.cumsum(~match)
    last_of_value = np.flatnonzero(np.append(p[1:] != p[:-1], True))  # predicted set at each distinct threshold
    points = [_point(p[i], tp[i], fp[i], true_pairs) for i in last_of_value]
    at = int(np.count_nonzero(p >= threshold))
    configured = _point(threshold, tp[at - 1] if at else 0, fp[at - 1] if at else 0, true_pairs)
    best = max(points, key=lambda q: (q.f1, q.threshold)) if points else configured
    step = max(1, len(points) // CURVE_POINTS)
    curve = tuple(points[::step]) + ((points[-1],) if points and (len(points) - 1) % step else ())
    return Evaluation(true_pairs=true_pairs, scored_pairs=len(p), scored_true_pairs=int(match.sum()),
                      at_threshold=configured, best=best, curve=curve)


def count_true_pairs(records: DataFrame, truth: DataFrame) -> int:
    """Pairs of the resolved records that share a truth entity."""
    sizes = records.select(*KEY_COLUMNS).join(truth, list(KEY_COLUMNS)).groupBy("entity_id") \
        .agg(F.count(F.lit(1)).alias("n"))
    row = sizes.agg(F.sum(F.col("n") * (F.col("n") - 1) / 2).alias("pairs")).first()
    return int(row["pairs"] or 0) if row is not None else 0


def label_pairs(scored: DataFrame, truth: DataFrame) -> DataFrame:
    """Scored pairs with ``is_match``: both records in the truth under one entity."""
    left = truth.select(F.col("source_system").alias("l_source_system"),
                        F.col("source_record_id").alias("l_source_record_id"), F.col("entity_id").alias("_le"))
    right = truth.select(F.col("source_system").alias("r_source_system"),
                         F.col("source_record_id").alias("r_source_record_id"), F.col("entity_id").alias("_re"))
    return scored.join(left, ["l_source_system", "l_source_record_id"], "left") \
        .join(right, ["r_source_system", "r_source_record_id"], "left") \
        .withColumn("is_match", F.coalesce(F.col("_le") == F.col("_re"), F.lit(False))).drop("_le", "_re")


def evaluate(scored: DataFrame, truth: DataFrame, records: DataFrame, *, threshold: float) -> Evaluation:
    """Labels the scored pairs and evaluates them on the driver (two narrow columns are collected)."""
    labelled = label_pairs(scored, truth).select("match_probability", "is_match").toArrow()
    probability = np.asarray(pc.fill_null(labelled.column("match_probability"), 0.0).to_numpy(), dtype=float)
    is_match = np.asarray(labelled.column("is_match").to_numpy(zero_copy_only=False), dtype=bool)
    return evaluate_scores(probability, is_match, true_pairs=count_true_pairs(records, truth), threshold=threshold)
