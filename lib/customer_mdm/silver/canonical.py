"""Bronze rows -> canonical party rows (strings), the first step of hop 1.

File rows arrive already split; Kafka values are parsed here (bronze keeps
the bytes), so a parser fix can be replayed over old events. What cannot be
parsed is split off with its reason: malformed file rows to quarantine,
unparseable events to the dead letter table, never dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from customer_mdm.config import SourceConfig
from customer_mdm.party import CANONICAL_COLUMNS

BRONZE_VERSION = "_bronze_version"
#: Lineage every canonical row carries into silver.
LINEAGE_COLUMNS: tuple[str, ...] = (BRONZE_VERSION, "_seq_row", "_source_ref", "_ingest_run_id", "_ingested_at")


@dataclass(frozen=True)
class Parsed:
    """Rows split into those that carry the source's columns and those that cannot."""

    rows: DataFrame
    malformed: DataFrame


def file_rows(bronze: DataFrame) -> Parsed:
    """Malformed file rows keep their raw text and reason; lineage is file path and row reference."""
    lineaged = bronze.withColumn("_seq_row", F.col("_row_ref")) \
        .withColumn("_source_ref", F.concat(F.col("_source_file"), F.lit("#"), F.col("_row_ref").cast("string")))
    bad = F.col("_malformed_reason").isNotNull()
    return Parsed(rows=lineaged.where(~bad), malformed=lineaged.where(bad))


def kafka_rows(bronze: DataFrame, source: SourceConfig) -> Parsed:
    """Parses JSON values into the source's columns; null, non-UTF-8, non-JSON, non-object values are split off."""
    text = F.col("value").cast("string")
    parsed_json = F.try_parse_json(text)
    error = (F.when(F.col("value").isNull(), F.lit("null value"))
             .when(~F.is_valid_utf8(text), F.lit("value is not valid UTF-8"))
             .when(parsed_json.isNull(), F.lit("value is not valid JSON"))
             .when(F.schema_of_variant(parsed_json).startswith("OBJECT") == F.lit(False),
                   F.lit("JSON value is not an object")))
    with_error = bronze.withColumn("_parse_error", error) \
        .withColumn("_seq_row", F.col("_kafka_offset")) \
        .withColumn("_source_ref", F.format_string("%s/%d/%d", F.col("_kafka_topic"), F.col("_kafka_partition"),
                                                   F.col("_kafka_offset")))
    good = with_error.where(F.col("_parse_error").isNull())
    fields = {c: F.try_variant_get(parsed_json, f"$.{c}", "string") for c in source.columns}
    return Parsed(rows=good.withColumns(fields), malformed=with_error.where(F.col("_parse_error").isNotNull()))


def to_canonical(rows: DataFrame, source: SourceConfig) -> DataFrame:
    """Source columns renamed onto the party columns, the delete flag evaluated, raw values kept as JSON."""
    canonical = [F.col(f"`{source.mapping[c]}`").alias(c) if c in source.mapping
                 else F.lit(None).cast("string").alias(c) for c in CANONICAL_COLUMNS]
    is_delete = F.coalesce(F.expr(source.delete_when), F.lit(False)) if source.delete_when else F.lit(False)
    raw = F.to_json(F.struct(*[F.col(f"`{c}`") for c in source.columns]))
    return rows.select(F.lit(source.name).alias("source_system"), *canonical, is_delete.alias("_is_delete"),
                       raw.alias("_raw"), *[F.col(c) for c in LINEAGE_COLUMNS])
