"""The run log (ops.runs): a RUNNING row when a run starts, its outcome when it ends.

Readers take the latest row per run_id; a run with only a RUNNING row
crashed (or is still going).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from customer_mdm.ops.tables import RUNS, RUNS_SCHEMA
from customer_mdm.storage import TableStore

log = logging.getLogger(__name__)
RunStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "BREACH"]


def new_run_id(job: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{job}-{stamp}-{uuid.uuid4().hex[:8]}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class Run:
    """One job run: counters accumulate as stages finish; ``finish`` records the outcome."""

    store: TableStore
    run_id: str
    job: str
    mode: str
    flags: Mapping[str, Any]
    started_at: dt.datetime = field(default_factory=_now)
    counts: Counter[str] = field(default_factory=Counter)

    def start(self) -> Run:
        self.store.ensure_table(RUNS, RUNS_SCHEMA)
        self._record("RUNNING", ended=False, error=None)
        log.info("run %s started (job=%s mode=%s)", self.run_id, self.job, self.mode)
        return self

    def add(self, **counts: int) -> None:
        self.counts.update(counts)

    def finish(self, status: RunStatus, *, error: str | None = None) -> None:
        self._record(status, ended=True, error=error)
        seconds = (_now() - self.started_at).total_seconds()
        log.info("run %s %s in %.1fs: %s", self.run_id, status, seconds,
                 ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items())) or "no rows")

    def _record(self, status: RunStatus, *, ended: bool, error: str | None) -> None:
        now = _now()
        self.store.append_rows(RUNS, [{
            "run_id": self.run_id, "job": self.job, "mode": self.mode,
            "flags": json.dumps(dict(self.flags), default=str, sort_keys=True),
            "started_at": self.started_at, "ended_at": now if ended else None, "status": status,
            "rows_read": self.counts.get("rows_read", 0), "rows_written": self.counts.get("rows_written", 0),
            "rows_skipped": self.counts.get("rows_skipped", 0), "counts": dict(self.counts),
            "error": error, "recorded_at": now,
        }])
