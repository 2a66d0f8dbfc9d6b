"""The Delta append path against Spark's native Parquet writer, on the same cached DataFrame.

    python bench/bench_append_vs_parquet.py [--rows 5000000] [--repeats 3] [--quick]

``store.append`` (the mdm_delta Python data source: executors write Parquet
with pyarrow, the driver commits once with delta-rs) and
``df.write.parquet`` each write the same 10 mixed-type columns in 4
partitions, cached and counted first so generating them is not timed. The
two writers take turns, each into a fresh table or folder, after one
untimed small write each (Python workers started, JVM code warm), and the
median of the repeats is reported. Target: Delta rows/s at least 0.7 of
native. ``cpu_ratio`` compares CPU seconds of the whole process tree
instead, which a busy shared machine disturbs far less than wall time.
"""
from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import REPO, ProcessTreeMonitor, Target, folder_mib, record, start, timed
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_mdm.config import load_config
from customer_mdm.spark import build_session
from customer_mdm.storage import TableStore, open_store

log = logging.getLogger("bench.append_vs_parquet")
PARTITIONS = 4
TARGET = Target("ratio", ">=", 0.7)
WARM_UP_ROWS = 10_000


def mixed_frame(spark: SparkSession, rows: int) -> DataFrame:
    """Ten columns of the types bronze and silver hold; deterministic, some nulls, strings not all alike."""
    n = F.col("id")
    return spark.range(rows, numPartitions=PARTITIONS).select(
        n.alias("id"),
        (n % 1000).cast("int").alias("group_no"),
        (n * 0.37 % 10_000).alias("amount"),
        ((n * 7 % 1_000_000) / 100).cast("decimal(12,2)").alias("balance"),
        F.concat(F.lit("customer "), (n * 7919 % 1_000_003).cast("string")).alias("name"),
        F.substring(F.sha2(n.cast("string"), 256), 1, 16).alias("token"),
        (n % 3 == 0).alias("active"),
        F.date_add(F.lit("2000-01-01").cast("date"), (n % 9000).cast("int")).alias("birth_date"),
        F.timestamp_seconds(F.lit(1_600_000_000) + n % 100_000_000).alias("updated_at"),
        F.when(n % 10 == 0, F.lit(None)).otherwise(
            F.element_at(F.array(*map(F.lit, ["US", "GB", "DE", "FR", "CA"])), (n % 5 + 1).cast("int"))
        ).alias("country"),
    )


def write(writer: str, store: TableStore, df: DataFrame, *, table: str, folder: Path) -> None:
    if writer == "delta":
        store.append(table, df)
    else:
        df.write.mode("errorifexists").parquet(str(folder))


def rows_written(writer: str, store: TableStore, spark: SparkSession, *, table: str, folder: Path) -> int:
    """Read back after the clock stopped: a fast writer that lost rows must not win."""
    return store.read(table).count() if writer == "delta" else spark.read.parquet(str(folder)).count()


def main() -> int:
    args = start(__doc__ or "", rows=(5_000_000, 200_000), repeats=(3, 1))
    with tempfile.TemporaryDirectory(prefix="bench-append-") as tmp:
        root = Path(tmp)
        config = load_config(REPO / "conf", lake=root / "lake")
        spark = build_session(config.spark)
        try:
            store = open_store(spark, config)
            started = time.perf_counter()
            df = mixed_frame(spark, args.rows).cache()
            if df.count() != args.rows:
                raise RuntimeError("the cached frame lost rows")
            log.info("cached %d rows x %d columns in %d partitions in %.1fs", args.rows, len(df.columns),
                     df.rdd.getNumPartitions(), timed(started))
            warm_up = mixed_frame(spark, WARM_UP_ROWS)
            store.ensure_table("bench.warm_up", warm_up.schema)
            for writer in ("delta", "parquet"):
                write(writer, store, warm_up, table="bench.warm_up", folder=root / "warm_up")
            seconds: dict[str, list[float]] = {"delta": [], "parquet": []}
            monitors: dict[str, list[ProcessTreeMonitor]] = {"delta": [], "parquet": []}
            for i in range(args.repeats):  # taking turns spreads the shared machine's load over both writers
                table, folder = f"bench.append_{i}", root / f"parquet_{i}"
                store.ensure_table(table, df.schema)
                for writer in ("delta", "parquet"):
                    with ProcessTreeMonitor() as monitor:
                        started = time.perf_counter()
                        write(writer, store, df, table=table, folder=folder)
                        seconds[writer].append(timed(started))
                    monitors[writer].append(monitor)
                    written = rows_written(writer, store, spark, table=table, folder=folder)
                    if written != args.rows:
                        raise RuntimeError(f"{writer} write {i + 1} holds {written} rows, expected {args.rows}")
                    log.info("%s write %d of %d: %d rows in %.1fs", writer, i + 1, args.repeats, args.rows,
                             seconds[writer][-1])
            df.unpersist()
        finally:
            spark.stop()
        sizes = {"delta": folder_mib(Path(store.path("bench.append_0"))), "parquet": folder_mib(root / "parquet_0")}
    rate = {w: round(args.rows / statistics.median(s)) for w, s in seconds.items()}
    cpu = {w: [m.cpu_seconds for m in ms] for w, ms in monitors.items()}
    figures: dict[str, object] = {
        "ratio": round(rate["delta"] / rate["parquet"], 3),
        "cpu_ratio": round(statistics.median(cpu["parquet"]) / statistics.median(cpu["delta"]), 3),
    }
    for writer in ("delta", "parquet"):
        peaks = [m.figures() for m in monitors[writer]]
        figures |= {
            f"{writer}_rows_per_s": rate[writer],
            f"{writer}_seconds": seconds[writer],
            f"{writer}_rows_per_cpu_s": round(args.rows / statistics.median(cpu[writer])),
            f"{writer}_cpu_seconds": cpu[writer],
            f"{writer}_mib": sizes[writer],
            **{f"{writer}_{k}": max(p[k] for p in peaks)
               for k in ("python_peak_rss_mib", "jvm_peak_rss_mib", "python_workers_peak_pss_mib",
                         "process_tree_peak_mib", "load_1m_max")},
        }
    figures["load_1m_start"] = round(monitors["delta"][0].load_at_start, 2)
    record("append_vs_parquet", figures,
           workload={"rows": args.rows, "columns": 10, "partitions": PARTITIONS, "repeats": args.repeats},
           targets=[TARGET])
    return 0


if __name__ == "__main__":
    sys.exit(main())
