"""Writes deterministic sample extracts of the crm, ecommerce and billing sources plus a truth file."""
from __future__ import annotations

import argparse
import sys

from customer_mdm.cli import EXIT_OK, EXIT_USAGE, fail, job_parser, parse
from customer_mdm.errors import MdmError
from customer_mdm.samples.generator import generate
from customer_mdm.samples.noise import NoiseProfile


EXAMPLES = (
    ("python jobs/generate_sample.py", "5,000 records into data/landing, truth in data/truth"),
    ("python jobs/generate_sample.py --out data/landing --records 100000 --seed 7 --noise typo_rate=0.1",
     "a larger, noisier sample"),
    ("python jobs/generate_sample.py --malformed 3", "with broken CSV lines for the quarantine path"),
)


def _parser() -> argparse.ArgumentParser:
    rates = "\n".join(f"  {name} (default {default}): {doc}" for name, default, doc in NoiseProfile.describe())
    parser = job_parser(__doc__ or "", examples=EXAMPLES, exit_codes={EXIT_OK: "written",
                        EXIT_USAGE: "bad flags or noise settings: nothing was written"}, conf=False, lake=False,
                        extra_epilog=f"noise settings (--noise key=value, or a YAML mapping via --noise-profile):"
                                     f"\n{rates}")
    parser.add_argument("--out", default="data/landing", help="landing folder")
    parser.add_argument("--records", type=int, default=5_000, help="approximate rows over all files")
    parser.add_argument("--seed", type=int, default=42, help="same seed and size give identical files")
    parser.add_argument("--extracts", type=int, default=2, help="extracts per source")
    parser.add_argument("--noise", action="append", default=[], metavar="KEY=VALUE",
                        help="override one noise setting; repeatable")
    parser.add_argument("--noise-profile", metavar="YAML", help="noise settings from a YAML mapping")
    parser.add_argument("--malformed", type=int, default=0,
                        help="CSV lines with a wrong field count to add to the first CRM extract")
    parser.add_argument("--truth", help="truth CSV (default: <out>/../truth/truth.csv)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse(_parser(), argv)
    try:
        profile = NoiseProfile.load(args.noise_profile) if args.noise_profile else NoiseProfile()
        profile = profile.with_overrides(args.noise)
        summary = generate(args.out, records=args.records, seed=args.seed, extracts=args.extracts,
                           noise=profile, malformed=args.malformed, truth=args.truth)
    except MdmError as exc:
        return fail(exc, EXIT_USAGE)
    print(summary.describe())
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
