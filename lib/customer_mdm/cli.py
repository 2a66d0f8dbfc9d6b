"""What every job's command line shares: common flags, logging, --help layout and exit codes.

Jobs build their parser with ``job_parser`` and add only their own flags, so
``--help`` reads the same everywhere and an operator learns the exit codes once.
Nothing here starts Spark: ``--help`` stays instant.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from customer_mdm.config import PipelineConfig, load_config
from customer_mdm.config.operations import OperationsConfig, SlaConfig, load_operations
from customer_mdm.logs import configure_logging

REPO = Path(__file__).resolve().parents[2]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
#: Jobs that end with the SLA checks of operations.yaml: the run finished and committed, but a check is in BREACH.
EXIT_BREACH = 3
#: The meaning of each exit code, the same for every job (a job may word 0 and 1 for what it does).
EXIT_CODES: Mapping[int, str] = {
    EXIT_OK: "success",
    EXIT_FAILED: "the run failed (see the error line and ops.runs)",
    EXIT_USAGE: "bad configuration or flags: nothing was written",
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description and epilog as written and appends each flag's default when it has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.default is None or action.default is False \
                or action.default == [] or action.default == argparse.SUPPRESS or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def epilog(examples: Sequence[tuple[str, str]], exit_codes: Mapping[int, str] | None = None) -> str:
    """``examples`` as (command, what it does) pairs; ``exit_codes`` rewords codes for this job."""
    lines = ["examples:"]
    for command, what in examples:
        lines += [f"  # {what}", f"  {command}"]
    codes = {**EXIT_CODES, **(exit_codes or {})}
    lines += ["", "exit codes:"] + [f"  {code}  {codes[code]}" for code in sorted(codes)]
    return "\n".join(lines)


def job_parser(description: str, *, examples: Sequence[tuple[str, str]],
               exit_codes: Mapping[int, str] | None = None, conf: bool = True, lake: bool = True,
               operations: bool = False, extra_epilog: str = "") -> argparse.ArgumentParser:
    """A parser with the shared flags; the job adds its own with ``add_argument``."""
    text = epilog(examples, exit_codes) + (f"\n\n{extra_epilog}" if extra_epilog else "")
    parser = argparse.ArgumentParser(description=description.strip(), epilog=text, formatter_class=HelpFormatter)
    if conf:
        parser.add_argument("--conf", default=str(REPO / "conf"), help="configuration folder")
    if lake:
        parser.add_argument("--lake", help="lake root folder (default: lake_root of pipeline.yaml)")
    if operations:
        parser.add_argument("--operations", help="operations settings (default: <conf>/operations.yaml)")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("--quiet", action="store_true", help="warnings, errors and the summary only")
    loudness.add_argument("--verbose", action="store_true", help="debug logging (still ids and counts only, no PII)")
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parses the flags and sets up logging as they ask."""
    args = parser.parse_args(argv)
    configure_logging(quiet=args.quiet, verbose=args.verbose)
    return args


def job_config(args: argparse.Namespace) -> PipelineConfig:
    """The configuration named by --conf, pointed at --lake when the job has that flag."""
    return load_config(args.conf, lake=getattr(args, "lake", None))


def job_operations(args: argparse.Namespace) -> tuple[PipelineConfig, OperationsConfig]:
    """The job's configuration and its operations settings (--operations, else <conf>/operations.yaml)."""
    config = job_config(args)
    return config, load_operations(args.operations or config.conf_dir / "operations.yaml",
                                   known_sources=[s.name for s in config.sources])


def job_sla(args: argparse.Namespace, config: PipelineConfig) -> SlaConfig | None:
    """The SLA checks a run ends with: from --operations, else <conf>/operations.yaml if there is one."""
    if args.operations is None and not (config.conf_dir / "operations.yaml").exists():
        return None
    return job_operations(args)[1].sla


def fail(exc: BaseException, code: int) -> int:
    """Reports an error the way every job does (one line on stderr) and returns its exit code."""
    print(f"error: {exc}", file=sys.stderr)
    return code
