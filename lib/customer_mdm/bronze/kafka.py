"""Kafka records as bronze rows: key, value and headers kept as the bytes that arrived.

Parsing the JSON payload waits for the silver hop, so a parser fix can be
replayed over every event ever received, and a poison message is kept
byte-for-byte instead of being lost at the door.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

from customer_mdm.bronze.audit import INGEST_DATE, INGEST_RUN_ID, INGESTED_AT, SOURCE_SYSTEM, with_audit_columns
from customer_mdm.sources.kafka import KAFKA_SCHEMA

KAFKA_TOPIC = "_kafka_topic"
KAFKA_PARTITION = "_kafka_partition"
KAFKA_OFFSET = "_kafka_offset"
KAFKA_TIMESTAMP = "_kafka_timestamp"

# Kafka source column -> bronze column; the record's coordinates get the lineage prefix.
_RENAMES = {"key": "key", "value": "value", "headers": "headers", "topic": KAFKA_TOPIC,
            "partition": KAFKA_PARTITION, "offset": KAFKA_OFFSET, "timestamp": KAFKA_TIMESTAMP}

BRONZE_KAFKA_SCHEMA = StructType(
    [StructField(_RENAMES[name], KAFKA_SCHEMA[name].dataType) for name in _RENAMES]
    + [StructField(INGEST_RUN_ID, StringType()), StructField(INGESTED_AT, TimestampType()),
       StructField(SOURCE_SYSTEM, StringType()), StructField(INGEST_DATE, StringType())])


def to_bronze(records: DataFrame, *, run_id: str, source_system: str) -> DataFrame:
    """Rows of the Kafka source schema -> rows of ``BRONZE_KAFKA_SCHEMA`` (one per record, none dropped)."""
    renamed = records.select(*[F.col(source).alias(target) for source, target in _RENAMES.items()])
    stamped = with_audit_columns(renamed, run_id=run_id, source_system=source_system)
    return stamped.select(*BRONZE_KAFKA_SCHEMA.fieldNames())
