"""File rows as bronze rows: raw strings kept, audit columns added, malformed rows flagged, not dropped."""
from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from customer_mdm.bronze.audit import INGEST_DATE, INGEST_RUN_ID, INGESTED_AT, SOURCE_SYSTEM, with_audit_columns
from customer_mdm.config import SourceConfig
from customer_mdm.sources.files import RAW_RECORD, SOURCE_FILE

MALFORMED_REASON = "_malformed_reason"
ROW_REF = "_row_ref"
SOURCE_CHECKSUM = "_source_checksum"
_REPLACEMENT_CHAR = "\ufffd"


def bronze_file_schema(source: SourceConfig) -> StructType:
    """Source columns as strings, then lineage and audit columns; partitioned by source and ingest date."""
    return StructType(
        [StructField(c, StringType()) for c in source.columns]
        + [StructField(RAW_RECORD, StringType()), StructField(MALFORMED_REASON, StringType()),
           StructField(ROW_REF, LongType()), StructField(SOURCE_FILE, StringType()),
           StructField(SOURCE_CHECKSUM, StringType()), StructField(INGEST_RUN_ID, StringType()),
           StructField(INGESTED_AT, TimestampType()), StructField(SOURCE_SYSTEM, StringType()),
           StructField(INGEST_DATE, StringType())])


def _malformed_reason(source: SourceConfig) -> F.Column:
    encoding = {k.lower(): v for k, v in source.options.items()}.get("encoding", "UTF-8")
    unsplittable = ("wrong number of fields or broken quoting" if source.format == "csv"
                    else "not a valid JSON object")
    has_bad_bytes = F.concat_ws("", *[F.col(f"`{c}`") for c in source.columns]).contains(_REPLACEMENT_CHAR)
    return (F.when(F.col(RAW_RECORD).isNotNull(), F.lit(unsplittable))
            .when(has_bad_bytes, F.lit(f"bytes not valid in {encoding} (replaced by U+FFFD)")))


def to_bronze(raw: DataFrame, *, source: SourceConfig, checksums: Mapping[str, str], run_id: str) -> DataFrame:
    """``raw`` from sources.files.read_raw; ``checksums`` maps each file path to its SHA-256."""
    checksum_of = F.create_map(*[F.lit(x) for pair in checksums.items() for x in pair])
    flagged = raw.withColumn(MALFORMED_REASON, _malformed_reason(source)) \
        .withColumn(ROW_REF, F.monotonically_increasing_id()) \
        .withColumn(SOURCE_CHECKSUM, checksum_of[F.col(SOURCE_FILE)])
    stamped = with_audit_columns(flagged, run_id=run_id, source_system=source.name)
    return stamped.select(*[F.col(f"`{f.name}`") for f in bronze_file_schema(source).fields])
