"""The delta-rs adapter: real Delta tables written without the Delta jars.

Appends run distributed through the ``mdm_delta`` Python data source; reads
hand Spark the snapshot's Parquet files (native speed); MERGE runs on the
driver with delta-rs' merge builder. ../shared/DELTA.md has the measurements.
"""
from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError as DeltaRsTableNotFound
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from customer_mdm.errors import (CommitConflictError, SchemaMismatchError, StorageError, TableNotFoundError,
                                 UnsupportedTableFeatureError)
from customer_mdm.storage.arrow_writer import FORMAT_NAME, DeltaRsDataSource, encode_schema
from customer_mdm.storage.base import AppTxn, CommitResult, Merge, MergeResult, TableStore
from customer_mdm.storage.schema import (arrow_to_spark, check_same_columns, normalize_arrow_schema,
                                         spark_to_arrow)

log = logging.getLogger(__name__)
T = TypeVar("T")
_UNSUPPORTED_READER_FEATURES = {"deletionVectors", "columnMapping"}
_MERGE_ATTEMPTS = 6
#: commitInfo key of an erasure's rewrite: incremental readers of append-only tables skip that commit.
ERASURE_MARK = "mdm.erasure"


def _txn_list(txn: AppTxn | Sequence[AppTxn] | None) -> list[AppTxn]:
    if txn is None:
        return []
    return [txn] if isinstance(txn, AppTxn) else list(txn)


def _txn_properties(txn: AppTxn | None, write_id: str) -> CommitProperties:
    return CommitProperties(custom_metadata={"mdm.write_id": write_id}, max_commit_retries=20,
                            app_transactions=[Transaction(txn.app_id, txn.version)] if txn else None)


