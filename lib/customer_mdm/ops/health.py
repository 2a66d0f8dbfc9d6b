"""SLA checks against the lake: freshness, data-quality pass rate, hop lag, streaming latencies.

Each check yields one line ``OK|WARN|BREACH <check> <measured> <threshold>``
for cron or an orchestrator. WARN means a measure has used ``warn_fraction``
of its allowance, or could not be measured (a check never passes unseen).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from pyspark.sql import DataFrame, Row, Window
from pyspark.sql import functions as F

from customer_mdm.config import PipelineConfig
from customer_mdm.config.operations import SlaConfig
from customer_mdm.hops.refine import watermark
from customer_mdm.ops.runs import Run
from customer_mdm.ops.tables import DQ_METRICS, STREAM_PROGRESS
from customer_mdm.storage import TableStore

log = logging.getLogger(__name__)
Status = Literal["OK", "WARN", "BREACH"]
Direction = Literal["max", "min"]
CheckKind = Literal["freshness_hours", "pass_rate", "hop_lag_versions", "latency_seconds",
                    "end_to_end_latency_seconds"]
CHECK_KINDS: tuple[CheckKind, ...] = ("freshness_hours", "pass_rate", "hop_lag_versions", "latency_seconds",
                                      "end_to_end_latency_seconds")
#: Latencies are the stream job's to measure: a batch run moves neither, so it does not judge them.
BATCH_CHECKS: tuple[CheckKind, ...] = ("freshness_hours", "pass_rate", "hop_lag_versions")
#: Commits that rewrite or clean files without new data; freshness looks past them.
MAINTENANCE_OPERATIONS = frozenset({"CREATE TABLE", "OPTIMIZE", "VACUUM START", "VACUUM END"})
_HISTORY_WINDOW = 50


@dataclass(frozen=True)
class CheckResult:
    status: Status
    check: str
    measured: float | None
    threshold: float
    direction: Direction
    note: str = ""

    def line(self) -> str:
        measured = "n/a" if self.measured is None else f"{self.measured:.4g}"
        bound = f"{'<=' if self.direction == 'max' else '>='}{self.threshold:g}"
        return f"{self.status} {self.check} {measured} {bound}" + (f" ({self.note})" if self.note else "")


def judge(check: str, measured: float | None, *, threshold: float, direction: Direction, warn_fraction: float,
          note: str = "") -> CheckResult:
    """A ``max`` check warns past warn_fraction of the threshold; a ``min`` one past that share of 1 - threshold."""
    if measured is None:
        return CheckResult("WARN", check, None, threshold, direction, note or "not measured")
    if direction == "max":
        breach, warn = measured > threshold, measured > warn_fraction * threshold
    else:
        breach, warn = measured < threshold, 1 - measured > warn_fraction * (1 - threshold)
    status: Status = "BREACH" if breach else "WARN" if warn else "OK"
    return CheckResult(status, check, measured, threshold, direction, note)


def exit_code(results: Sequence[CheckResult]) -> int:
    return 1 if any(r.status == "BREACH" for r in results) else 0


def worst_pass_rates(dq_metrics: DataFrame) -> DataFrame:
    """Per source, the lowest pass rate of its latest run among the rules that reject rows (quarantine, fail):
    source_system, run_id, rule, pass_rate. Warn rules are signals (households share emails), not an SLA."""
    measured = dq_metrics.where(F.col("pass_rate").isNotNull() & (F.col("action") != "warn"))
    latest = measured.groupBy("source_system").agg(F.max_by("run_id", "recorded_at").alias("run_id"))
    runs = measured.join(latest, ["source_system", "run_id"])
    worst = Window.partitionBy("source_system").orderBy("pass_rate", "rule")
    return runs.withColumn("_n", F.row_number().over(worst)).where("_n = 1") \
        .select("source_system", "run_id", "rule", "pass_rate")


def latest_latency(progress: DataFrame, *, hop: str) -> DataFrame:
    """Per source (gold: one row, source null), the latency of the hop's latest commit that carried Kafka events.

    Ingest: oldest Kafka timestamp of the micro-batch -> bronze commit; gold: oldest Kafka timestamp of the
    increment -> golden-record commit, the end-to-end latency.
    """
    commits = progress.where((F.col("hop") == hop) & F.col("latency_seconds").isNotNull())
    latest = Window.partitionBy("source").orderBy(F.col("committed_at").desc())
    return commits.withColumn("_n", F.row_number().over(latest)).where("_n = 1") \
        .select("source", "batch_id", "latency_seconds")


def evaluate_sla(store: TableStore, config: PipelineConfig, sla: SlaConfig, *,
                 now: dt.datetime | None = None, sources: Collection[str] | None = None,
                 kinds: Collection[CheckKind] = CHECK_KINDS) -> list[CheckResult]:
    """Every configured check, in a fixed order: freshness, pass rate, hop lag, latencies; sources by name.

    ``sources`` and ``kinds`` narrow the checks: a run judges what it ran, health the whole lake.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    warn = sla.warn_fraction
    chosen = set(sources) if sources is not None else {s.name for s in config.sources}
    results = [_freshness(store, name, hours, now=now, warn_fraction=warn)
               for name, hours in sorted(sla.freshness_hours.items())
               if name in chosen and "freshness_hours" in kinds]
    sources_checked = sorted((s for s in config.sources if s.name in chosen), key=lambda s: s.name)
    if sla.min_pass_rate is not None and "pass_rate" in kinds:
        rates = {r["source_system"]: r for r in worst_pass_rates(store.read(DQ_METRICS)).collect()} \
            if store.exists(DQ_METRICS) else {}
        for s in sources_checked:
            row = rates.get(s.name)
            results.append(judge(f"pass_rate.{s.name}", None if row is None else float(row["pass_rate"]),
                                 threshold=sla.min_pass_rate, direction="min", warn_fraction=warn,
                                 note="no data-quality metrics yet" if row is None
                                 else f"rule {row['rule']}, run {row['run_id']}"))
    if sla.max_hop_lag_versions is not None and "hop_lag_versions" in kinds:
        for s in sources_checked:
            bronze = store.version(s.bronze_table)
            lag = None if bronze < 0 else bronze - max(watermark(store, s), 0)
            results.append(judge(f"hop_lag_versions.{s.name}", lag, threshold=sla.max_hop_lag_versions,
                                 direction="max", warn_fraction=warn,
                                 note=f"{s.bronze_table} does not exist yet" if lag is None else ""))
    kafka_sources = [s for s in sources_checked if s.format == "kafka"]
    progress = store.read(STREAM_PROGRESS) if kafka_sources and store.exists(STREAM_PROGRESS) else None
    if sla.max_latency_seconds is not None and "latency_seconds" in kinds:
        latencies = {r["source"]: r for r in latest_latency(progress, hop="ingest").collect()} \
            if progress is not None else {}
        for s in kafka_sources:
            results.append(_latency(f"latency_seconds.{s.name}", latencies.get(s.name), sla.max_latency_seconds,
                                    warn_fraction=warn, unseen="no micro-batch recorded in ops.stream_progress"))
    if sla.max_end_to_end_latency_seconds is not None and "end_to_end_latency_seconds" in kinds and kafka_sources:
        gold = latest_latency(progress, hop="gold").collect() if progress is not None else []
        results.append(_latency("end_to_end_latency_seconds", gold[0] if gold else None,
                                sla.max_end_to_end_latency_seconds,
                                warn_fraction=warn, unseen="no gold increment with Kafka events recorded in "
                                                           "ops.stream_progress"))
    return results


