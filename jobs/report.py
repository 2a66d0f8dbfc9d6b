"""Report: one self-contained HTML page about a lake, with plots, for on-call engineers and data stewards.

Sections: data-quality pass rate per rule across runs, quarantine reasons,
match-weight histogram with the review and auto-merge thresholds, the model's
per-comparison m/u weights, cluster sizes, review-queue size by status,
golden-record completeness per attribute, streaming latency and lag. A table
not created yet gets a sentence instead of a section. The page has no scripts
and no external links: mail it or archive it as is. Reads only; safe at any
time, also while the stream runs. Prints the path of the page it wrote.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from customer_mdm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, job_config, job_parser, parse
from customer_mdm.config.matching import load_matching
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.ops.report import gather, open_lake, write_report

EXAMPLES = (
    ("python jobs/report.py", "report on the default lake, written to lake/_reports/report.html"),
    ("python jobs/report.py --lake /data/lake --out /var/www/mdm/today.html --quiet", "from cron, to a web folder"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = job_parser(__doc__ or "", examples=EXAMPLES, exit_codes={EXIT_OK: "the report was written"})
    parser.add_argument("--out", type=Path, help="HTML file to write (default: <lake>/_reports/report.html)")
    return parse(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = job_config(args)
        matching = load_matching(config.conf_dir / "matching.yaml", project_root=config.project_root)
    except ConfigError as exc:
        return fail(exc, EXIT_USAGE)
    out = args.out or config.lake_root / "_reports" / "report.html"
    lake = open_lake(config)
    try:
        path = write_report(gather(lake.store, matching), out)
    except (MdmError, OSError) as exc:
        return fail(exc, EXIT_FAILED)
    finally:
        lake.close()
    print(path)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
