"""The HTML lake report: its sections on the shared sample lake, on an empty lake, and in headless Chromium."""
from __future__ import annotations

import datetime as dt
import importlib.util
import logging
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import SparkSession

from customer_mdm.config import PipelineConfig
from customer_mdm.config.matching import MatchingConfig, load_matching
from customer_mdm.gold.tables import ENTITY_XREF, GOLDEN_RECORD, REVIEW_QUEUE
from customer_mdm.ops.report import (Report, dq_pass_rates, gather, probability_to_weight, quarantine_reasons,
                                     render_html, stream_latency)
from customer_mdm.ops.tables import DQ_METRICS_SCHEMA, STREAM_PROGRESS_SCHEMA
from customer_mdm.silver.quarantine import QUARANTINE_SCHEMA
from customer_mdm.storage import open_store

REPO = Path(__file__).resolve().parents[1]
SECTION_IDS = ["dq-pass-rate", "quarantine-reasons", "match-weights", "comparison-weights", "cluster-sizes",
               "review-queue", "golden-completeness", "stream-latency"]
T0 = dt.datetime(2024, 5, 1, 12, 0, 0)


class _Page(HTMLParser):
    """Section ids with their h2 text, image sources and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, str] = {}
        self.images: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self._section: str | None = None
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section":
            self._section = values["id"]
        self._in_h2 = tag == "h2"
        self.scripts += tag == "script"
        if tag == "img":
            self.images.append(values["src"] or "")
        self.links += [v or "" for k, v in attrs if k in ("href", "src") and tag != "img"]

    def handle_data(self, data: str) -> None:
        if self._in_h2 and self._section is not None:
            self.sections[self._section] = data
            self._in_h2 = False


def _page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def run_job(argv: list[str]) -> int:
    """jobs/report.py's main, as a process would run it; pytest gets its logging handlers back."""
    spec = importlib.util.spec_from_file_location("report_job", REPO / "jobs" / "report.py")
    assert spec is not None and spec.loader is not None
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    handlers, level = logging.root.handlers[:], logging.root.level
    try:
        return int(job.main(argv))
    finally:
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)


def _matching(config: PipelineConfig) -> MatchingConfig:
    return load_matching(config.conf_dir / "matching.yaml", project_root=config.project_root)


@pytest.fixture(scope="module")
def sample_report(sample_lake) -> Report:  # type: ignore[no-untyped-def]
    return gather(sample_lake.store, _matching(sample_lake.config))


@pytest.fixture(scope="module")
def report_file(sample_report: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_html(sample_report), encoding="utf-8")
    return path


def test_probability_thresholds_become_match_weights() -> None:
    assert probability_to_weight(0.9) == pytest.approx(math.log2(9))
    assert probability_to_weight(0.5) == 0.0
    assert probability_to_weight(1.0) == math.inf


def test_sample_report_has_every_section_with_the_lakes_numbers(  # type: ignore[no-untyped-def]
        sample_lake, sample_report: Report, report_file: Path) -> None:
    store = sample_lake.store
    text = report_file.read_text(encoding="utf-8")
    page = _page(text)
    assert list(page.sections) == SECTION_IDS
    assert page.sections["match-weights"] == "Match-weight histogram"
    assert page.scripts == 0 and page.links == [f"#{i}" for i in SECTION_IDS]
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert not re.search(r"https?://", text)

    assert sample_report.counts == {"entities": store.read(GOLDEN_RECORD).count(),
                                    "source records": store.read("silver.party").where("not is_deleted").count(),
                                    "runs": 1}
    by_id = {s.id: s for s in sample_report.sections}
    sizes = by_id["cluster-sizes"].table
    assert sizes is not None
    current = store.read(ENTITY_XREF).where("is_current")
    assert int((sizes["records"] * sizes["entities"]).sum()) == current.count()
    assert int(sizes["entities"].sum()) == current.select("entity_id").distinct().count()
    queue = by_id["review-queue"].table
    assert queue is not None and int(queue["items"].sum()) == store.read(REVIEW_QUEUE).count()
    weights = by_id["comparison-weights"].table
    assert weights is not None and list(dict.fromkeys(weights["comparison"])) == \
        [c.name for c in _matching(sample_lake.config).comparisons]
    assert by_id["stream-latency"].note == \
        "No stream has run on this lake (ops.stream_progress does not exist)."
    assert by_id["stream-latency"].figure is None


