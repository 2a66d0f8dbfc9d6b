"""Hop 2 on a small increment over a large gold: pairs scored and golden-record files rewritten.

    python bench/bench_gold_increment.py [--records 100000] [--increment 100] [--quick]

Set-up (not timed, in a child process): generated sample files (seed 42) of
``records`` rows go through the batch code files -> bronze -> silver -> gold,
except the last ``increment`` rows of the last CRM extract, which are held back
in a file of their own. Timed, in a fresh JVM as the next batch run would
start: that file lands and ``run_batch`` carries it through every hop. The
held-back rows are new customer records written by the same generator, so
some are duplicates of records already in gold, as in a real feed.

Targets (issue "Entities and golden records"): the gold increment scores at
most ``increment`` x ``max_block_size`` pairs (each changed record is
compared with at most one block of existing records per blocking rule is the
promise behind the cap; the figure shows how close it gets), and rewrites under
5% of gold.golden_record's files, read from the commit's own metrics
(files removed / files in the table before); with ``--records 1000000`` and
no kept baseline, also the set-up's files -> gold time (<= 15 min). With
MDM_BENCH_BASELINE=<folder> the set-up lake is kept and reused for the same sizes.
"""
from __future__ import annotations

import csv
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from deltalake import DeltaTable
from harness import REPO, ProcessTreeMonitor, Target, record, start, timed

from customer_mdm.config import PipelineConfig, load_config
from customer_mdm.config.resolve import load_resolve_settings
from customer_mdm.gold.tables import GOLDEN_RECORD, MATCH_PAIRS
from customer_mdm.hops.batch import BatchSummary, file_sources, run_batch
from customer_mdm.logs import configure_logging
from customer_mdm.ops.runs import Run, new_run_id
from customer_mdm.samples.generator import generate
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

log = logging.getLogger("bench.gold_increment")
SEED = 42
HELD_BACK = "crm_increment.csv"
FILES_REWRITTEN = Target("golden_files_rewritten_pct", "<", 5)
MILLION_TO_GOLD = Target("baseline_seconds", "<=", 15 * 60)  # judged when the set-up built 1M records into gold


def hold_back(crm_dir: Path, rows: int, into: Path) -> int:
    """Moves the last ``rows`` records of the last CRM extract into ``into``; returns how many moved."""
    last = sorted(crm_dir.glob("*.csv"))[-1]
    with last.open(newline="", encoding="utf-8") as f:
        header, *body = list(csv.reader(f))
    kept, moved = body[:-rows], body[-rows:]
    for path, part in ((last, kept), (into, moved)):
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([header, *part])
    return len(moved)


def batch(config: PipelineConfig, run_id: str) -> BatchSummary:
    spark = build_session(config.spark)
    try:
        store = open_store(spark, config)
        run = Run(store, run_id, "bench_gold_increment", "batch", {"lake": str(config.lake_root)})
        return run_batch(spark, store, config, run, sources=file_sources(config),
                         resolve=load_resolve_settings(config), resolve_scope="incremental", sla=None)
    finally:
        spark.stop()


def build_baseline(project: Path, records: int, increment: int) -> float:
    """Sample files -> gold, the increment's rows held back; returns the set-up seconds (child process)."""
    configure_logging()
    landing = project / "data" / "landing"
    generate(landing, records=records, seed=SEED)
    held = project / HELD_BACK
    if hold_back(landing / "crm", increment, held) != increment:
        raise RuntimeError(f"the last CRM extract has fewer than {increment} rows: raise --records")
    started = time.perf_counter()
    summary = batch(load_config(project / "conf", lake=project / "lake"), new_run_id("bench-baseline"))
    log.info("set-up: %s records in gold (%d entities created)", f"{records:,}", summary.resolve.entities_created)
    return timed(started)


def project_with_baseline(root: Path, records: int, increment: int) -> tuple[Path, float | None]:
    """A project folder (conf, landing files, lake) holding the set-up; built, or copied from a kept one."""
    project = root / "project"
    kept_root = os.environ.get("MDM_BENCH_BASELINE")
    kept = Path(kept_root) / f"gold-{records}-{increment}" if kept_root else None
    if kept is not None and kept.is_dir():
        log.info("set-up: copying the kept baseline project %s", kept)
        shutil.copytree(kept, project)
        return project, None
    shutil.copytree(REPO / "conf", project / "conf")
    shutil.copytree(REPO / "models", project / "models")
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as child:
        seconds = child.submit(build_baseline, project, records, increment).result()
    if kept is not None:
        shutil.copytree(project, kept)
    return project, seconds


def golden_files(lake_table: str, version: int) -> dict[str, int]:
    """Files before the commit at ``version`` and what that commit added and removed, from its own metrics."""
    before = len(DeltaTable(lake_table, version=version - 1).file_uris())
    commit = next(h for h in DeltaTable(lake_table).history() if h.get("version") == version)
    metrics = commit.get("operationMetrics", {})
    return {"before": before, "added": int(metrics.get("num_target_files_added", 0)),
            "removed": int(metrics.get("num_target_files_removed", 0))}


def main() -> int:
    args = start(__doc__ or "", records=(100_000, 5_000), increment=(100, 100))
    with tempfile.TemporaryDirectory(prefix="bench-gold-") as tmp:
        project, baseline_seconds = project_with_baseline(Path(tmp), args.records, args.increment)
        config = load_config(project / "conf", lake=project / "lake")
        max_block = load_resolve_settings(config).matching.blocking.max_block_size
        shutil.move(project / HELD_BACK, project / "data" / "landing" / "crm" / HELD_BACK)
        with ProcessTreeMonitor() as monitor:
            started = time.perf_counter()
            summary = batch(config, new_run_id("bench-increment"))
            seconds = timed(started)
        gold = summary.resolve
        spark = build_session(config.spark)
        try:
            store = open_store(spark, config)
            scored = store.read(MATCH_PAIRS).where(f"silver_version = {gold.to_version}").count()
            files = golden_files(store.path(GOLDEN_RECORD), store.version(GOLDEN_RECORD))
        finally:
            spark.stop()
    refined = sum(r.counts.read for r in summary.refines)
    if gold.skipped or refined != args.increment or scored != gold.pairs_scored:
        print(f"error: the increment did not go through as expected: {refined} rows refined (wanted "
              f"{args.increment}), gold {'skipped' if gold.skipped else 'ran'}, {scored} pairs stored vs "
              f"{gold.pairs_scored} reported", file=sys.stderr)
        return 1
    pair_cap = args.increment * max_block
    figures: dict[str, Any] = {
        "seconds": seconds,
        "gold_seconds": round(gold.seconds, 2),
        "changed_records": gold.changed_records,
        "pairs_scored": gold.pairs_scored,
        "pair_cap": pair_cap,
        "pairs_within_cap": gold.pairs_scored <= pair_cap,
        "entities_created": gold.entities_created, "merges": gold.merges,
        "golden_written": gold.golden_written,
        "golden_files_before": files["before"], "golden_files_added": files["added"],
        "golden_files_removed": files["removed"],
        "golden_files_rewritten_pct": round(100 * files["removed"] / max(files["before"], 1), 2),
        "baseline_seconds": baseline_seconds,
        **monitor.figures(),
    }
    targets = [Target("pairs_scored", "<=", pair_cap), FILES_REWRITTEN]
    if baseline_seconds is not None and args.records >= 1_000_000:
        targets.append(MILLION_TO_GOLD)
    record("gold_increment", figures, workload={"records": args.records, "increment": args.increment,
                                                "max_block_size": max_block, "seed": SEED}, targets=targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
