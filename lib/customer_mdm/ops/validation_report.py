"""A run's validation report: a JSON checklist and a CSV of the rows that broke rules.

The checklist has one check per data-quality rule (PASS when no row broke it,
FAIL when a ``fail`` rule found rows, WARN otherwise) plus any checks the
caller adds (row conservation, dead letters). The error CSV lists rule hits,
warnings included, up to a cap so a bad extract cannot fill the disk; the
checklist says when it was cut. Both files are written atomically.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, TextIO

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F

log = logging.getLogger(__name__)

Status = Literal["PASS", "WARN", "FAIL"]
CHECKLIST_FILE = "validation_checklist.json"
ERRORS_FILE = "validation_errors.csv"
ERROR_COLUMNS = ("row_ref", "rule", "column", "value", "message", "action", "source_system", "source_record_id")
_SEVERITY: Mapping[str, int] = {"PASS": 0, "WARN": 1, "FAIL": 2}


@dataclass(frozen=True)
class Check:
    """One line of the checklist."""

    check: str
    status: Status
    counts: Mapping[str, int | float | None] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True)
class ValidationReport:
    status: Status
    checklist: Path
    errors: Path
    error_rows: int
    truncated: bool


def rule_checks(metrics: Iterable[Row]) -> list[Check]:
    """Checklist lines from collected data-quality metrics rows (``QualityResult.metrics``)."""
    checks = []
    for m in metrics:
        failed = int(m["rows_failed"])
        status: Status = "PASS" if failed == 0 else "FAIL" if m["action"] == "fail" else "WARN"
        checks.append(Check(check=f"rule:{m['rule']}", status=status,
                            counts={"rows_checked": int(m["rows_checked"]), "rows_failed": failed,
                                    "pass_rate": m["pass_rate"]},
                            detail=f"{m['type']} on {m['column']}, action {m['action']}"))
    return checks


def write_validation_report(folder: str | Path, *, run_id: str, checks: Sequence[Check], issues: DataFrame,
                            row_ref: str = "_source_ref", max_error_rows: int = 100_000) -> ValidationReport:
    """Writes the checklist and the error CSV (rows of ``QualityResult.issues``) into ``folder``.

    ``row_ref`` names the lineage column that points back at the source row
    (file and line, or Kafka topic/partition/offset).
    """
    started = time.monotonic()
    if row_ref not in issues.columns:
        raise ValueError(f"the issues have no row reference column {row_ref!r}; columns: {issues.columns}")
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    rows = issues.select(F.col(row_ref).cast("string").alias("row_ref"), *ERROR_COLUMNS[1:]) \
        .orderBy("rule", "row_ref").limit(max_error_rows + 1).collect()
    truncated = len(rows) > max_error_rows
    written = min(len(rows), max_error_rows)
    with _atomic(target / ERRORS_FILE) as out:
        writer = csv.writer(out)
        writer.writerow(ERROR_COLUMNS)
        writer.writerows(rows[:written])
    status: Status = max((c.status for c in checks), key=_SEVERITY.__getitem__, default="PASS")
    checklist = {
        "run_id": run_id,
        "status": status,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "checks": [asdict(c) for c in checks],
        "errors": {"file": ERRORS_FILE, "rows": written, "truncated": truncated},
    }
    with _atomic(target / CHECKLIST_FILE) as out:
        json.dump(checklist, out, indent=2)
        out.write("\n")
    log.info("validation report for run %s: %s, %d check(s), %d error row(s)%s in %s, %.1fs", run_id, status,
             len(checks), written, " (truncated)" if truncated else "", target, time.monotonic() - started)
    return ValidationReport(status=status, checklist=target / CHECKLIST_FILE, errors=target / ERRORS_FILE,
                            error_rows=written, truncated=truncated)


@contextmanager
def _atomic(path: Path) -> Iterator[TextIO]:
    """A text file that appears under its name only once completely written."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