def test_report_renders_in_headless_chromium_without_console_errors(report_file: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    done = subprocess.run([chromium, "--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr",
                           "--v=0", "--dump-dom", report_file.as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [line for line in done.stderr.splitlines() if ":CONSOLE" in line] == []
    assert list(_page(done.stdout).sections) == SECTION_IDS


def test_sections_of_tables_not_created_yet_say_so(spark: SparkSession, config: PipelineConfig) -> None:
    report = gather(open_store(spark, config), _matching(config))
    notes = {s.id: s.note for s in report.sections}
    assert report.counts == {"entities": None, "source records": None, "runs": None}
    assert notes == {
        "dq-pass-rate": "ops.dq_metrics does not exist yet in this lake.",
        "quarantine-reasons": "silver.quarantine does not exist yet in this lake.",
        "match-weights": "gold.match_pairs does not exist yet in this lake.",
        "comparison-weights": notes["comparison-weights"],
        "cluster-sizes": "gold.entity_xref does not exist yet in this lake.",
        "review-queue": "gold.review_queue does not exist yet in this lake.",
        "golden-completeness": "gold.golden_record does not exist yet in this lake.",
        "stream-latency": "No stream has run on this lake (ops.stream_progress does not exist).",
    }
    assert notes["comparison-weights"].startswith("Model ")
    assert list(_page(render_html(report)).sections) == SECTION_IDS


def test_pass_rates_quarantine_reasons_and_stream_latency_from_rows(spark: SparkSession) -> None:
    metrics = spark.createDataFrame([
        ("run-2", "crm", "email_valid", "regex", "email", "warn", 10, 3, 0.7, T0 + dt.timedelta(hours=1)),
        ("run-1", "crm", "email_valid", "regex", "email", "warn", 10, 1, 0.9, T0),
        ("run-1", "crm", "id_present", "not_null", "id", "quarantine", 10, 0, 1.0, T0),
        ("run-1", "crm", "counted_only", "custom", None, "warn", 0, 0, None, T0),
    ], DQ_METRICS_SCHEMA)
    pd.testing.assert_frame_equal(dq_pass_rates(metrics), pd.DataFrame({
        "run_id": ["run-1", "run-1", "run-2"], "rule": ["crm.email_valid", "crm.id_present", "crm.email_valid"],
        "recorded_at": [T0, T0, T0 + dt.timedelta(hours=1)], "rows_checked": [10, 10, 10],
        "rows_failed": [1, 0, 3], "pass_rate": [0.9, 1.0, 0.7]}), check_dtype=False)

    row = {f.name: None for f in QUARANTINE_SCHEMA.fields}
    quarantine = spark.createDataFrame([
        {**row, "source_system": "crm", "rule": "email_valid", "column": "email", "value": "x@"},
        {**row, "source_system": "crm", "rule": "email_valid", "column": "email", "value": "y@"},
        {**row, "source_system": "billing", "rule": "malformed_row", "value": "a,b"},
    ], QUARANTINE_SCHEMA)
    pd.testing.assert_frame_equal(quarantine_reasons(quarantine), pd.DataFrame({
        "source_system": ["crm", "billing"], "rule": ["email_valid", "malformed_row"], "column": ["email", None],
        "rows": [2, 1]}), check_dtype=False)

    batch = {f.name: None for f in STREAM_PROGRESS_SCHEMA.fields}
    progress = spark.createDataFrame([
        {**batch, "source": "crm_events", "hop": "ingest", "input_rows": 5, "total_lag": 0, "latency_seconds": 2.5,
         "committed_at": T0 + dt.timedelta(seconds=12)},
        {**batch, "source": "crm_events", "hop": "ingest", "input_rows": 20, "total_lag": 7, "latency_seconds": 4.0,
         "committed_at": T0 + dt.timedelta(seconds=4)},
        {**batch, "source": "crm_events", "hop": "silver", "output_rows": 25, "lag_versions": 1,
         "latency_seconds": 9.0, "committed_at": T0 + dt.timedelta(seconds=13)},
        {**batch, "source": "crm_events", "hop": "gold", "status": "failed", "committed_at": None},
    ], STREAM_PROGRESS_SCHEMA)
    pd.testing.assert_frame_equal(stream_latency(progress), pd.DataFrame({
        "series": ["crm_events/ingest", "crm_events/ingest", "crm_events/silver"],
        "committed_at": [T0 + dt.timedelta(seconds=s) for s in (4, 12, 13)], "rows": [20, 5, 25],
        "latency_seconds": [4.0, 2.5, 9.0], "lag": [7, 0, 1]}), check_dtype=False)


def test_job_writes_the_report_and_prints_its_path(sample_lake, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "nested" / "lake.html"
    code = run_job(["--conf", str(sample_lake.root / "conf"), "--lake", str(sample_lake.config.lake_root),
                 "--out", str(out), "--quiet"])
    assert (code, capsys.readouterr().out) == (0, f"{out}\n")
    assert list(_page(out.read_text(encoding="utf-8")).sections) == SECTION_IDS


def test_job_with_a_bad_configuration_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_job(["--conf", str(tmp_path / "missing"), "--lake", str(tmp_path / "lake")])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: invalid configuration (1 issue(s)):",
        f"  - {tmp_path / 'missing'}: (folder): expected a configuration folder holding pipeline.yaml "
        "(got no such folder)"]
    assert not (tmp_path / "lake").exists()
