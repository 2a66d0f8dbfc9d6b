"""Train the Fellegi-Sunter model on silver.party and save it as a versioned JSON file.

Training happens only here, on purpose: scoring loads the frozen file, and
the term-frequency tables beside it (<model>.tf.parquet, taken from the same
records), so a pair scores the same way until someone retrains.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from customer_mdm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, job_config, job_parser, parse
from customer_mdm.config.matching import load_matching
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.gold.training import save_model, tf_file, train
from customer_mdm.hops.match import PARTY, checked_plan, live_records
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

EXAMPLES = (
    ("python jobs/train_model.py", "EM (unsupervised), writes fellegi_sunter.file"),
    ("python jobs/train_model.py --labels data/truth/truth.csv", "m counted from labelled matches"),
    ("python jobs/train_model.py --out models/candidate.json", "a candidate model beside the current one"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = job_parser(__doc__ or "", examples=EXAMPLES,
                        exit_codes={EXIT_OK: "trained", EXIT_FAILED: "training failed"})
    parser.add_argument("--matching", help="matching settings (default: <conf>/matching.yaml)")
    parser.add_argument("--labels", help="truth CSV (source_system, source_record_id, entity_id): m from labels")
    parser.add_argument("--out", help="model file to write (default: fellegi_sunter.file of the settings)")
    return parse(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = job_config(args)
        matching = load_matching(args.matching or config.conf_dir / "matching.yaml", project_root=config.project_root)
        if args.labels and not Path(args.labels).is_file():
            raise MdmError(f"--labels {args.labels}: no such file")
    except (ConfigError, MdmError) as exc:
        return fail(exc, EXIT_USAGE)
    out = Path(args.out) if args.out else matching.model_file
    spark = build_session(config.spark)
    try:
        store = open_store(spark, config)
        plan = checked_plan(spark, matching)
        records = live_records(store.read(PARTY)).cache()
        labels = spark.read.option("header", "true").csv(args.labels) \
            .select("source_system", "source_record_id", "entity_id") if args.labels else None
        model, report = train(records, plan, matching, labels=labels)
        save_model(model, report, out)
    except MdmError as exc:
        return fail(exc, EXIT_FAILED)
    finally:
        spark.stop()
    print(f"model {model.version} -> {out}")
    print(f"  term frequencies of {', '.join(model.term_frequencies.comparisons) or 'no comparison'}: "
          f"{model.term_frequencies.table.num_rows:,} values -> {tf_file(out)}")
    print(f"  {report.records:,} records, {report.candidate_pairs:,} candidate pairs, u from "
          f"{report.u_sample_pairs:,} random pairs, m from {report.m_from} ({report.em_iterations} EM iterations, "
          f"converged {report.em_converged}), prior {report.prior:.3g}, {report.seconds:.0f}s")
    for comparison in model.comparisons:
        for level in comparison.levels[1:]:
            print(f"  {comparison.name:<16}{level.label:<24} m {level.m:8.4f}  u {level.u:10.6f}  "
                  f"weight {level.weight:+7.2f}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
