"""Writes deterministic sample extracts of the crm, ecommerce and billing sources plus a truth file.

    python jobs/generate_sample.py --out data/landing --records 100000 --seed 7 --noise typo_rate=0.1
"""
from __future__ import annotations

import argparse
import sys

from customer_mdm.errors import MdmError
from customer_mdm.logs import configure_logging
from customer_mdm.samples.generator import generate
from customer_mdm.samples.noise import NoiseProfile


def _parser() -> argparse.ArgumentParser:
    rates = "\n".join(f"  {name} (default {default}): {doc}" for name, default, doc in NoiseProfile.describe())
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"noise settings (--noise key=value, or a YAML mapping via --noise-profile):\n{rates}")
    parser.add_argument("--out", default="data/landing", help="landing folder (default: %(default)s)")
    parser.add_argument("--records", type=int, default=5_000,
                        help="approximate rows over all files (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42, help="same seed and size give identical files")
    parser.add_argument("--extracts", type=int, default=2, help="extracts per source (default: %(default)s)")
    parser.add_argument("--noise", action="append", default=[], metavar="KEY=VALUE",
                        help="override one noise setting; repeatable")
    parser.add_argument("--noise-profile", metavar="YAML", help="noise settings from a YAML mapping")
    parser.add_argument("--malformed", type=int, default=0,
                        help="CSV lines with a wrong field count to add to the first CRM extract")
    parser.add_argument("--truth", help="truth CSV (default: <out>/../truth/truth.csv)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging()
    try:
        profile = NoiseProfile.load(args.noise_profile) if args.noise_profile else NoiseProfile()
        profile = profile.with_overrides(args.noise)
        summary = generate(args.out, records=args.records, seed=args.seed, extracts=args.extracts,
                           noise=profile, malformed=args.malformed, truth=args.truth)
    except MdmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