def end_of_run_checks(store: TableStore, config: PipelineConfig, sla: SlaConfig | None, run: Run, *,
                      sources: Collection[str], kinds: Collection[CheckKind] = CHECK_KINDS) -> list[CheckResult]:
    """The checks a run ends with, over the sources it touched: one log line each, counted in the run log."""
    if sla is None:
        return []
    checks = evaluate_sla(store, config, sla, sources=sources, kinds=kinds)
    for check in checks:
        (log.info if check.status == "OK" else log.warning)("sla %s", check.line())
    run.add(sla_ok=sum(c.status == "OK" for c in checks), sla_warn=sum(c.status == "WARN" for c in checks),
            sla_breach=sum(c.status == "BREACH" for c in checks))
    return checks


def _latency(check: str, row: Row | None, threshold: float, *, warn_fraction: float, unseen: str) -> CheckResult:
    if row is None:
        return judge(check, None, threshold=threshold, direction="max", warn_fraction=warn_fraction, note=unseen)
    return judge(check, row["latency_seconds"], threshold=threshold, direction="max", warn_fraction=warn_fraction,
                 note=f"{'increment' if row['source'] is None else 'batch'} {row['batch_id']}")


def _freshness(store: TableStore, source: str, hours: float, *, now: dt.datetime,
               warn_fraction: float) -> CheckResult:
    check = f"freshness_hours.{source}"
    table = f"bronze.{source}"
    if not store.exists(table):
        return CheckResult("BREACH", check, None, hours, "max", f"{table} does not exist: never ingested")
    history = store.history(table, limit=_HISTORY_WINDOW)
    data = [h for h in history if h.get("operation") not in MAINTENANCE_OPERATIONS]
    if not data:
        oldest = min(int(h["timestamp"]) for h in history)
        age = (now.timestamp() * 1000 - oldest) / 3_600_000
        return judge(check, age, threshold=hours, direction="max", warn_fraction=warn_fraction,
                     note=f"no ingest in the last {len(history)} commits: at least this old")
    age = (now.timestamp() * 1000 - max(int(h["timestamp"]) for h in data)) / 3_600_000
    return judge(check, age, threshold=hours, direction="max", warn_fraction=warn_fraction)
