"""The one place SparkSessions are built.

Local mode by default with settings right for a small machine; on a cluster
``spark.master`` is left to spark-submit and everything else comes from
``pipeline.yaml``.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import DataFrame, SparkSession

from customer_mdm.config import SparkSettings


def build_session(settings: SparkSettings) -> SparkSession:
    """Gets or creates the session; Python workers use this interpreter so they see the same packages."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if settings.master and settings.master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName(settings.app_name)
    if settings.master:
        builder = builder.master(settings.master)
    defaults = {
        "spark.driver.memory": settings.driver_memory,
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(max(2, settings.shuffle_partitions)),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.python.worker.reuse": "true",
        "spark.driver.extraJavaOptions": "-Dlog4j2.level=warn",
        "spark.sql.debug.maxToStringFields": "500",
    }
    for key, value in {**defaults, **settings.conf}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.log_level)
    return spark


@contextmanager
def persisted(frame: DataFrame) -> Iterator[DataFrame]:
    """``frame`` cached while several actions read it, released after, also on failure: the stream job's hops
    run for days in one session, so a cache that outlives its increment is a leak."""
    cached = frame.persist()
    try:
        yield cached
    finally:
        cached.unpersist()
