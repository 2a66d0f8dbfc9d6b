"""Evaluate the scored pairs of gold.match_pairs against labelled truth: pairwise precision, recall, F1.

Prints a readable table (at the configured auto-merge threshold and at the
best threshold) and writes the full result, with the precision-recall curve
as data, to --json.

Examples:
  python jobs/evaluate.py --truth data/truth/truth.csv
  python jobs/evaluate.py --truth data/truth/truth.csv --json eval.json --model-version fs-20261122T...

Exit codes: 0 evaluated, 1 nothing to evaluate or a failure, 2 bad configuration or flags.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyspark.sql import functions as F

from customer_mdm.config import load_config
from customer_mdm.config.matching import load_matching
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.gold.evaluation import evaluate
from customer_mdm.gold.tables import MATCH_PAIRS
from customer_mdm.gold.training import scoring_model
from customer_mdm.hops.match import PARTY, prepare_records
from customer_mdm.gold.comparisons import build_plan
from customer_mdm.logs import configure_logging
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conf", default=str(REPO / "conf"), help="configuration folder (default: %(default)s)")
    parser.add_argument("--lake", help="lake root folder (default: lake_root of pipeline.yaml)")
    parser.add_argument("--matching", help="matching settings (default: <conf>/matching.yaml)")
    parser.add_argument("--truth", required=True,
                        help="truth CSV with header source_system,source_record_id,entity_id")
    parser.add_argument("--model-version", help="evaluate this model's pairs (default: the configured model)")
    parser.add_argument("--json", help="write the full result (with the precision-recall curve) here")
    parser.add_argument("--quiet", action="store_true", help="warnings and the result only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(quiet=args.quiet)
    try:
        config = load_config(args.conf, lake=args.lake)
        matching = load_matching(args.matching or config.conf_dir / "matching.yaml", project_root=config.project_root)
        if not Path(args.truth).is_file():
            raise MdmError(f"--truth {args.truth}: no such file")
        version = args.model_version or scoring_model(matching).version
    except (ConfigError, MdmError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spark = build_session(config.spark)
    try:
        store = open_store(spark, config)
        pairs = store.read(MATCH_PAIRS).where(F.col("model_version") == version)
        latest = pairs.agg(F.max("silver_version")).first()
        if latest is None or latest[0] is None:
            raise MdmError(f"gold.match_pairs has no pairs scored by model {version}; run the match hop first")
        silver_version = int(latest[0])
        scored = pairs.where(F.col("silver_version") == silver_version)
        records = prepare_records(store.read(PARTY, version=silver_version), build_plan(matching.comparisons))
        truth = spark.read.option("header", "true").csv(args.truth) \
            .select("source_system", "source_record_id", "entity_id")
        result = evaluate(scored, truth, records, threshold=matching.decision_thresholds.auto_merge)
    except MdmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    print(f"model {version}, silver.party version {silver_version}")
    print(result.table())
    if args.json:
        Path(args.json).write_text(result.dumps() + "\n", encoding="utf-8")
        print(f"full result with the precision-recall curve: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
