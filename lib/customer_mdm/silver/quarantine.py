"""silver.quarantine: every rejected row with its raw values and the reason, never lost.

Rows reach it from two places: file rows bronze could not split (rule
``malformed_row``) and rows a data-quality rule quarantined (one row per
failed rule). ``errors_only`` replays read it back.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from customer_mdm.config import SourceConfig

QUARANTINE = "silver.quarantine"
MALFORMED_RULE = "malformed_row"

QUARANTINE_SCHEMA = StructType([
    StructField("run_id", StringType()),
    StructField("source_system", StringType()),
    StructField("source_record_id", StringType()),
    StructField("rule", StringType()),
    StructField("column", StringType()),
    StructField("value", StringType()),
    StructField("message", StringType()),
    StructField("action", StringType()),
    StructField("_raw", StringType()),
    StructField("_source_ref", StringType()),
    StructField("_bronze_version", LongType()),
    StructField("_ingest_run_id", StringType()),
    StructField("quarantined_at", TimestampType()),
])


def _conform(df: DataFrame) -> DataFrame:
    return df.select(*[F.col(f"`{f.name}`").cast(f.dataType).alias(f.name) for f in QUARANTINE_SCHEMA.fields])


def quality_rows(failed: DataFrame, *, recorded_at: dt.datetime) -> DataFrame:
    """Rows the rules quarantined, in the table's shape."""
    return _conform(failed.withColumn("quarantined_at", F.lit(recorded_at).cast("timestamp")))


def malformed_rows(malformed: DataFrame, *, source: SourceConfig, run_id: str,
                   recorded_at: dt.datetime) -> DataFrame:
    """Bronze file rows flagged malformed at ingest: the unsplit line, or the fields as read."""
    raw = F.coalesce(F.col("_raw_record"), F.to_json(F.struct(*[F.col(f"`{c}`") for c in source.columns])))
    return _conform(malformed.select(
        F.lit(run_id).alias("run_id"), F.lit(source.name).alias("source_system"),
        F.lit(None).cast("string").alias("source_record_id"), F.lit(MALFORMED_RULE).alias("rule"),
        F.lit(None).cast("string").alias("column"), raw.alias("value"),
        F.col("_malformed_reason").alias("message"), F.lit("quarantine").alias("action"),
        raw.alias("_raw"), F.col("_source_ref"),
        F.col("_bronze_version"), F.col("_ingest_run_id"),
        F.lit(recorded_at).cast("timestamp").alias("quarantined_at")))
