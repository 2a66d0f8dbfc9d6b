"""Suppressed source records: the erasure's hashes, and hop 1's filter that keeps erased records out.

Apart from ``customer_mdm.ops.erasure`` so hop 1 can use it without importing the erasure (which runs hops).
"""
from __future__ import annotations

import hashlib

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from customer_mdm.config import SourceConfig
from customer_mdm.party import SOURCE_RECORD_ID


def record_hash(source_system: str, source_record_id: str) -> str:
    """The suppression key of a record: SHA-256 of ``system:id`` (id trimmed, as silver stores it)."""
    return hashlib.sha256(f"{source_system}:{source_record_id.strip()}".encode("utf-8")).hexdigest()


def record_hash_column(source_system: Column, source_record_id: Column) -> Column:
    """``record_hash`` as a Spark expression."""
    return F.sha2(F.concat_ws(":", source_system, F.trim(source_record_id)), 256)


def bronze_record_id(source: SourceConfig) -> Column:
    """A bronze row's source record id: the mapped column of a file source, the key bytes of a Kafka event."""
    if source.format == "kafka":
        return F.col("key").cast("string")
    return F.col(f"`{source.mapping[SOURCE_RECORD_ID]}`")


def drop_suppressed(bronze: DataFrame, suppressions: DataFrame, *, source: SourceConfig) -> DataFrame:
    """The bronze rows of ``source`` whose record was not erased (``suppressions``: ops.erasure_suppression)."""
    hashes = suppressions.where(F.col("source_system") == source.name).select("record_hash").distinct()
    keyed = bronze.withColumn("__record_hash", record_hash_column(F.lit(source.name), bronze_record_id(source)))
    return keyed.join(F.broadcast(hashes), keyed["__record_hash"] == hashes["record_hash"], "left_anti") \
        .drop("__record_hash")
