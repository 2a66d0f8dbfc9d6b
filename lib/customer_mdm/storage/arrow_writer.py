"""Distributed Delta appends without the Delta jars.

A Spark Python Data Source (``format("mdm_delta")``): every task writes its
rows as Parquet with pyarrow straight into the table folder and reports the
files; the driver commits all of them in ONE delta-rs transaction carrying
the application transaction id, so a write is all-or-nothing and a re-run of
the same (app id, version) commits nothing.
"""
from __future__ import annotations

import base64
import json
import os
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql.datasource import DataSource, DataSourceArrowWriter, WriterCommitMessage
from pyspark.sql.types import StructType

from customer_mdm.ops.faults import kill_point
from customer_mdm.storage.schema import conform_batch

FORMAT_NAME = "mdm_delta"
_SAFE_PARTITION_VALUE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
_ROWS_PER_ROW_GROUP = 128 * 1024
_ROWS_PER_FILE = 2 * 1024 * 1024


def encode_schema(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def _decode_schema(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


@dataclass
class WrittenFile:
    path: str
    size: int
    partition_values: dict[str, str | None]
    rows: int
    stats: str


@dataclass
class FilesWritten(WriterCommitMessage):
    files: list[WrittenFile] = field(default_factory=list)


def _stat_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text.replace("+00:00", "Z") if "T" in text else text
    return value


class _FileStats:
    """Delta file statistics (row and null counts, min/max of numeric and temporal columns)."""

    def __init__(self, schema: pa.Schema):
        self.rows = 0
        self.nulls = {f.name: 0 for f in schema}
        self.bounded = [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
                        or pa.types.is_temporal(f.type)]
        self.low: dict[str, Any] = {}
        self.high: dict[str, Any] = {}

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        for name in self.nulls:
            self.nulls[name] += table.column(name).null_count
        for name in self.bounded:
            bounds = pc.min_max(table.column(name)).as_py()
            if bounds["min"] is None:
                continue
            self.low[name] = bounds["min"] if name not in self.low else min(self.low[name], bounds["min"])
            self.high[name] = bounds["max"] if name not in self.high else max(self.high[name], bounds["max"])

    def to_json(self) -> str:
        return json.dumps({
            "numRecords": self.rows,
            "minValues": {k: _stat_value(v) for k, v in self.low.items()},
            "maxValues": {k: _stat_value(v) for k, v in self.high.items()},
            "nullCount": self.nulls,
        })


class _PartitionFile:
    """One open Parquet file of one partition, buffering Spark's small batches into large row groups."""

    def __init__(self, root: str, relative_dir: str, schema: pa.Schema,
                 partition_values: dict[str, str | None]):
        self.relative_path = f"{relative_dir}part-{uuid.uuid4()}-c000.snappy.parquet"
        self.full_path = os.path.join(root, self.relative_path)
        os.makedirs(os.path.dirname(self.full_path), exist_ok=True)
        self.writer = pq.ParquetWriter(self.full_path, schema, compression="snappy")
        self.partition_values = partition_values
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.stats = _FileStats(schema)

    def add(self, table: pa.Table) -> None:
        self.buffer.append(table)
        self.buffered += table.num_rows
        if self.buffered >= _ROWS_PER_ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            table = pa.concat_tables(self.buffer).combine_chunks()
            self.writer.write_table(table, row_group_size=max(1, table.num_rows))
            self.stats.add(table)
            self.buffer, self.buffered = [], 0

    def close(self) -> WrittenFile:
        self.flush()
        self.writer.close()
        return WrittenFile(self.relative_path, os.path.getsize(self.full_path), self.partition_values,
                           self.stats.rows, self.stats.to_json())


def _partition_dir(partition_by: Sequence[str], values: dict[str, str | None]) -> str:
    parts = []
    for name in partition_by:
        value = values[name]
        if value is not None and not _SAFE_PARTITION_VALUE.match(value):
            raise ValueError(f"partition value {value!r} of column {name} has characters other than "
                             "letters, digits, '_', '.', '-'; choose a safer partition column")
        parts.append(f"{name}={_NULL_PARTITION if value is None else value}/")
    return "".join(parts)


def _partition_text(value: Any) -> str | None:
    return None if value is None else str(_stat_value(value))


class DeltaRsArrowWriter(DataSourceArrowWriter):
    def __init__(self, options: dict[str, str], overwrite: bool):
        self.root = options["path"]
        self.table_schema = _decode_schema(options["schema"])
        self.partition_by: list[str] = json.loads(options.get("partition_by", "[]"))
        self.data_schema = pa.schema([f for f in self.table_schema if f.name not in self.partition_by])
        self.app_txns: list[tuple[str, int]] = [(a, int(v)) for a, v in json.loads(options.get("app_txns", "[]"))]
        self.write_id = options["write_id"]
        self.overwrite = overwrite

    def write(self, iterator: Iterator[pa.RecordBatch]) -> FilesWritten:
        open_files: dict[tuple[str | None, ...], _PartitionFile] = {}
        done: list[WrittenFile] = []
        for batch in iterator:
            table = pa.Table.from_batches([conform_batch(batch, self.table_schema)])
            for key, part in self._split(table):
                current = open_files.get(key)
                if current is None:
                    values = dict(zip(self.partition_by, key))
                    current = _PartitionFile(self.root, _partition_dir(self.partition_by, values),
                                             self.data_schema, values)
                    open_files[key] = current
                current.add(part.select(self.data_schema.names))
                if current.stats.rows + current.buffered >= _ROWS_PER_FILE:
                    done.append(current.close())
                    del open_files[key]
        done.extend(f.close() for f in open_files.values())
        return FilesWritten(done)

    def _split(self, table: pa.Table) -> Iterator[tuple[tuple[str | None, ...], pa.Table]]:
        if not self.partition_by:
            yield (), table
            return
        keys = table.select(self.partition_by).group_by(self.partition_by).aggregate([])
        for row in keys.to_pylist():
            mask = None
            for name in self.partition_by:
                column = table.column(name)
                test = pc.is_null(column) if row[name] is None else pc.equal(column, row[name])
                mask = test if mask is None else pc.and_(mask, test)
            yield tuple(_partition_text(row[n]) for n in self.partition_by), table.filter(mask)

    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        from deltalake import CommitProperties, DeltaTable, Transaction
        from deltalake.transaction import AddAction, RemoveAction

        files = [f for m in messages if isinstance(m, FilesWritten) for f in m.files]
        table = DeltaTable(self.root)
        for app_id, version in self.app_txns:
            committed = table.transaction_version(app_id)
            if committed is not None and committed >= version:
                self._delete(files)  # a concurrent writer committed this transaction first
                return
        if not files and not self.app_txns and not self.overwrite:
            return
        now_ms = int(time.time() * 1000)
        adds: list[AddAction | RemoveAction] = [AddAction(f.path, f.size, f.partition_values, now_ms, True, f.stats)
                                                for f in files]
        txns = [Transaction(app_id, version) for app_id, version in self.app_txns] or None
        metadata = {"mdm.write_id": self.write_id, "mdm.rows": str(sum(f.rows for f in files)),
                    "mdm.files": str(len(files))}
        kill_point("delta_append:before_commit")
        table.create_write_transaction(
            adds, mode="overwrite" if self.overwrite else "append", schema=table.schema(),
            partition_by=self.partition_by or None,
            commit_properties=CommitProperties(custom_metadata=metadata, app_transactions=txns,
                                               max_commit_retries=20))

    def abort(self, messages: list[WriterCommitMessage | None]) -> None:
        self._delete([f for m in messages if isinstance(m, FilesWritten) for f in m.files])

    def _delete(self, files: list[WrittenFile]) -> None:
        for f in files:
            try:
                os.remove(os.path.join(self.root, f.path))
            except FileNotFoundError:
                pass


class DeltaRsDataSource(DataSource):
    """``df.write.format("mdm_delta").option("path", ...).option("schema", ...)`` — used only by storage."""

    @classmethod
    def name(cls) -> str:
        return FORMAT_NAME

    def writer(self, schema: StructType, overwrite: bool) -> DeltaRsArrowWriter:
        return DeltaRsArrowWriter(dict(self.options), overwrite)
