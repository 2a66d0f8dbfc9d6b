"""Health: evaluate the SLA checks of operations.yaml against the lake, one line per check.

Lines read `OK|WARN|BREACH <check> <measured> <threshold> (note)`, e.g.
`BREACH freshness_hours.crm 30.2 <=26`. Checks: freshness_hours.<source> (hours
since the source's last bronze commit), pass_rate.<source> (lowest rule pass
rate of its latest run), hop_lag_versions.<source> (bronze versions silver has
not applied yet), latency_seconds.<kafka source> (Kafka timestamp -> bronze
commit, latest micro-batch), end_to_end_latency_seconds (Kafka timestamp ->
golden-record commit, latest gold increment of the stream job). WARN: past
sla.warn_fraction of a threshold, or not measurable yet. Reads only; safe at
any time.
"""
from __future__ import annotations

import argparse
import sys

from customer_mdm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, job_operations, job_parser, parse
from customer_mdm.errors import ConfigError, MdmError
from customer_mdm.ops.health import evaluate_sla, exit_code
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

EXAMPLES = (
    ("python jobs/health.py", "check the default lake against conf/operations.yaml"),
    ("python jobs/health.py --lake /data/lake --quiet || alert-on-call", "from cron: non-zero on a breach"),
    ("python jobs/health.py --operations /etc/mdm/strict-operations.yaml", "other thresholds"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = job_parser(__doc__ or "", examples=EXAMPLES, operations=True,
                        exit_codes={EXIT_OK: "every check OK or WARN",
                                    EXIT_FAILED: "at least one check in BREACH (or the lake could not be read)"})
    return parse(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config, operations = job_operations(args)
    except ConfigError as exc:
        return fail(exc, EXIT_USAGE)
    spark = build_session(config.spark)
    try:
        results = evaluate_sla(open_store(spark, config), config, operations.sla)
    except MdmError as exc:
        return fail(exc, EXIT_FAILED)
    finally:
        spark.stop()
    for result in results:
        print(result.line())
    return exit_code(results)


if __name__ == "__main__":
    sys.exit(main())
