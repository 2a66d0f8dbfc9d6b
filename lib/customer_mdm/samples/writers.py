"""Chunked file writers for CSV, JSON lines and Parquet that publish only complete files.

Each file is written under a hidden temporary name next to its target
(``.crm_0001.csv.tmp``, which no source glob matches) and renamed into place
by ``publish`` once every file of a run is complete, so an ingest job never
picks up half a sample.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq


class ChunkWriter(ABC):
    """Appends all-string tables to one file; ``close``, then ``publish`` or ``discard``."""

    def __init__(self, path: Path):
        self.path = path
        self.temp = path.with_name(f".{path.name}.tmp")
        self.rows = 0
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        self._append(table)

    @abstractmethod
    def _append(self, table: pa.Table) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def publish(self) -> None:
        os.replace(self.temp, self.path)

    def discard(self) -> None:
        self.close()
        self.temp.unlink(missing_ok=True)


class CsvWriter(ChunkWriter):
    """RFC 4180 CSV with a header row, quoting only where needed, doubled quotes as escapes."""

    _ROWS = pa_csv.WriteOptions(include_header=False, quoting_style="needed")

    def __init__(self, path: Path, schema: pa.Schema):
        super().__init__(path)
        self.raw_lines = 0
        self._file = open(self.temp, "wb")
        header = pa_csv.WriteOptions(include_header=True, quoting_style="needed")
        pa_csv.write_csv(schema.empty_table(), self._file, write_options=header)

    def _append(self, table: pa.Table) -> None:
        pa_csv.write_csv(table, self._file, write_options=self._ROWS)

    def write_raw(self, line: str) -> None:
        """A line written as is (used for deliberately malformed rows)."""
        self._file.write(line.encode("utf-8"))
        self.raw_lines += 1

    def close(self) -> None:
        self._file.close()


class JsonLinesWriter(ChunkWriter):
    """One JSON object per line, UTF-8, nulls written as null."""

    def __init__(self, path: Path):
        super().__init__(path)
        self._file = open(self.temp, "wb")

    def _append(self, table: pa.Table) -> None:
        if table.num_rows:
            text = table.to_pandas().to_json(orient="records", lines=True, force_ascii=False)
            self._file.write((text if text.endswith("\n") else text + "\n").encode("utf-8"))

    def close(self) -> None:
        self._file.close()


class ParquetWriter(ChunkWriter):
    """Snappy Parquet, one row group per chunk."""

    def __init__(self, path: Path, schema: pa.Schema):
        super().__init__(path)
        self._writer = pq.ParquetWriter(self.temp, schema, compression="snappy")

    def _append(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()
