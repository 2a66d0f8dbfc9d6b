"""Train the Fellegi-Sunter model on silver.party and save it as a versioned JSON file.

Training happens only here, on purpose: scoring loads the frozen file, so the
same silver snapshot scores the same way until someone retrains.

Examples:
  python jobs/train_model.py                              # EM (unsupervised), writes fellegi_sunter.file
  python jobs/train_model.py --labels data/truth/truth.csv   # m counted from labelled matches
  python jobs/train_model.py --out models/candidate.json

Exit codes: 0 trained, 1 training failed, 2 bad configuration or flags (nothing written).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from customer_mdm.config import load_config
from customer_mdm.config.matching import load_matching
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.gold.training import save_model, train
from customer_mdm.hops.match import PARTY, checked_plan, prepare_records
from customer_mdm.logs import configure_logging
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conf", default=str(REPO / "conf"), help="configuration folder (default: %(default)s)")
    parser.add_argument("--lake", help="lake root folder (default: lake_root of pipeline.yaml)")
    parser.add_argument("--matching", help="matching settings (default: <conf>/matching.yaml)")
    parser.add_argument("--labels", help="truth CSV (source_system, source_record_id, entity_id): m from labels")
    parser.add_argument("--out", help="model file to write (default: fellegi_sunter.file of the settings)")
    parser.add_argument("--quiet", action="store_true", help="warnings and the summary only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(quiet=args.quiet)
    try:
        config = load_config(args.conf, lake=args.lake)
        matching = load_matching(args.matching or config.conf_dir / "matching.yaml", project_root=config.project_root)
        if args.labels and not Path(args.labels).is_file():
            raise MdmError(f"--labels {args.labels}: no such file")
    except (ConfigError, MdmError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else matching.model_file
    spark = build_session(config.spark)
    try:
        store = open_store(spark, config)
        plan = checked_plan(spark, matching)
        records = prepare_records(store.read(PARTY), plan).cache()
        labels = spark.read.option("header", "true").csv(args.labels) \
            .select("source_system", "source_record_id", "entity_id") if args.labels else None
        model, report = train(records, plan, matching, labels=labels)
        save_model(model, report, out)
    except MdmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    print(f"model {model.version} -> {out}")
    print(f"  {report.records:,} records, {report.candidate_pairs:,} candidate pairs, u from "
          f"{report.u_sample_pairs:,} random pairs, m from {report.m_from} ({report.em_iterations} EM iterations, "
          f"converged {report.em_converged}), prior {report.prior:.3g}, {report.seconds:.0f}s")
    for comparison in model.comparisons:
        for level in comparison.levels[1:]:
            print(f"  {comparison.name:<16}{level.label:<24} m {level.m:8.4f}  u {level.u:10.6f}  "
                  f"weight {level.weight:+7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
