"""Shared fixtures: one SparkSession for the whole run, a fresh lake folder per test."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from customer_mdm.config import PipelineConfig, SparkSettings, load_config, with_lake
from customer_mdm.spark import build_session

REPO = Path(__file__).resolve().parents[1]
TEST_SPARK = SparkSettings(master="local[2]", app_name="customer-mdm-tests", shuffle_partitions=2,
                           driver_memory="3g", log_level="ERROR")


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = build_session(TEST_SPARK)
    yield session
    session.stop()


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    path = tmp_path / "lake"
    path.mkdir()
    return path


@pytest.fixture
def config(lake: Path) -> PipelineConfig:
    """The repository's own configuration pointed at this test's lake."""
    return with_lake(load_config(REPO / "conf"), lake)
