"""Bronze ingest throughput: generated landing files of three sources -> bronze, with the batch job's code.

    python bench/bench_bronze_ingest.py [--records 1000000] [--quick]

A throw-away project folder gets a copy of conf/, the sample generator
writes <tmp>/data/landing (seed 42, two extracts per source), and
``ingest_source`` (the bronze stage of the batch job) ingests every file
source into a lake under <tmp>/lake in this process. The timed span covers
all of it (checksums, bronze commits, read-back counts, manifests); Spark
start-up and generation are measured separately, and the later hops of the
batch job are not run. Bronze row counts are checked against what the
generator wrote before anything is recorded.
"""
from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness import REPO, ProcessTreeMonitor, folder_mib, record, start, timed

from customer_mdm.config import load_config
from customer_mdm.hops.batch import file_sources
from customer_mdm.hops.ingest_files import ingest_source
from customer_mdm.ops.runs import new_run_id
from customer_mdm.samples.generator import generate
from customer_mdm.spark import build_session
from customer_mdm.storage import open_store

log = logging.getLogger("bench.bronze_ingest")
SEED = 42


def main() -> int:
    args = start(__doc__ or "", records=(1_000_000, 20_000))
    with tempfile.TemporaryDirectory(prefix="bench-bronze-") as tmp:
        project = Path(tmp)
        shutil.copytree(REPO / "conf", project / "conf")
        landing = project / "data" / "landing"
        with ProcessTreeMonitor() as generation:
            started = time.perf_counter()
            generated = generate(landing, records=args.records, seed=SEED)
            generation_seconds = timed(started)
        config = load_config(project / "conf", lake=project / "lake")
        sources = file_sources(config)
        started = time.perf_counter()
        spark = build_session(config.spark)
        spark_start_seconds = timed(started)
        try:
            store = open_store(spark, config)
            run_id = new_run_id("bench")
            with ProcessTreeMonitor() as ingest:
                started = time.perf_counter()
                reports = [ingest_source(spark, store, config, source, run_id=run_id) for source in sources]
                seconds = timed(started)
            bronze_rows = {s.name: store.read(s.bronze_table).count() for s in sources}
        finally:
            spark.stop()
        landing_mib, lake_mib = folder_mib(landing), folder_mib(project / "lake")
    expected = generated.rows_per_source()
    if bronze_rows != expected:
        print(f"error: bronze rows per source {bronze_rows} differ from the generated rows {expected}",
              file=sys.stderr)
        return 1
    total = sum(bronze_rows.values())
    per_source = {r.source: r for r in reports}
    record("bronze_ingest", {
        "rows": total,
        "seconds": seconds,
        "rows_per_s": round(total / seconds),
        "rows_per_cpu_s": round(total / ingest.cpu_seconds),
        **{f"{name}_rows": rows for name, rows in bronze_rows.items()},
        **{f"{name}_seconds": round(per_source[name].seconds, 2) for name in bronze_rows},
        **{f"{name}_rows_per_s": round(rows / per_source[name].seconds) for name, rows in bronze_rows.items()},
        "files": sum(r.count("ingested") for r in reports),
        "malformed_rows": sum(r.malformed_rows for r in reports),
        "landing_mib": landing_mib,
        "lake_mib": lake_mib,
        "generation_seconds": generation_seconds,
        "generation_python_peak_rss_mib": generation.figures()["python_peak_rss_mib"],
        "spark_start_seconds": spark_start_seconds,
        **ingest.figures(),
    }, workload={"records": args.records, "seed": SEED})
    return 0


if __name__ == "__main__":
    sys.exit(main())
