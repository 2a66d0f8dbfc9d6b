"""The batch run: files -> bronze for each file source, then hop 1 (silver) and hop 2 (gold) catch up.

Jobs call ``run_batch``; tests call it in-process with their own session.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import SparkSession

from customer_mdm.config import PipelineConfig, SourceConfig
from customer_mdm.config.operations import SlaConfig
from customer_mdm.config.resolve import ResolveSettings
from customer_mdm.errors import MdmError
from customer_mdm.hops.ingest_files import IngestReport, ingest_source
from customer_mdm.hops.refine import RefineCounts, RefineReport, refine_source
from customer_mdm.hops.resolve import ResolveReport, Scope, read_overrides, run_resolve
from customer_mdm.ops.faults import kill_point
from customer_mdm.ops.health import BATCH_CHECKS, CheckResult, end_of_run_checks, exit_code
from customer_mdm.ops.runs import Run, RunStatus
from customer_mdm.progress import stage_progress
from customer_mdm.storage import TableStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchSummary:
    run_id: str
    status: str
    ingests: tuple[IngestReport, ...]
    refines: tuple[RefineReport, ...]
    resolve: ResolveReport
    sla: tuple[CheckResult, ...] = ()


def file_sources(config: PipelineConfig, names: Sequence[str] = ()) -> list[SourceConfig]:
    """The file sources to run: all of them, or those named (which must exist and be file sources)."""
    if not names:
        return [s for s in config.sources if s.format != "kafka"]
    chosen = [config.source(n) for n in names]
    streaming = [s.name for s in chosen if s.format == "kafka"]
    if streaming:
        raise MdmError(f"sources {streaming} are Kafka sources: run them with jobs/stream_job.py")
    return chosen


def silver_counts(c: RefineCounts, prefix: str = "silver") -> dict[str, int]:
    """What a hop-1 increment adds to the run log, the same in batch, stream and replay runs (``replay_read``...)."""
    return {f"{prefix}_{name}": value for name, value in (
        ("read", c.read), ("upserted", c.upserted), ("unchanged", c.unchanged), ("superseded", c.superseded),
        ("quarantined", c.quarantined), ("dead_lettered", c.dead_lettered), ("suppressed", c.suppressed),
        ("dq_warnings", c.warned))}


def gold_counts(r: ResolveReport) -> dict[str, int]:
    """What a hop-2 increment adds to the run log, the same in batch and stream runs."""
    return {"gold_changed_records": r.changed_records, "gold_pairs_scored": r.pairs_scored,
            "gold_entities_created": r.entities_created, "gold_merges": r.merges, "gold_splits": r.splits,
            "gold_review_items": r.review_items, "gold_records_moved": r.records_moved,
            "gold_records_written": r.golden_written}


def run_batch(spark: SparkSession, store: TableStore, config: PipelineConfig, run: Run, *,
              sources: Sequence[SourceConfig], resolve: ResolveSettings,
              resolve_scope: Scope = "incremental", sla: SlaConfig | None = None) -> BatchSummary:
    """With ``sla`` the run ends with those checks over its sources; a BREACH is the run's status."""
    read_overrides(store, resolve.overrides)  # a bad row in gold.manual_overrides: ConfigError before any write
    run.start()
    ingests: list[IngestReport] = []
    refines: list[RefineReport] = []
    try:
        for source in sources:
            with stage_progress(spark, f"bronze {source.name}"):
                report = ingest_source(spark, store, config, source, run_id=run.run_id)
            ingests.append(report)
            run.add(rows_read=report.rows, rows_written=report.rows, rows_malformed=report.malformed_rows,
                    files_ingested=report.count("ingested"), files_skipped=report.count("skipped"),
                    files_rejected=report.count("rejected"))
        kill_point("batch:after_bronze")
        for source in sources:
            with stage_progress(spark, f"silver {source.name}"):
                refined = refine_source(store, source, rules=config.quality_rules, run_id=run.run_id, mode="batch",
                                        report_dir=config.lake_root / "_reports" / run.run_id / source.name)
            refines.append(refined)
            run.add(**silver_counts(refined.counts))
        kill_point("batch:after_silver")
        with stage_progress(spark, "gold"):
            gold = run_resolve(spark, store, resolve, run_id=run.run_id, mode="batch", scope=resolve_scope)
        run.add(**gold_counts(gold))
        checks = tuple(end_of_run_checks(store, config, sla, run, sources=[s.name for s in sources],
                                          kinds=BATCH_CHECKS))
    except Exception as exc:
        run.finish("FAILED", error=f"{type(exc).__name__}: {exc}")
        raise
    status: RunStatus = "BREACH" if exit_code(checks) else "SUCCEEDED"
    run.finish(status)
    return BatchSummary(run.run_id, status, tuple(ingests), tuple(refines), gold, checks)
