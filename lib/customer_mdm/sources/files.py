"""Landing-folder files (CSV, JSON lines, Parquet) read as raw strings.

Discovery and pre-checks run on the driver (a glob, a SHA-256, a header);
the rows themselves are read by Spark. Every source column arrives as the
string it was in the file; a row Spark cannot split or parse keeps its raw
text in ``_raw_record`` so nothing is dropped.
"""
from __future__ import annotations

import csv
import glob
import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from customer_mdm.config import PipelineConfig, SourceConfig

log = logging.getLogger(__name__)

RAW_RECORD = "_raw_record"
SOURCE_FILE = "_source_file"
_CORRUPT = "_corrupt_record"
_HASH_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class LandedFile:
    """One file found in a landing folder."""

    path: str
    size: int
    checksum: str


@dataclass(frozen=True)
class FileCheck:
    """Outcome of the driver-side pre-check: readable, or rejected with the reason."""

    file: LandedFile
    status: Literal["readable", "rejected"]
    reason: str | None = None
    header: tuple[str, ...] = ()


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def discover(config: PipelineConfig, source: SourceConfig) -> list[LandedFile]:
    """The files matching the source's glob, in name order, with their checksums."""
    assert source.path is not None, "file sources always have a path (checked by config)"
    pattern = str(config.resolve(source.path))
    paths = sorted(p for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    return [LandedFile(str(Path(p).resolve()), Path(p).stat().st_size, sha256_of(p)) for p in paths]


def check_file(source: SourceConfig, file: LandedFile) -> FileCheck:
    """Rejects what Spark cannot read as this source: empty files, foreign headers, unreadable Parquet."""
    if file.size == 0:
        return FileCheck(file, "rejected", "empty file (0 bytes)")
    if source.format == "csv":
        return _check_csv(source, file)
    if source.format == "parquet":
        return _check_parquet(source, file)
    return FileCheck(file, "readable", header=source.columns)


def _column_problem(source: SourceConfig, found: Sequence[str]) -> str | None:
    missing = [c for c in source.columns if c not in found]
    unexpected = [c for c in found if c not in source.columns]
    if not missing and not unexpected and len(set(found)) == len(found):
        return None
    parts = []
    if missing:
        parts.append(f"missing columns {missing}")
    if unexpected:
        parts.append(f"unexpected columns {unexpected}")
    if len(set(found)) != len(found):
        parts.append("duplicate column names")
    return "columns do not match " + str(source.file) + ": " + "; ".join(parts)


def _check_csv(source: SourceConfig, file: LandedFile) -> FileCheck:
    options = {k.lower(): v for k, v in source.options.items()}
    if options.get("header", "true").lower() != "true":
        return FileCheck(file, "readable", header=source.columns)
    encoding = options.get("encoding", options.get("charset", "UTF-8"))
    with open(file.path, "rb") as handle:
        first = handle.readline()
    try:
        line = first.decode(encoding).lstrip("\ufeff")
    except (UnicodeDecodeError, LookupError) as exc:
        return FileCheck(file, "rejected", f"header is not readable as {encoding}: {exc}")
    delimiter = options.get("delimiter", options.get("sep", ","))
    header = next(csv.reader(io.StringIO(line), delimiter=delimiter, quotechar=options.get("quote", '"')), [])
    header = [h.strip() for h in header]
    problem = _column_problem(source, header)
    if problem:
        return FileCheck(file, "rejected", problem)
    return FileCheck(file, "readable", header=tuple(header))


def _check_parquet(source: SourceConfig, file: LandedFile) -> FileCheck:
    try:
        names = pq.read_schema(file.path).names
    except Exception as exc:  # pyarrow raises several types for a damaged file
        return FileCheck(file, "rejected", f"not a readable Parquet file: {exc}")
    problem = _column_problem(source, names)
    return FileCheck(file, "rejected", problem) if problem else FileCheck(file, "readable", header=tuple(names))


def _local_path(column: Column) -> Column:
    """Spark's ``file:/a%20b/x.csv`` as the plain absolute path discovery produced."""
    return F.regexp_replace(F.url_decode(column), "^file:/+", "/")


def read_raw(spark: SparkSession, source: SourceConfig, checks: Sequence[FileCheck]) -> DataFrame:
    """Reads readable files of one header layout family as strings: source columns, raw record, file path."""
    paths = [c.file.path for c in checks]
    header = checks[0].header
    if source.format == "parquet":
        df = spark.read.parquet(*paths)
        df = df.select(*[F.col(f"`{c}`").cast("string").alias(c) for c in source.columns],
                       F.lit(None).cast("string").alias(RAW_RECORD), _local_path(F.col("_metadata.file_path"))
                       .alias(SOURCE_FILE))
        return df
    schema = StructType([StructField(c, StringType()) for c in header] + [StructField(_CORRUPT, StringType())])
    reader = spark.read.schema(schema).options(**dict(source.options)) \
        .option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", _CORRUPT)
    df = reader.csv(paths) if source.format == "csv" else reader.json(paths)
    return df.select(*[F.col(f"`{c}`") for c in source.columns], F.col(_CORRUPT).alias(RAW_RECORD),
                     _local_path(F.col("_metadata.file_path")).alias(SOURCE_FILE))


def ignored_json_keys(spark: SparkSession, source: SourceConfig, paths: Sequence[str]) -> dict[str, list[str]]:
    """Per JSON lines file, the top-level keys of its objects that are not source columns.

    The reader keeps only ``columns``; a key a producer added is named in the file's manifest row
    instead of vanishing unseen.
    """
    if source.format != "json" or not paths:
        return {}
    keys = spark.read.text(list(paths)).select(_local_path(F.col("_metadata.file_path")).alias("file"),
                                               F.explode(F.json_object_keys("value")).alias("key"))
    unknown = keys.where(~F.col("key").isin(list(source.columns))).groupBy("file") \
        .agg(F.sort_array(F.collect_set("key")).alias("keys")).collect()
    return {r["file"]: list(r["keys"]) for r in unknown}