class DeltaRsStore(TableStore):
    def __init__(self, spark: SparkSession, lake_root: Path, table_paths: Mapping[str, str] | None = None):
        super().__init__(lake_root, table_paths)
        self.spark = spark
        spark.dataSource.register(DeltaRsDataSource)

    # -- opening ---------------------------------------------------------
    def _open(self, table: str, version: int | None = None) -> DeltaTable:
        path = self.path(table)
        try:
            return DeltaTable(path, version=version)
        except DeltaRsTableNotFound as exc:
            raise TableNotFoundError(f"table {table} does not exist at {path}; run the job that creates it "
                                     "(or check --lake)") from exc
        except Exception as exc:  # delta-rs raises plain errors for a missing version
            if version is not None:
                raise StorageError(f"table {table} has no readable version {version}: {exc}") from exc
            raise

    def _arrow_schema(self, dt: DeltaTable) -> pa.Schema:
        return pa.schema(dt.schema().to_arrow())

    def exists(self, table: str) -> bool:
        return DeltaTable.is_deltatable(self.path(table))

    def ensure_table(self, table: str, schema: StructType, *, partition_by: Sequence[str] = (),
                     properties: Mapping[str, str] | None = None) -> None:
        wanted = spark_to_arrow(schema)
        if self.exists(table):
            dt = self._open(table)
            check_same_columns(table, self._arrow_schema(dt), wanted)
            existing = list(dt.metadata().partition_columns)
            if existing != list(partition_by):
                raise SchemaMismatchError(f"table {table} is partitioned by {existing}, expected "
                                          f"{list(partition_by)}")
            return
        Path(self.path(table)).mkdir(parents=True, exist_ok=True)
        DeltaTable.create(self.path(table), wanted, mode="ignore", partition_by=list(partition_by) or None,
                          name=table, configuration=dict(properties or {}))
        log.info("created table %s at %s", table, self.path(table))

    def version(self, table: str) -> int:
        return self._open(table).version() if self.exists(table) else -1

    def schema(self, table: str) -> StructType:
        return arrow_to_spark(self._arrow_schema(self._open(table)))

    # -- reading ---------------------------------------------------------
    def _check_readable(self, table: str, dt: DeltaTable) -> None:
        features = set(dt.protocol().reader_features or [])
        if features & _UNSUPPORTED_READER_FEATURES:
            raise UnsupportedTableFeatureError(
                f"table {table} uses {sorted(features & _UNSUPPORTED_READER_FEATURES)}, which this reader "
                "cannot apply; rewrite the table without them (e.g. REORG/purge in the engine that wrote it)")

    def _scan(self, table: str, dt: DeltaTable, files: Sequence[str]) -> DataFrame:
        schema = self.schema_of(dt)
        if not files:
            return self.spark.createDataFrame([], schema)
        df = self.spark.read.schema(schema).option("basePath", self.path(table)).parquet(*files)
        return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])

    def schema_of(self, dt: DeltaTable) -> StructType:
        return arrow_to_spark(self._arrow_schema(dt))

    def read(self, table: str, *, version: int | None = None) -> DataFrame:
        dt = self._open(table, version)
        self._check_readable(table, dt)
        return self._scan(table, dt, dt.file_uris())

    def read_arrow(self, table: str, *, columns: Sequence[str] | None = None, version: int | None = None) -> pa.Table:
        dt = self._open(table, version)
        self._check_readable(table, dt)
        return dt.to_pyarrow_table(columns=list(columns) if columns is not None else None)

    def read_added(self, table: str, *, after_version: int, up_to_version: int,
                   version_column: str | None = None) -> DataFrame:
        dt = self._open(table, up_to_version)
        self._check_readable(table, dt)
        log_dir = Path(self.path(table)) / "_delta_log"
        added: dict[str, int] = {}
        for version in range(after_version + 1, up_to_version + 1):
            commit = log_dir / f"{version:020d}.json"
            if not commit.exists():
                raise StorageError(f"table {table}: commit {version} is no longer in the log (log retention); "
                                   "replay this range from a full read instead")
            actions = [json.loads(line) for line in commit.read_text(encoding="utf-8").splitlines()]
            if any(ERASURE_MARK in a.get("commitInfo", {}) for a in actions):
                continue  # rows only removed; its added files hold rows read before, from their own commits
            for action in actions:
                if "remove" in action and action["remove"].get("dataChange", True):
                    raise StorageError(f"table {table} is not append-only in versions ({after_version}, "
                                       f"{up_to_version}]: commit {version} removes data")
                if "add" in action and action["add"].get("dataChange", True):
                    added[unquote(action["add"]["path"])] = version
        root = self.path(table)
        df = self._scan(table, dt, [os.path.join(root, p) for p in added])
        if version_column is None:
            return df
        versions = self.spark.createDataFrame([(os.path.basename(p), v) for p, v in added.items()],
                                              "__file string, __version long")
        tagged = df.withColumn("__file", F.col("_metadata.file_name"))
        return tagged.join(F.broadcast(versions), "__file").withColumnRenamed("__version", version_column) \
            .drop("__file")

    # -- writing ---------------------------------------------------------
    def txn_version(self, table: str, app_id: str) -> int | None:
        version = self._open(table).transaction_version(app_id)
        return None if version is None else int(version)

    def _already(self, table: str, txn: AppTxn | None) -> bool:
        if txn is None:
            return False
        committed = self.txn_version(table, txn.app_id)
        return committed is not None and committed >= txn.version

    def _find_commit(self, table: str, write_id: str) -> dict[str, Any] | None:
        for entry in self._open(table).history(limit=50):
            if entry.get("mdm.write_id") == write_id:
                return entry
        return None

    def append(self, table: str, df: DataFrame, *, txn: AppTxn | Sequence[AppTxn] | None = None,
               overwrite: bool = False) -> CommitResult:
        started = time.monotonic()
        dt = self._open(table)
        txns = _txn_list(txn)
        done = [t for t in txns if self._already(table, t)]
        if txns and len(done) == len(txns):
            log.info("append to %s skipped: transaction(s) %s already committed", table, done)
            return CommitResult(table, None, 0, 0, skipped=True)
        if done:
            raise StorageError(f"append to {table}: transactions {done} are already committed but others are "
                               "not; write only the uncommitted part")
        table_schema = self._arrow_schema(dt)
        check_same_columns(table, table_schema, spark_to_arrow(df.schema))
        write_id = str(uuid.uuid4())
        writer = df.write.format(FORMAT_NAME).mode("overwrite" if overwrite else "append") \
            .option("path", self.path(table)).option("schema", encode_schema(table_schema)) \
            .option("partition_by", json.dumps(list(dt.metadata().partition_columns))) \
            .option("write_id", write_id)
        if txns:
            writer = writer.option("app_txns", json.dumps([[t.app_id, t.version] for t in txns]))
        writer.save()
        entry = self._find_commit(table, write_id)
        if entry is None:
            return CommitResult(table, None, 0, 0, skipped=True)
        result = CommitResult(table, int(entry["version"]), int(entry.get("mdm.rows", 0)),
                              int(entry.get("mdm.files", 0)))
        log.info("appended %d rows in %d files to %s (version %s) in %.1fs", result.rows, result.files, table,
                 result.version, time.monotonic() - started)
        return result

    def append_rows(self, table: str, rows: pa.Table | Sequence[Mapping[str, Any]], *,
                    txn: AppTxn | None = None) -> CommitResult:
        dt = self._open(table)
        if self._already(table, txn):
            return CommitResult(table, None, 0, 0, skipped=True)
        schema = self._arrow_schema(dt)
        data = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(list(rows), schema=schema)
        check_same_columns(table, schema, data.schema)
        data = data.select(schema.names).cast(schema)
        write_id = str(uuid.uuid4())
        write_deltalake(self.path(table), data, mode="append", commit_properties=_txn_properties(txn, write_id))
        entry = self._find_commit(table, write_id)
        return CommitResult(table, None if entry is None else int(entry["version"]), data.num_rows,
                            0 if entry is None else int(entry.get("operationMetrics", {}).get("num_added_files", 0)))

    def truncate(self, table: str, *, txn: AppTxn | None = None) -> CommitResult:
        dt = self._open(table)
        if self._already(table, txn):
            log.info("truncate of %s skipped: transaction %s already committed", table, txn)
            return CommitResult(table, None, 0, 0, skipped=True)
        schema = self._arrow_schema(dt)
        write_id = str(uuid.uuid4())
        write_deltalake(self.path(table), schema.empty_table(), mode="overwrite",
                        partition_by=list(dt.metadata().partition_columns) or None,
                        commit_properties=_txn_properties(txn, write_id))
        entry = self._find_commit(table, write_id)
        version = None if entry is None else int(entry["version"])
        log.info("truncated %s (version %s); version %d stays readable by time travel", table, version, dt.version())
        return CommitResult(table, version, 0, 0)

    def execute_merge(self, merge: Merge) -> MergeResult:
        if self._already(merge.table, merge.txn):
            log.info("merge into %s skipped: transaction %s already committed", merge.table, merge.txn)
            return MergeResult(merge.table, None, {}, skipped=True)
        source = merge.source.cast(normalize_arrow_schema(merge.source.schema))
        write_id = str(uuid.uuid4())

        def attempt() -> dict[str, Any]:
            builder = self._open(merge.table).merge(
                source, merge.predicate, source_alias=merge.source_alias, target_alias=merge.target_alias,
                commit_properties=_txn_properties(merge.txn, write_id))
            for clause in merge.clauses:
                if clause.kind == "matched_update":
                    builder = builder.when_matched_update(updates=dict(clause.updates or {}),
                                                          predicate=clause.predicate)
                elif clause.kind == "matched_delete":
                    builder = builder.when_matched_delete(predicate=clause.predicate)
                elif clause.kind == "not_matched_insert":
                    builder = builder.when_not_matched_insert(updates=dict(clause.updates or {}),
                                                              predicate=clause.predicate)
                elif clause.kind == "not_matched_by_source_update":
                    builder = builder.when_not_matched_by_source_update(updates=dict(clause.updates or {}),
                                                                        predicate=clause.predicate)
                else:
                    builder = builder.when_not_matched_by_source_delete(predicate=clause.predicate)
            return dict(builder.execute())

        started = time.monotonic()
        metrics = self._retry_conflicts(merge.table, attempt, lambda: self._already(merge.table, merge.txn))
        entry = self._find_commit(merge.table, write_id)
        version, m = (None if entry is None else int(entry["version"])), metrics or {}
        log.info("merged %d source rows into %s (version %s): %d inserted, %d updated, %d deleted; files %d added, "
                 "%d removed; %.1fs", source.num_rows, merge.table, version, m.get("num_target_rows_inserted", 0),
                 m.get("num_target_rows_updated", 0), m.get("num_target_rows_deleted", 0),
                 m.get("num_target_files_added", 0), m.get("num_target_files_removed", 0),
                 time.monotonic() - started)
        return MergeResult(merge.table, version, m, skipped=entry is None)

    def _retry_conflicts(self, table: str, operation: Callable[[], T],
                         done_elsewhere: Callable[[], bool]) -> T | None:
        """Re-runs a whole operation after a lost commit race; None when the winner committed the same txn."""
        for attempt in range(1, _MERGE_ATTEMPTS + 1):
            try:
                return operation()
            except CommitFailedError as exc:
                if attempt == _MERGE_ATTEMPTS:
                    raise CommitConflictError(f"table {table}: commit still conflicting after {attempt} "
                                              f"attempts ({exc}); another writer keeps winning, retry later"
                                              ) from exc
                if done_elsewhere():
                    log.info("commit conflict on %s: the same transaction was committed by another writer",
                             table)
                    return None
                log.warning("commit conflict on %s (attempt %d): retrying", table, attempt)
                time.sleep(0.2 * 2 ** attempt)
        raise AssertionError("unreachable")

    def delete(self, table: str, predicate: str, *, erasure_id: str) -> int:
        started = time.monotonic()
        properties = CommitProperties(custom_metadata={ERASURE_MARK: erasure_id}, max_commit_retries=20)
        metrics = self._retry_conflicts(table, lambda: self._open(table).delete(predicate,
                                                                                commit_properties=properties),
                                        lambda: False)
        deleted = int((metrics or {}).get("num_deleted_rows", 0))
        log.info("deleted %d rows from %s (erasure %s) in %.1fs", deleted, table, erasure_id,
                 time.monotonic() - started)
        return deleted

    # -- maintenance -----------------------------------------------------
    def history(self, table: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        return self._open(table).history(limit=limit)

    def compact(self, table: str) -> dict[str, Any]:
        """A rewrite that lost the race to a merge is redone on the new snapshot: it changes no rows."""
        return dict(self._retry_conflicts(table, lambda: self._open(table).optimize.compact(), lambda: False) or {})

    def z_order(self, table: str, columns: Sequence[str]) -> dict[str, Any]:
        return dict(self._retry_conflicts(table, lambda: self._open(table).optimize.z_order(list(columns)),
                                          lambda: False) or {})

    def vacuum(self, table: str, *, retention_hours: int, dry_run: bool = False) -> list[str]:
        # full: also files no commit ever added (a job killed inside an append leaves its tasks' files)
        return list(self._open(table).vacuum(retention_hours=retention_hours, dry_run=dry_run,
                                             enforce_retention_duration=False, full=True))

    def checkpoint(self, table: str) -> int:
        delta = self._open(table)
        delta.create_checkpoint()
        return int(delta.version())
