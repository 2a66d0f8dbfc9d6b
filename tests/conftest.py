"""Shared fixtures: one SparkSession for the whole run, a fresh lake folder per test."""
from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from customer_mdm.config import PipelineConfig, SparkSettings, load_config, with_lake
from customer_mdm.config.resolve import load_resolve_settings
from customer_mdm.hops.batch import BatchSummary, file_sources, run_batch
from customer_mdm.ops.runs import Run
from customer_mdm.samples.generator import generate
from customer_mdm.spark import build_session
from customer_mdm.storage import TableStore, open_store
from fault_report import FaultReport, FaultRow, write_into

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


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass(frozen=True)
class SampleLake:
    """A project folder (shipped conf and model, a generated sample) and the lake one batch run built from it."""

    root: Path
    config: PipelineConfig
    store: TableStore
    summary: BatchSummary
    log_lines: tuple[str, ...]  # every line the product logged during the run, at debug level


@pytest.fixture(scope="session")
def sample_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> SampleLake:
    """Built once per test session, read by many tests: treat it as read-only (copy ``root`` to change it).

    Bronze, silver and gold of a 60-record sample (the Kafka source configured, never run).
    """
    root = tmp_path_factory.mktemp("sample")
    for folder in ("conf", "models"):
        shutil.copytree(REPO / folder, root / folder)
    generate(root / "data" / "landing", records=60, seed=3, extracts=1)
    config = load_config(root / "conf", lake=root / "lake")
    store = open_store(spark, config)
    collect, logger = _Collect(), logging.getLogger("customer_mdm")
    collect.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    level = logger.level
    logger.addHandler(collect)
    logger.setLevel(logging.DEBUG)
    try:
        summary = run_batch(spark, store, config, Run(store, "run-sample", "test", "batch", {}),
                            sources=file_sources(config), resolve=load_resolve_settings(config))
    finally:
        logger.removeHandler(collect)
        logger.setLevel(level)
    return SampleLake(root, config, store, summary, tuple(collect.lines))


_FAULTS = FaultReport()
RecordFault = Callable[..., None]


@pytest.fixture
def fault_report(request: pytest.FixtureRequest) -> RecordFault:
    """Records a row of the fault table (tests/fault_report.py); call it after the test's assertions."""
    test = request.node.path.name

    def record(fault: str, *, expected: str, observed: str, checked: int | None = None, lost: int | None = None,
               duplicated: int | None = None) -> None:
        _FAULTS.add(FaultRow(fault, expected, observed, checked, lost, duplicated, test))
    return record


def _whole_suite(config: pytest.Config) -> bool:
    """True when this run selected every test: the tests folder, no -k or -m."""
    tests = Path(__file__).resolve().parent
    args = [Path(a).resolve() for a in config.args] or [tests]
    return args == [tests] and not config.option.keyword and not config.option.markexpr


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a pytest-xdist worker, hands its fault rows to the controller, which writes the table."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["fault_rows"] = json.dumps([asdict(row) for row in _FAULTS.rows])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    for row in json.loads(getattr(node, "workeroutput", {}).get("fault_rows", "[]")):
        _FAULTS.add(FaultRow(**row))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    if not _FAULTS.rows:
        return
    table = _FAULTS.markdown(when=dt.datetime.now(dt.timezone.utc))
    written = exitstatus == 0 and _whole_suite(config) and write_into(REPO / "README.md", table)
    terminalreporter.write_sep("-", "fault table" + (" (written into README.md)" if written else ""))
    terminalreporter.write_line(table)
