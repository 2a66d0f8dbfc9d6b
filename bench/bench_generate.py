"""Sample generation speed and memory: the three sources' extracts plus the truth file, written to a temp folder.

    python bench/bench_generate.py [--records 1000000] [--quick]

Runs ``generate`` with the default noise profile (seed 42, two extracts) and
records wall and CPU seconds, rows per second and the peak RSS of the
process; the files are checked against the summary's row counts before
anything is recorded. Generation is single-threaded, so on a quiet machine
wall seconds are about CPU seconds; on a shared one CPU seconds are the
figure that stays comparable (the load average is recorded with it).
"""
from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
from harness import ProcessTreeMonitor, Target, folder_mib, record, start, timed

from customer_mdm.samples.generator import generate

SEED = 42


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rows_on_disk(path: Path) -> int:
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    with path.open("rb") as f:
        lines = sum(1 for _ in f)
    return lines - 1 if path.suffix == ".csv" else lines


def main() -> int:
    args = start(__doc__ or "", records=(1_000_000, 20_000))
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        landing = Path(tmp) / "landing"
        with ProcessTreeMonitor() as memory:
            started, cpu_started = time.perf_counter(), _cpu_seconds()
            summary = generate(landing, records=args.records, seed=SEED)
            seconds, cpu_seconds = timed(started), round(_cpu_seconds() - cpu_started, 3)
        wrong = {str(f.path): (f.rows, _rows_on_disk(f.path)) for f in summary.files
                 if _rows_on_disk(f.path) != f.rows}
        if wrong:
            print(f"error: files hold other row counts than reported (reported, on disk): {wrong}", file=sys.stderr)
            return 1
        landing_mib = folder_mib(landing)
    rows = sum(f.rows for f in summary.files)
    record("generate", {
        "rows": rows,
        "records": summary.records,
        "entities": summary.entities,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rows_per_s": round(rows / seconds),
        "seconds_per_million_rows": round(seconds * 1e6 / rows, 1),
        "cpu_seconds_per_million_rows": round(cpu_seconds * 1e6 / rows, 1),
        **{f"{source}_rows": n for source, n in summary.rows_per_source().items()},
        "landing_mib": landing_mib,
        **memory.figures(),
    }, workload={"records": args.records, "seed": SEED, "extracts": 2},
        targets=[Target("seconds_per_million_rows", "<=", 45), Target("cpu_seconds_per_million_rows", "<=", 30),
                 Target("python_peak_rss_mib", "<=", 2048)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
