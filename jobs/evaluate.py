"""Evaluate the scored pairs of gold.match_pairs against labelled truth: pairwise precision, recall, F1.

Prints a readable table (at the configured auto-merge threshold and at the
best threshold) and writes the full result, with the precision-recall curve
as data, to --json.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyspark.sql import functions as F

from customer_mdm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, job_config, job_parser, parse
from customer_mdm.config.matching import load_matching
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.gold.evaluation import evaluate
from customer_mdm.gold.tables import MATCH_PAIRS
from customer_mdm.gold.training import scoring_model
from customer_mdm.hops.match import PARTY, live_records
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

EXAMPLES = (
    ("python jobs/evaluate.py --truth data/truth/truth.csv", "the configured model's latest pairs"),
    ("python jobs/evaluate.py --truth data/truth/truth.csv --json eval.json --model-version fs-20261122T...",
     "another model, full result as JSON"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = job_parser(__doc__ or "", examples=EXAMPLES,
                        exit_codes={EXIT_OK: "evaluated", EXIT_FAILED: "nothing to evaluate, or a failure"})
    parser.add_argument("--matching", help="matching settings (default: <conf>/matching.yaml)")
    parser.add_argument("--truth", required=True,
                        help="truth CSV with header source_system,source_record_id,entity_id")
    parser.add_argument("--model-version", help="evaluate this model's pairs (default: the configured model)")
    parser.add_argument("--json", help="write the full result (with the precision-recall curve) here")
    return parse(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = job_config(args)
        matching = load_matching(args.matching or config.conf_dir / "matching.yaml", project_root=config.project_root)
        if not Path(args.truth).is_file():
            raise MdmError(f"--truth {args.truth}: no such file")
        version = args.model_version or scoring_model(matching).version
    except (ConfigError, MdmError) as exc:
        return fail(exc, EXIT_USAGE)
    spark = build_session(config.spark)
    try:
        store = open_store(spark, config)
        pairs = store.read(MATCH_PAIRS).where(F.col("model_version") == version)
        latest = pairs.agg(F.max("silver_version")).first()
        if latest is None or latest[0] is None:
            raise MdmError(f"gold.match_pairs has no pairs scored by model {version}; run the match hop first")
        silver_version = int(latest[0])
        scored = pairs.where(F.col("silver_version") == silver_version)
        records = live_records(store.read(PARTY, version=silver_version))
        truth = spark.read.option("header", "true").csv(args.truth) \
            .select("source_system", "source_record_id", "entity_id")
        result = evaluate(scored, truth, records, threshold=matching.decision_thresholds.auto_merge)
    except MdmError as exc:
        return fail(exc, EXIT_FAILED)
    finally:
        spark.stop()
    print(f"model {version}, silver.party version {silver_version}")
    print(result.table())
    if args.json:
        Path(args.json).write_text(result.dumps() + "\n", encoding="utf-8")
        print(f"full result with the precision-recall curve: {args.json}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
