"""Entity resolution quality and speed, side by side with Splink on the same records and truth.

    python bench/bench_matching.py [--records 100000] [--quick] [--splink-spark-max 100000]

Generated data (seed 42, documented noise profile with hard negatives) goes
through the real pipeline, files -> bronze -> silver, into a lake kept under
<tmp>/customer_mdm_bench_matching/r<records>-s42 (built once, reused by later
runs of the same size). Then, on the live silver.party records:

- ours: ``train`` (u from random pairs, EM for m and the prior), then block,
  compare and score every candidate pair with conf/matching.yaml's settings;
- Splink 5 on DuckDB and on Spark (the Spark-4 similarity jar shipped inside
  the Splink wheel, put on ``spark.jars``: no Maven), with the same blocking
  rules and the closest comparisons Splink has (no nickname or day/month
  transposition level; token-set becomes Jaro-Winkler; normalised
  Levenshtein >= 0.85 becomes Damerau-Levenshtein <= 2), the same text
  case-folding, u from random pairs, lambda from deterministic rules and EM
  sessions blocked on names and on birth date.

"Score seconds" is blocking + comparing + scoring, with every pair's keys and
probability collected to the driver, for each engine. Pairwise P/R/F1 is
measured against every true pair among the live records (so pairs blocking
missed count as misses), at the configured auto-merge threshold and at each
engine's best threshold.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import jellyfish
import numpy as np
import pandas as pd
import pyarrow as pa
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from harness import REPO, ProcessTreeMonitor, Target, record, start, timed
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from splink import DuckDBAPI, Linker, SettingsCreator, SparkAPI, block_on
from splink.backends.spark import similarity_jar_location

from customer_mdm.config import PipelineConfig, load_config
from customer_mdm.config.matching import MatchingConfig, load_matching
from customer_mdm.config.quality import load_quality_rules
from customer_mdm.gold.blocking import blocking_report, block
from customer_mdm.gold.evaluation import Evaluation, evaluate_scores
from customer_mdm.gold.scoring import score_pairs
from customer_mdm.gold.training import train
from customer_mdm.hops.batch import file_sources
from customer_mdm.hops.ingest_files import ingest_source
from customer_mdm.hops.match import PARTY, candidate_pairs, checked_plan, live_records, scoring_records
from customer_mdm.hops.refine import refine_source
from customer_mdm.ops.runs import new_run_id
from customer_mdm.samples.generator import generate
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

log = logging.getLogger("bench.matching")
SEED = 42
TEXT = ("first_name", "last_name", "email", "phone_e164", "address_line1", "postcode")


def prepare(records: int) -> tuple[Path, PipelineConfig]:
    """Generated files -> bronze -> silver in a reusable project folder (built once per size)."""
    project = Path(tempfile.gettempdir()) / "customer_mdm_bench_matching" / f"r{records}-s{SEED}"
    config_dir = project / "conf"
    if not (project / "ready").exists():
        shutil.rmtree(project, ignore_errors=True)
        shutil.copytree(REPO / "conf", config_dir)
        generate(project / "data" / "landing", records=records, seed=SEED)
    config = load_config(config_dir, lake=project / "lake")
    return project, config


def build_silver(spark: SparkSession, project: Path, config: PipelineConfig) -> None:
    if (project / "ready").exists():
        return
    store = open_store(spark, config)
    sources = file_sources(config)
    run_id = new_run_id("bench")
    rules = load_quality_rules(config.conf_dir / "quality.yaml", known_sources=[s.name for s in config.sources])
    for source in sources:  # files -> bronze -> silver only: this benchmark times scoring on its own
        ingest_source(spark, store, config, source, run_id=run_id)
        refine_source(store, source, rules=rules, run_id=run_id, mode="batch")
    (project / "ready").touch()


def truth_entities(project: Path) -> dict[str, str]:
    truth = pd.read_csv(project / "data" / "truth" / "truth.csv", dtype=str)
    return dict(zip(truth.source_system + "\u001f" + truth.source_record_id, truth.entity_id))


def true_pair_count(rids: pd.Series, entity: dict[str, str]) -> int:
    sizes = rids.map(entity).dropna().value_counts()
    return int((sizes * (sizes - 1) // 2).sum())


def judged(left: np.ndarray, right: np.ndarray, probability: np.ndarray, entity: dict[str, str], *,
           true_pairs: int, threshold: float) -> Evaluation:
    le = pd.Series(left).map(entity)
    re = pd.Series(right).map(entity)
    is_match = (le == re).fillna(False).to_numpy(dtype=bool) & le.notna().to_numpy()
    return evaluate_scores(probability.astype(float), is_match, true_pairs=true_pairs, threshold=threshold)


def _phase(prefix: str, monitor: ProcessTreeMonitor) -> dict[str, Any]:
    return {prefix + name: value for name, value in monitor.figures().items()}


def quality(prefix: str, result: Evaluation) -> dict[str, Any]:
    return {f"{prefix}_precision": round(result.at_threshold.precision, 4),
            f"{prefix}_recall": round(result.at_threshold.recall, 4),
            f"{prefix}_f1": round(result.at_threshold.f1, 4),
            f"{prefix}_best_threshold": round(result.best.threshold, 6),
            f"{prefix}_best_precision": round(result.best.precision, 4),
            f"{prefix}_best_recall": round(result.best.recall, 4),
            f"{prefix}_best_f1": round(result.best.f1, 4),
            f"{prefix}_blocking_recall": round(result.scored_true_pairs / result.true_pairs, 4)}


def run_ours(spark: SparkSession, records: DataFrame, matching: MatchingConfig, entity: dict[str, str], *,
             true_pairs: int) -> dict[str, Any]:
    plan = checked_plan(spark, matching)
    with ProcessTreeMonitor() as training:
        started = time.perf_counter()
        model, report = train(records, plan, matching)
        train_seconds = timed(started)
    with ProcessTreeMonitor() as scoring:
        started = time.perf_counter()
        blocked = block(records, matching.blocking)
        scored = score_pairs(plan, model, candidate_pairs(scoring_records(records, plan, model), blocked, plan)) \
            .select(F.concat_ws("\u001f", "l_source_system", "l_source_record_id").alias("l"),
                    F.concat_ws("\u001f", "r_source_system", "r_source_record_id").alias("r"),
                    "match_probability").toArrow()
        score_seconds = timed(started)
    skipped = blocking_report(blocked, records=report.records, spec=matching.blocking)
    result = judged(scored.column("l").to_numpy(zero_copy_only=False), scored.column("r").to_numpy(
        zero_copy_only=False), scored.column("match_probability").to_numpy(), entity, true_pairs=true_pairs,
        threshold=matching.thresholds.auto_merge)
    return {"ours_model_version": model.version, "ours_train_seconds": train_seconds,
            "ours_em_iterations": report.em_iterations, "ours_score_seconds": score_seconds,
            "ours_pairs": scored.num_rows, "ours_pairs_per_second": round(scored.num_rows / score_seconds),
            "ours_skipped_blocks": skipped.skipped_blocks, "ours_pairs_skipped": skipped.pairs_skipped,
            **quality("ours", result), **_phase("ours_train_", training), **_phase("ours_score_", scoring)}


def splink_settings() -> SettingsCreator:
    def name(column: str) -> cl.CustomComparison:
        return cl.CustomComparison(output_column_name=column, comparison_levels=[
            cll.NullLevel(column), cll.ExactMatchLevel(column, term_frequency_adjustments=True),
            cll.JaroWinklerLevel(column, 0.92), cll.JaroWinklerLevel(column, 0.80), cll.ElseLevel()])

    def exact(column: str) -> cl.CustomComparison:
        return cl.CustomComparison(output_column_name=column, comparison_levels=[
            cll.NullLevel(column), cll.ExactMatchLevel(column), cll.ElseLevel()])

    return SettingsCreator(
        link_type="dedupe_only", unique_id_column_name="rid",
        blocking_rules_to_generate_predictions=[
            block_on("email"), block_on("phone_e164"), block_on("last_name_soundex", "postcode"),
            block_on("substr(first_name, 1, 1)", "date_of_birth"), block_on("last_name", "date_of_birth"),
            block_on("address_line1", "postcode")],
        comparisons=[
            name("first_name"), name("last_name"),
            cl.CustomComparison(output_column_name="date_of_birth", comparison_levels=[
                cll.NullLevel("date_of_birth"), cll.ExactMatchLevel("date_of_birth"),
                cll.AbsoluteDateDifferenceLevel("date_of_birth", input_is_string=False, threshold=1,
                                                metric="year"), cll.ElseLevel()]),
            cl.CustomComparison(output_column_name="email", comparison_levels=[
                cll.NullLevel("email"), cll.ExactMatchLevel("email"), cll.DamerauLevenshteinLevel("email", 2),
                cll.ElseLevel()]),
            exact("phone_e164"),
            cl.CustomComparison(output_column_name="address_line1", comparison_levels=[
                cll.NullLevel("address_line1"), cll.ExactMatchLevel("address_line1"),
                cll.JaroWinklerLevel("address_line1", 0.9), cll.JaroWinklerLevel("address_line1", 0.7),
                cll.ElseLevel()]),
            exact("postcode")],
        retain_intermediate_calculation_columns=False, retain_matching_columns=False)


def splink_input(records: DataFrame) -> pd.DataFrame:
    """The same live records, case-folded like our comparisons, with a soundex column for blocking."""
    frame = records.select(F.col("_rid").alias("rid"), *[F.lower(F.trim(F.col(c))).alias(c) for c in TEXT],
                           "date_of_birth").toPandas()
    frame = frame.replace({"": None})
    frame["last_name_soundex"] = frame["last_name"].map(lambda v: jellyfish.soundex(v) if v else None)
    return frame


def run_splink(prefix: str, api: Any, frame: Any, entity: dict[str, str], *, true_pairs: int,
               threshold: float) -> dict[str, Any]:
    with ProcessTreeMonitor() as training:
        started = time.perf_counter()
        linker = Linker(api.register(frame), splink_settings())
        linker.training.estimate_probability_two_random_records_match(
            [block_on("email"), block_on("first_name", "last_name", "date_of_birth")], recall=0.8)
        linker.training.estimate_u_using_random_sampling(max_pairs=2_000_000, seed=SEED)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "last_name"))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
        train_seconds = timed(started)
    with ProcessTreeMonitor() as scoring:
        started = time.perf_counter()
        predictions = linker.inference.predict()
        table = pa.Table.from_pandas(predictions.as_pandas_dataframe()[["rid_l", "rid_r", "match_probability"]])
        score_seconds = timed(started)
    result = judged(table.column("rid_l").to_numpy(zero_copy_only=False),
                    table.column("rid_r").to_numpy(zero_copy_only=False),
                    table.column("match_probability").to_numpy(), entity, true_pairs=true_pairs,
                    threshold=threshold)
    return {f"{prefix}_train_seconds": train_seconds, f"{prefix}_score_seconds": score_seconds,
            f"{prefix}_pairs": table.num_rows, f"{prefix}_pairs_per_second": round(table.num_rows / score_seconds),
            **quality(prefix, result), **_phase(f"{prefix}_train_", training), **_phase(f"{prefix}_score_", scoring)}


def main() -> int:
    args = start(__doc__ or "", records=(100_000, 5_000), splink_spark_max=(100_000, 100_000))
    project, config = prepare(args.records)
    jar = similarity_jar_location()
    spark = build_session(config.spark.__class__(**{**config.spark.__dict__,
                                                    "conf": {**config.spark.conf, "spark.jars": jar}}))
    try:
        started = time.perf_counter()
        build_silver(spark, project, config)
        silver_seconds = timed(started)
        store = open_store(spark, config)
        matching = load_matching(config.conf_dir / "matching.yaml", project_root=project)
        records = live_records(store.read(PARTY)).cache()
        live = records.count()
        entity = truth_entities(project)
        frame = splink_input(records)
        true_pairs = true_pair_count(frame["rid"], entity)
        log.info("bench matching: %d live silver records, %d true pairs", live, true_pairs)
        figures: dict[str, Any] = {"live_records": live, "true_pairs": true_pairs,
                                   "silver_build_seconds": silver_seconds}
        figures |= run_ours(spark, records, matching, entity, true_pairs=true_pairs)
        threshold = matching.thresholds.auto_merge
        figures |= run_splink("splink_duckdb", DuckDBAPI(), frame, entity, true_pairs=true_pairs,
                              threshold=threshold)
        if live <= args.splink_spark_max:
            spark.sparkContext.setCheckpointDir(str(project / "splink_checkpoints"))  # Splink breaks lineage
            spark_frame = spark.createDataFrame(frame).repartition(config.spark.shuffle_partitions)
            figures |= run_splink("splink_spark", SparkAPI(spark_session=spark), spark_frame, entity,
                                  true_pairs=true_pairs, threshold=threshold)
        records.unpersist()
    finally:
        spark.stop()
    figures["f1_margin_vs_splink_duckdb"] = round(figures["ours_best_f1"] - figures["splink_duckdb_best_f1"], 4)
    targets = [Target("ours_f1", ">=", 0.95), Target("f1_margin_vs_splink_duckdb", ">=", 0.0)]
    if "splink_spark_pairs_per_second" in figures:
        figures["f1_margin_vs_splink_spark"] = round(figures["ours_best_f1"] - figures["splink_spark_best_f1"], 4)
        figures["pairs_per_second_ratio_vs_splink_spark"] = round(
            figures["ours_pairs_per_second"] / figures["splink_spark_pairs_per_second"], 3)
        targets += [Target("f1_margin_vs_splink_spark", ">=", 0.0),
                    Target("pairs_per_second_ratio_vs_splink_spark", ">=", 1.0)]
    record("matching", figures, workload={"records_requested": args.records, "seed": SEED,
                                          "splink": "5.0.0", "settings": "conf/matching.yaml"}, targets=targets)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
