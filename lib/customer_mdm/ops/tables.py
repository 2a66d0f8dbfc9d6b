"""Schemas of the operational tables under ops.*; each job ensures the ones it writes."""
from __future__ import annotations

from pyspark.sql.types import (BinaryType, BooleanType, DoubleType, IntegerType, LongType, MapType, StringType,
                               StructField, StructType, TimestampType)

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

STREAM_PROGRESS = "ops.stream_progress"

# One row per ingest micro-batch (hop "ingest": Spark's progress, Kafka offsets and lag, bronze_rows and
# bronze_version written) and per silver/gold hop run that did work or failed (hop "silver" / "gold": input
# versions (from_version, to_version], lag_versions still behind afterwards, output_rows, output_version).
# latency_seconds: committed_at minus the oldest Kafka timestamp of the rows the batch or increment carried.
STREAM_PROGRESS_SCHEMA = StructType([
    StructField("query", StringType()),
    StructField("hop", StringType()),
    StructField("source", StringType()),
    StructField("run_id", StringType()),
    StructField("status", StringType()),
    StructField("error", StringType()),
    StructField("batch_id", LongType()),
    StructField("input_rows", LongType()),
    StructField("bronze_rows", LongType()),
    StructField("output_rows", LongType()),
    StructField("skipped", BooleanType()),
    StructField("input_rows_per_second", DoubleType()),
    StructField("processed_rows_per_second", DoubleType()),
    StructField("batch_duration_ms", LongType()),
    StructField("start_offsets", StringType()),
    StructField("end_offsets", StringType()),
    StructField("latest_offsets", StringType()),
    StructField("consumer_lag", StringType()),
    StructField("total_lag", LongType()),
    StructField("from_version", LongType()),
    StructField("to_version", LongType()),
    StructField("lag_versions", LongType()),
    StructField("min_kafka_timestamp", TimestampType()),
    StructField("max_kafka_timestamp", TimestampType()),
    StructField("bronze_version", LongType()),
    StructField("output_version", LongType()),
    StructField("committed_at", TimestampType()),
    StructField("latency_seconds", DoubleType()),
    StructField("recorded_at", TimestampType()),
])
