"""Delta tables behind one interface; nothing outside this package knows which adapter runs."""
from __future__ import annotations

from pyspark.sql import SparkSession

from customer_mdm.config import PipelineConfig
from customer_mdm.storage.base import AppTxn, CommitResult, Merge, MergeResult, TableStore
from customer_mdm.storage.delta_rs import DeltaRsStore

__all__ = ["AppTxn", "CommitResult", "Merge", "MergeResult", "TableStore", "open_store"]


def open_store(spark: SparkSession, config: PipelineConfig) -> TableStore:
    """The store for the configured lake (delta-rs adapter: no Delta jars needed)."""
    return DeltaRsStore(spark, config.lake_root, config.table_paths)
