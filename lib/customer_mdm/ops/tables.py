"""Schemas of the operational tables under ops.*; each job ensures the ones it writes."""
from __future__ import annotations

from pyspark.sql.types import (BinaryType, DoubleType, IntegerType, LongType, MapType, StringType, StructField,
                               StructType, TimestampType)

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

DEAD_LETTER = "ops.dead_letter"
DQ_METRICS = "ops.dq_metrics"

DEAD_LETTER_SCHEMA = StructType([
    StructField("source_system", StringType()),
    StructField("run_id", StringType()),
    StructField("kafka_topic", StringType()),
    StructField("kafka_partition", IntegerType()),
    StructField("kafka_offset", LongType()),
    StructField("kafka_timestamp", TimestampType()),
    StructField("key", BinaryType()),
    StructField("value", BinaryType()),
    StructField("error", StringType()),
    StructField("bronze_version", LongType()),
    StructField("recorded_at", TimestampType()),
])

DQ_METRICS_SCHEMA = StructType([
    StructField("run_id", StringType()),
    StructField("source_system", StringType()),
    StructField("rule", StringType()),
    StructField("type", StringType()),
    StructField("column", StringType()),
    StructField("action", StringType()),
    StructField("rows_checked", LongType()),
    StructField("rows_failed", LongType()),
    StructField("pass_rate", DoubleType()),
    StructField("recorded_at", TimestampType()),
])

ERASURE_SUPPRESSION = "ops.erasure_suppression"

#: One row per erased source record: the SHA-256 of "system:id" (never the id or the data), so hop 1 can refuse
#: the record when a replay or a re-sent event brings it back.
ERASURE_SUPPRESSION_SCHEMA = StructType([
    StructField("source_system", StringType()),
    StructField("record_hash", StringType()),
    StructField("requested_at", TimestampType()),
    StructField("run_id", StringType()),
    StructField("reason", StringType()),
])
