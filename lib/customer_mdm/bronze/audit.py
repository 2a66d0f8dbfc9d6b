"""Audit columns every bronze row carries, whichever way it arrived."""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

INGEST_RUN_ID = "_ingest_run_id"
INGESTED_AT = "_ingested_at"
SOURCE_SYSTEM = "_source_system"
INGEST_DATE = "_ingest_date"
PARTITION_COLUMNS: tuple[str, ...] = (SOURCE_SYSTEM, INGEST_DATE)


def with_audit_columns(df: DataFrame, *, run_id: str, source_system: str,
                       ingested_at: Column | None = None) -> DataFrame:
    """Stamps run, source and time; ``_ingest_date`` (UTC) partitions bronze with the source."""
    stamped = df.withColumn(INGEST_RUN_ID, F.lit(run_id)) \
        .withColumn(INGESTED_AT, ingested_at if ingested_at is not None else F.current_timestamp()) \
        .withColumn(SOURCE_SYSTEM, F.lit(source_system))
    return stamped.withColumn(INGEST_DATE, F.date_format(F.col(INGESTED_AT), "yyyy-MM-dd"))
