"""Silver upsert + SCD2: one bronze increment of changes applied by hop 1 to a silver that already holds many keys.

    python bench/bench_silver_upsert.py [--keys 1000000] [--changes 100000] [--quick]

Set-up (not timed): generated CRM rows, one per key, are appended to
bronze.crm and refined by ``refine_source`` itself, so silver.party,
silver.party_history and the hop's watermark are exactly what the product
makes. That runs in a child process; the timed run starts a fresh JVM and cold
Python workers with cold standardization caches, as the next day's batch
job would. One increment of ``changes`` rows lands in bronze: 70% identical to the
stored records (unchanged), 20% with a new street address and phone and a
later update time (updated), 10% new keys. The touched keys are spread over
the whole key space. Timed: ``refine_source`` for that increment, with the
quality rules of conf/quality.yaml. The result is checked before it is
recorded: party rows = keys + new, one current history row per key, and
exactly the updated keys with two versions.

Every value a standardizer sees is distinct per key (street number, phone,
email), as in real customer data, so the per-worker caches do not flatter
the timing. With MDM_BENCH_BASELINE=<folder> the set-up lake is kept there
and reused by later runs with the same sizes (deleted by hand after a change
to standardization or to the silver schema).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness import REPO, ProcessTreeMonitor, Target, folder_mib, record, start, timed
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_mdm.bronze.audit import PARTITION_COLUMNS
from customer_mdm.bronze.files import bronze_file_schema, to_bronze
from customer_mdm.config import PipelineConfig, SourceConfig, load_config
from customer_mdm.logs import configure_logging
from customer_mdm.hops.refine import HISTORY, PARTY, RefineReport, refine_source
from customer_mdm.spark import build_session
from customer_mdm.storage import TableStore, open_store

log = logging.getLogger("bench.silver_upsert")
SOURCE = "crm"
TARGET = Target("seconds", "<=", 30)
UNCHANGED_SHARE, UPDATED_SHARE = 0.7, 0.2
#: A prime coprime with every key count used here: ``j * STRIDE mod keys`` visits distinct keys spread
#: over the whole key space.
STRIDE = 999_983

FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
         "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
         "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Sandra", "Mark", "Ashley"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
        "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson"]
STREETS = ["Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Sunset",
           "Lincoln", "Jackson", "Church", "River", "Highland", "Forest", "Meadow", "Ridge", "Spring"]
STREET_TYPES = ["Street", "Ave", "Road", "Blvd", "Drive", "Lane", "Ct", "Way"]
#: (city, state, zip, area code): real combinations, so phone numbers validate and scourgify has context.
PLACES = [("New York", "NY", "10001", 212), ("Chicago", "IL", "60601", 312), ("San Francisco", "CA", "94103", 415),
          ("Boston", "MA", "02108", 617), ("Houston", "TX", "77002", 713), ("Seattle", "WA", "98101", 206),
          ("Denver", "CO", "80202", 303), ("Atlanta", "GA", "30303", 404), ("Austin", "TX", "78701", 512),
          ("Phoenix", "AZ", "85004", 602), ("Miami", "FL", "33130", 305), ("Portland", "OR", "97204", 503)]
COMPANIES = ["Acme Corp", "Globex LLC", "Initech Inc", "Umbrella Co", "Stark Industries", "Wayne Enterprises"]


@dataclass(frozen=True, kw_only=True)
class Workload:
    keys: int
    changes: int

    @property
    def unchanged(self) -> int:
        return round(self.changes * UNCHANGED_SHARE)

    @property
    def updated(self) -> int:
        return round(self.changes * UPDATED_SHARE)

    @property
    def new(self) -> int:
        return self.changes - self.unchanged - self.updated


def _pick(values: list[str], key: Column, salt: str) -> Column:
    index = F.pmod(F.xxhash64(key, F.lit(salt)), F.lit(len(values))) + 1
    return F.element_at(F.array(*map(F.lit, values)), index.cast("int"))


def _draw(key: Column, salt: str, modulus: int) -> Column:
    return F.pmod(F.xxhash64(key, F.lit(salt)), F.lit(modulus))


def crm_rows(keys: DataFrame, *, file: str) -> DataFrame:
    """CRM extract rows as read from a file: every column a string, values a function of (key, version).

    ``keys`` has ``key`` (long) and ``version`` (int); version 1 moves the customer (street, phone) and is
    dated half a year after version 0.
    """
    key, moved = F.col("key"), F.concat_ws(":", F.col("key").cast("string"), F.col("version").cast("string"))
    place = F.pmod(F.xxhash64(key, F.lit("place")), F.lit(len(PLACES))).cast("int")
    first, last = _pick(FIRST, key, "first"), _pick(LAST, key, "last")

    def from_place(i: int) -> Column:
        return F.element_at(F.array(*[F.lit(str(p[i])) for p in PLACES]), place + 1)

    updated_at = F.timestamp_seconds(F.lit(1_704_067_200) + F.col("version") * 15_552_000
                                     + _draw(key, "time", 86_400 * 90))
    return keys.select(
        F.format_string("C%08d", key).alias("customer_id"),
        first.alias("first_name"),
        F.when(_draw(key, "middle", 3) == 0, F.substring(_pick(FIRST, key, "middle"), 1, 1)).alias("middle_name"),
        last.alias("last_name"),
        F.lower(F.format_string("%s.%s%d@%s", first, last, key,
                                _pick(["example.com", "mail.net", "inbox.org"], key, "domain"))).alias("email"),
        F.format_string("(%s) %03d-%04d", from_place(3), _draw(moved, "exchange", 700) + 200,
                        _draw(moved, "line", 10_000)).alias("phone"),
        F.format_string("%d %s %s", _draw(moved, "number", 9_999) + 1, _pick(STREETS, moved, "street"),
                        _pick(STREET_TYPES, moved, "type")).alias("street"),
        F.when(_draw(moved, "unit", 5) == 0, F.format_string("Apt %d", _draw(moved, "apt", 400) + 1))
         .alias("street2"),
        from_place(0).alias("city"), from_place(1).alias("state"), from_place(2).alias("zip"),
        F.lit("US").alias("country"),
        F.date_format(F.date_add(F.lit("1940-01-01").cast("date"), _draw(key, "dob", 25_000).cast("int")),
                      "MM/dd/yyyy").alias("birth_date"),
        F.when(_draw(key, "company", 4) == 0, _pick(COMPANIES, key, "company")).alias("company"),
        F.when(_draw(key, "opt", 10) == 0, F.lit("Y")).otherwise(F.lit("N")).alias("email_opt_out"),
        F.lit("ACTIVE").alias("status"),
        F.date_format(updated_at, "yyyy-MM-dd HH:mm:ss").alias("updated_at"),
        F.lit(None).cast("string").alias("_raw_record"),
        F.lit(file).alias("_source_file"),
    )


def increment_keys(spark: SparkSession, work: Workload) -> DataFrame:
    """(key, version) of the increment: unchanged and updated keys spread over the key space, then new keys."""
    j = F.col("id")
    touched = spark.range(work.unchanged + work.updated, numPartitions=2).select(
        (j * STRIDE % work.keys).alias("key"), F.when(j < work.unchanged, 0).otherwise(1).alias("version"))
    new = spark.range(work.keys, work.keys + work.new, numPartitions=1).select(
        j.alias("key"), F.lit(0).alias("version"))
    return touched.unionByName(new)


def land(store: TableStore, source: SourceConfig, keys: DataFrame, *, file: str, run_id: str) -> int:
    """Appends the rows of ``keys`` to bronze as one extract file; returns the bronze version."""
    store.ensure_table(source.bronze_table, bronze_file_schema(source), partition_by=PARTITION_COLUMNS)
    bronze = to_bronze(crm_rows(keys, file=file), source=source, checksums={file: f"sha256-of-{file}"},
                       run_id=run_id)
    version = store.append(source.bronze_table, bronze).version
    if version is None:
        raise RuntimeError(f"bronze append of {file} committed nothing")
    return version


def refine(store: TableStore, config: PipelineConfig, run_id: str) -> RefineReport:
    return refine_source(store, config.source(SOURCE), rules=config.quality_rules, run_id=run_id, mode="batch")


def build_baseline(config: PipelineConfig, work: Workload) -> float:
    """bronze.crm with one row per key, refined into silver by the hop; returns the refine seconds.

    Runs in a process of its own: the timed run then starts with a cold JVM and cold Python workers, as the
    next day's batch job would (and PySpark cannot cleanly start a second context in one process).
    """
    configure_logging()
    spark = build_session(config.spark)
    try:
        store = open_store(spark, config)
        keys = spark.range(work.keys, numPartitions=4).select(F.col("id").alias("key"), F.lit(0).alias("version"))
        land(store, config.source(SOURCE), keys, file="crm/baseline.csv", run_id="bench-baseline")
        started = time.perf_counter()
        report = refine(store, config, "bench-baseline")
        seconds = timed(started)
        if report.counts.upserted != work.keys:
            raise RuntimeError(f"baseline: {report.counts.upserted} keys upserted, expected {work.keys} "
                               f"({report.counts})")
        return seconds
    finally:
        spark.stop()


def baseline_lake(config: PipelineConfig, work: Workload, lake: Path) -> float | None:
    """Builds the set-up lake at ``lake``, or copies a kept one (MDM_BENCH_BASELINE); refine seconds if built."""
    kept_root = os.environ.get("MDM_BENCH_BASELINE")
    kept = Path(kept_root) / f"crm-{work.keys}" if kept_root else None
    if kept is not None and kept.is_dir():
        log.info("set-up: copying the kept baseline lake %s", kept)
        shutil.copytree(kept, lake)
        return None
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as child:
        seconds = child.submit(build_baseline, config, work).result()
    if kept is not None:
        shutil.copytree(lake, kept)
    return seconds


def check(store: TableStore, work: Workload) -> list[str]:
    """What the increment must have left in silver; empty when all holds."""
    history = store.read(HISTORY)
    versions = history.groupBy("source_record_id").count()
    found = {
        "party rows": store.read(PARTY).count(),
        "current history rows": history.where("is_current").count(),
        "history rows": history.count(),
        "keys with 2 versions": versions.where("count = 2").count(),
        "keys with more than 2 versions": versions.where("count > 2").count(),
    }
    expected = {
        "party rows": work.keys + work.new,
        "current history rows": work.keys + work.new,
        "history rows": work.keys + work.new + work.updated,
        "keys with 2 versions": work.updated,
        "keys with more than 2 versions": 0,
    }
    return [f"{name}: {found[name]:,}, expected {expected[name]:,}" for name in expected
            if found[name] != expected[name]]


def main() -> int:
    args = start(__doc__ or "", keys=(1_000_000, 20_000), changes=(100_000, 5_000))
    work = Workload(keys=args.keys, changes=args.changes)
    if work.unchanged + work.updated > work.keys:
        print(f"error: {work.changes:,} changes touch more keys than the {work.keys:,} stored", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-silver-") as tmp:
        config = load_config(REPO / "conf", lake=Path(tmp) / "lake")
        baseline_seconds = baseline_lake(config, work, config.lake_root)
        spark = build_session(config.spark)
        try:
            store = open_store(spark, config)
            land(store, config.source(SOURCE), increment_keys(spark, work), file="crm/increment.csv",
                 run_id="bench-increment")
            spark.sparkContext.setJobGroup("refine", "timed increment")
            with ProcessTreeMonitor() as monitor:
                started = time.perf_counter()
                report = refine(store, config, "bench-increment")
                seconds = timed(started)
            jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup("refine"))
            spark.sparkContext.setJobGroup("check", "verification")
            problems = check(store, work)
            lake_mib = folder_mib(config.lake_root)
        finally:
            spark.stop()
    c = report.counts
    counted = {"unchanged": (c.unchanged, work.unchanged), "upserted": (c.upserted, work.updated + work.new),
               "quarantined": (c.quarantined, 0)}
    problems += [f"{name}: {got:,}, expected {want:,}" for name, (got, want) in counted.items() if got != want]
    if problems:
        print("error: silver after the increment is wrong:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    record("silver_upsert", {
        "seconds": seconds,
        "rows_per_s": round(work.changes / seconds),
        "rows_per_cpu_s": round(work.changes / monitor.cpu_seconds),
        "spark_jobs": jobs,
        "read": c.read, "upserted": c.upserted, "unchanged": c.unchanged, "superseded": c.superseded,
        "quarantined": c.quarantined, "warned": c.warned,
        "baseline_refine_seconds": baseline_seconds,
        "lake_mib": lake_mib,
        **monitor.figures(),
    }, workload={"keys": work.keys, "changes": work.changes, "unchanged": work.unchanged,
                 "updated": work.updated, "new": work.new}, targets=[TARGET])
    return 0


if __name__ == "__main__":
    sys.exit(main())
