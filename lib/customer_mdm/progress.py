"""Progress of long stages: while a stage of a run is in flight, a line every few seconds.

A batch stage (ingesting a source, refining it, resolving gold) can run for
minutes on a small machine; its one summary line comes at the end. In
between, ``stage_progress`` logs what Spark is doing for it: the running
Spark stages with their finished and total tasks. Short stages log nothing.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


def describe_active_stages(spark: SparkSession) -> str:
    """``stage 12: 40/200 tasks (2 running)`` for each running Spark stage, or what the driver is doing."""
    tracker = spark.sparkContext.statusTracker()
    parts = []
    for stage_id in sorted(tracker.getActiveStageIds()):
        info = tracker.getStageInfo(stage_id)
        if info is not None:
            parts.append(f"stage {stage_id}: {info.numCompletedTasks}/{info.numTasks} tasks "
                         f"({info.numActiveTasks} running)")
    return "; ".join(parts) or "no Spark stage running (driver-side work: merges, commits, clustering)"


@contextmanager
def stage_progress(spark: SparkSession, stage: str, *, every: float = 20.0) -> Iterator[None]:
    """Logs ``<stage>: running for Ns: <active Spark stages>`` every ``every`` seconds until the block ends."""
    done = threading.Event()
    started = time.monotonic()

    def report() -> None:
        while not done.wait(every):
            try:
                activity = describe_active_stages(spark)
            except Exception as exc:  # a stopping session must not break the run it reports on
                activity = f"progress unavailable ({type(exc).__name__})"
            log.info("%s: running for %.0fs: %s", stage, time.monotonic() - started, activity)

    reporter = threading.Thread(target=report, name=f"progress-{stage}", daemon=True)
    reporter.start()
    try:
        yield
    finally:
        done.set()
        reporter.join(timeout=5)
