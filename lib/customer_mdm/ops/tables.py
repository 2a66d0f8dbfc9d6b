"""Schemas of the operational tables under ops.*; each job ensures the ones it writes."""
from __future__ import annotations

from pyspark.sql.types import LongType, MapType, StringType, StructField, StructType, TimestampType

RUNS = "ops.runs"
FILE_MANIFEST = "ops.file_manifest"

RUNS_SCHEMA = StructType([
    StructField("run_id", StringType()),
    StructField("job", StringType()),
    StructField("mode", StringType()),
    StructField("flags", StringType()),
    StructField("started_at", TimestampType()),
    StructField("ended_at", TimestampType()),
    StructField("status", StringType()),
    StructField("rows_read", LongType()),
    StructField("rows_written", LongType()),
    StructField("rows_skipped", LongType()),
    StructField("counts", MapType(StringType(), LongType())),
    StructField("error", StringType()),
    StructField("recorded_at", TimestampType()),
])

FILE_MANIFEST_SCHEMA = StructType([
    StructField("run_id", StringType()),
    StructField("source_system", StringType()),
    StructField("file_path", StringType()),
    StructField("checksum", StringType()),
    StructField("size_bytes", LongType()),
    StructField("status", StringType()),
    StructField("reason", StringType()),
    StructField("rows", LongType()),
    StructField("malformed_rows", LongType()),
    StructField("bronze_version", LongType()),
    StructField("recorded_at", TimestampType()),
])
