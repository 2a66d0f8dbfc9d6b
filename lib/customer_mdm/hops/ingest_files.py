"""Files -> bronze for one source, exactly once per file content.

All new files of a source land in ONE bronze commit that carries every
file's SHA-256 as a Delta application transaction (``file:<sha256>``), so a
file is in bronze at most once whatever crashes or re-runs happen, and the
manifest written afterwards can always be reconstructed from bronze.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_mdm.bronze.audit import PARTITION_COLUMNS
from customer_mdm.bronze.files import MALFORMED_REASON, SOURCE_CHECKSUM, bronze_file_schema, to_bronze
from customer_mdm.config import PipelineConfig, SourceConfig
from customer_mdm.ops.faults import kill_point
from customer_mdm.ops.tables import FILE_MANIFEST, FILE_MANIFEST_SCHEMA
from customer_mdm.sources.files import FileCheck, LandedFile, check_file, discover, ignored_json_keys, read_raw
from customer_mdm.storage import AppTxn, TableStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileOutcome:
    file: LandedFile
    status: str
    reason: str | None = None
    rows: int = 0
    malformed_rows: int = 0
    bronze_version: int | None = None


@dataclass(frozen=True)
class IngestReport:
    source: str
    outcomes: tuple[FileOutcome, ...]
    bronze_version: int | None
    seconds: float

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def rows(self) -> int:
        return sum(o.rows for o in self.outcomes if o.status == "ingested")

    @property
    def malformed_rows(self) -> int:
        return sum(o.malformed_rows for o in self.outcomes if o.status == "ingested")


def file_txn(file: LandedFile) -> AppTxn:
    return AppTxn(f"file:{file.checksum}", 0)


def ingest_source(spark: SparkSession, store: TableStore, config: PipelineConfig, source: SourceConfig, *,
                  run_id: str) -> IngestReport:
    with store.lock(f"ingest-{source.name}"):  # a second job ingesting the same files waits, then skips them
        return _ingest_source(spark, store, config, source, run_id=run_id)


def _ingest_source(spark: SparkSession, store: TableStore, config: PipelineConfig, source: SourceConfig, *,
                   run_id: str) -> IngestReport:
    started = time.monotonic()
    table = source.bronze_table
    store.ensure_table(table, bronze_file_schema(source), partition_by=PARTITION_COLUMNS)
    store.ensure_table(FILE_MANIFEST, FILE_MANIFEST_SCHEMA)
    found = discover(config, source)
    kill_point("ingest:after_discover")
    outcomes: list[FileOutcome] = []
    fresh: list[LandedFile] = []
    seen: set[str] = set()
    committed: list[LandedFile] = []
    for file in found:
        if file.checksum in seen:
            outcomes.append(FileOutcome(file, "skipped", "same content as another file in this run"))
        elif store.txn_version(table, file_txn(file).app_id) is not None:
            committed.append(file)
        else:
            fresh.append(file)
        seen.add(file.checksum)
    outcomes += _already_in_bronze(spark, store, table, committed)
    checks = [check_file(source, f) for f in fresh]
    outcomes += [FileOutcome(c.file, "rejected", c.reason) for c in checks if c.status == "rejected"]
    readable = [c for c in checks if c.status == "readable"]
    version = _append_readable(spark, store, source, readable, run_id=run_id)
    kill_point("ingest:after_bronze_commit")
    if version is not None:
        outcomes += _ingested(spark, store, source, readable, version)
    _write_manifest(store, source, outcomes, run_id=run_id)
    report = IngestReport(source.name, tuple(outcomes), version, time.monotonic() - started)
    log.info("bronze %s: %d files found, %d ingested (%d rows, %d malformed), %d skipped, %d rejected, "
             "version %s, %.1fs", source.name, len(found), report.count("ingested"), report.rows,
             report.malformed_rows, report.count("skipped"), report.count("rejected"), version, report.seconds)
    return report


def _append_readable(spark: SparkSession, store: TableStore, source: SourceConfig,
                     readable: Sequence[FileCheck], *, run_id: str) -> int | None:
    """One Spark read per header layout, one bronze commit for all of them."""
    if not readable:
        return None
    by_layout: dict[tuple[str, ...], list[FileCheck]] = defaultdict(list)
    for check in readable:
        by_layout[check.header].append(check)
    frames = [read_raw(spark, source, group) for group in by_layout.values()]
    raw = frames[0]
    for frame in frames[1:]:
        raw = raw.unionByName(frame)
    checksums = {c.file.path: c.file.checksum for c in readable}
    bronze = to_bronze(raw, source=source, checksums=checksums, run_id=run_id)
    result = store.append(source.bronze_table, bronze, txn=[file_txn(c.file) for c in readable])
    return result.version


def _counts_by_file(spark: SparkSession, store: TableStore, table: str, checksums: Sequence[str], *,
                    version: int | None = None) -> dict[str, tuple[int, int]]:
    """(rows, malformed rows) per checksum, read back from bronze rather than trusted from memory."""
    if version is not None:
        df = store.read_added(table, after_version=version - 1, up_to_version=version)
    else:
        df = store.read(table).where(F.col(SOURCE_CHECKSUM).isin(list(checksums)))
    counted = df.groupBy(SOURCE_CHECKSUM).agg(F.count(F.lit(1)).alias("rows"),
                                              F.count(MALFORMED_REASON).alias("malformed")).collect()
    return {r[SOURCE_CHECKSUM]: (int(r["rows"]), int(r["malformed"])) for r in counted}


def _ingested(spark: SparkSession, store: TableStore, source: SourceConfig, readable: Sequence[FileCheck],
              version: int) -> list[FileOutcome]:
    counts = _counts_by_file(spark, store, source.bronze_table, [c.file.checksum for c in readable],
                             version=version)
    ignored = ignored_json_keys(spark, source, [c.file.path for c in readable])
    return [FileOutcome(c.file, "ingested", f"keys not in columns, ignored: {ignored[c.file.path]}"
                        if c.file.path in ignored else None, *counts.get(c.file.checksum, (0, 0)),
                        bronze_version=version)
            for c in readable]


def _already_in_bronze(spark: SparkSession, store: TableStore, table: str,
                       files: Sequence[LandedFile]) -> list[FileOutcome]:
    """Committed files: skipped, unless no manifest row says so (an earlier run died before writing it)."""
    if not files:
        return []
    manifest = store.read(FILE_MANIFEST).where(F.col("status") == "ingested") \
        .where(F.col("checksum").isin([f.checksum for f in files])).select("checksum").distinct().collect()
    recorded = {r["checksum"] for r in manifest}
    missing = [f for f in files if f.checksum not in recorded]
    counts = _counts_by_file(spark, store, table, [f.checksum for f in missing]) if missing else {}
    return [FileOutcome(f, "skipped", "already in bronze") if f.checksum in recorded else
            FileOutcome(f, "ingested", "recovered: committed to bronze by an earlier run that stopped "
                        "before writing the manifest", *counts.get(f.checksum, (0, 0)))
            for f in files]


def _write_manifest(store: TableStore, source: SourceConfig, outcomes: Sequence[FileOutcome], *,
                    run_id: str) -> None:
    if not outcomes:
        return
    now = dt.datetime.now(dt.timezone.utc)
    store.append_rows(FILE_MANIFEST, [{
        "run_id": run_id, "source_system": source.name, "file_path": o.file.path, "checksum": o.file.checksum,
        "size_bytes": o.file.size, "status": o.status, "reason": o.reason, "rows": o.rows,
        "malformed_rows": o.malformed_rows, "bronze_version": o.bronze_version, "recorded_at": now,
    } for o in outcomes], txn=AppTxn(f"manifest:{run_id}:{source.name}", 0))
