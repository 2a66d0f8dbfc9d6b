"""SLA checks on a lake the real batch pipeline built, and the batch run's logs hold no raw PII."""
from __future__ import annotations

import importlib.util
import logging
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql.types import StringType, StructField, StructType

from customer_mdm.config import PipelineConfig, load_config
from customer_mdm.config.operations import load_operations
from customer_mdm.config.resolve import load_resolve_settings
from customer_mdm.hops.batch import file_sources, run_batch
from customer_mdm.ops.health import evaluate_sla, exit_code, judge
from customer_mdm.ops.runs import Run
from customer_mdm.storage import TableStore, open_store

REPO = Path(__file__).resolve().parents[1]
PII_COLUMNS = ("full_name", "first_name", "middle_name", "last_name", "email", "phone")
READERS = {"csv": pd.read_csv, "json": lambda p: pd.read_json(p, lines=True), "parquet": pd.read_parquet}


@pytest.fixture(scope="module")
def built(sample_lake) -> tuple[PipelineConfig, TableStore, tuple[str, ...]]:
    return sample_lake.config, sample_lake.store, sample_lake.log_lines


def sla(tmp_path: Path, config: PipelineConfig, text: str):
    file = tmp_path / "operations.yaml"
    file.write_text(text, encoding="utf-8")
    return load_operations(file, known_sources=[s.name for s in config.sources]).sla


def test_a_freshly_built_lake_is_healthy(built, tmp_path):
    config, store, _ = built
    checks = sla(tmp_path, config, "sla:\n  freshness_hours: {crm: 1, ecommerce: 1, billing: 1}\n"
                                   "  min_pass_rate: 0.2\n  max_hop_lag_versions: 0\n  max_latency_seconds: 60\n"
                                   "  max_end_to_end_latency_seconds: 300\n")
    results = evaluate_sla(store, config, checks)
    assert [(r.status, r.check) for r in results] == [
        ("OK", "freshness_hours.billing"), ("OK", "freshness_hours.crm"), ("OK", "freshness_hours.ecommerce"),
        ("OK", "pass_rate.billing"), ("OK", "pass_rate.crm"), ("WARN", "pass_rate.crm_events"),
        ("OK", "pass_rate.ecommerce"),
        ("OK", "hop_lag_versions.billing"), ("OK", "hop_lag_versions.crm"), ("WARN", "hop_lag_versions.crm_events"),
        ("OK", "hop_lag_versions.ecommerce"),
        ("WARN", "latency_seconds.crm_events"), ("WARN", "end_to_end_latency_seconds")]
    lines = [r.line() for r in results]
    assert "OK hop_lag_versions.crm 0 <=0" in lines
    assert "WARN latency_seconds.crm_events n/a <=60 (no micro-batch recorded in ops.stream_progress)" in lines
    assert "WARN pass_rate.crm_events n/a >=0.2 (no data-quality metrics yet)" in lines
    assert "WARN end_to_end_latency_seconds n/a <=300 (no gold increment with Kafka events recorded in " \
           "ops.stream_progress)" in lines
    # warn rules are signals, not an SLA: households sharing an email fail email_unique_in_source on purpose
    pass_rates = [r for r in results if r.check.startswith("pass_rate.") and r.measured is not None]
    assert pass_rates and all("rule email_unique_in_source" not in r.note for r in pass_rates), pass_rates
    assert exit_code(results) == 0


def test_a_stale_source_and_a_never_ingested_one_breach_and_exit_1(built, tmp_path):
    config, store, _ = built
    checks = sla(tmp_path, config, "sla:\n  freshness_hours: {crm: 0.000001, crm_events: 1, billing: 1}\n")
    results = evaluate_sla(store, config, checks)
    assert [(r.status, r.check) for r in results] == [
        ("OK", "freshness_hours.billing"), ("BREACH", "freshness_hours.crm"), ("BREACH", "freshness_hours.crm_events")]
    assert re.fullmatch(r"BREACH freshness_hours\.crm [0-9.e-]+ <=1e-06", results[1].line())
    assert results[2].line() == "BREACH freshness_hours.crm_events n/a <=1 (bronze.crm_events does not exist: " \
                                "never ingested)"
    assert exit_code(results) == 1


def test_a_run_ends_with_the_checks_of_its_sources_and_a_breach_becomes_its_status(sample_lake, spark, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(sample_lake.root, root)
    config = load_config(root / "conf", lake=root / "lake")
    store = open_store(spark, config)
    checks = sla(tmp_path, config, "sla:\n  freshness_hours: {crm: 0.000001, billing: 1, crm_events: 1}\n"
                                   "  max_hop_lag_versions: 0\n")
    summary = run_batch(spark, store, config, Run(store, "run-sla", "test", "batch", {}),
                        sources=file_sources(config, ["crm", "billing"]), resolve=load_resolve_settings(config),
                        sla=checks)
    # crm_events and ecommerce were not part of the run: their checks are health's business, not this run's
    assert [(c.status, c.check) for c in summary.sla] == [
        ("OK", "freshness_hours.billing"), ("BREACH", "freshness_hours.crm"),
        ("OK", "hop_lag_versions.billing"), ("OK", "hop_lag_versions.crm")]
    assert summary.status == "BREACH"
    ended = store.read("ops.runs").where("run_id = 'run-sla' AND ended_at IS NOT NULL").collect()
    assert [(r.status, r.counts["sla_ok"], r.counts["sla_warn"], r.counts["sla_breach"]) for r in ended] == \
        [("BREACH", 3, 0, 1)]


def test_a_source_silver_never_refined_lags_by_every_bronze_version_and_checks_can_be_narrowed(spark, config,
                                                                                                 tmp_path):
    store = open_store(spark, config)
    store.ensure_table("bronze.crm", StructType([StructField("id", StringType())]))
    store.append_rows("bronze.crm", [{"id": "1"}])
    checks = sla(tmp_path, config, "sla:\n  freshness_hours: {crm: 1}\n  max_hop_lag_versions: 0\n")
    assert [r.line() for r in evaluate_sla(store, config, checks, sources=["crm"])][1:] == \
        ["BREACH hop_lag_versions.crm 1 <=0"]  # no silver.party_history yet: nothing applied
    assert [r.check for r in evaluate_sla(store, config, checks, sources=["crm"], kinds=["freshness_hours"])] == \
        ["freshness_hours.crm"]


def test_warn_starts_at_the_warn_fraction_of_a_threshold():
    assert [judge("c", v, threshold=10, direction="max", warn_fraction=0.8).status for v in (8, 8.5, 10, 10.5)] \
        == ["OK", "WARN", "WARN", "BREACH"]
    assert [judge("c", v, threshold=0.9, direction="min", warn_fraction=0.5).status for v in (0.96, 0.94, 0.9, 0.89)] \
        == ["OK", "WARN", "WARN", "BREACH"]


def test_the_health_job_refuses_bad_settings_before_reading_the_lake(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("health_job", REPO / "jobs" / "health.py")
    assert spec is not None and spec.loader is not None
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    bad = tmp_path / "operations.yaml"
    bad.write_text("sla:\n  min_pass_rate: 2\n  freshness_hours: {crm: soon}\n", encoding="utf-8")
    handlers, level = logging.root.handlers[:], logging.root.level
    try:  # the job sets up logging as a process would; give pytest its handlers back
        assert job.main(["--operations", str(bad), "--lake", str(tmp_path / "lake")]) == 2
    finally:
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)
    assert capsys.readouterr().err.splitlines() == [
        "error: invalid configuration (2 issue(s)):",
        f"  - {bad}: sla.freshness_hours.crm: expected a number (got 'soon')",
        f"  - {bad}: sla.min_pass_rate: expected a number in [0.0, 1.0] (got 2)"]
    assert not (tmp_path / "lake").exists()


def test_no_log_line_of_a_batch_run_holds_a_name_email_or_phone_from_the_input(built):
    config, _, lines = built
    values: set[str] = set()
    for source in file_sources(config):
        for file in sorted(config.project_root.glob(source.path or "")):
            frame = READERS[source.format](file).astype("string")
            for canonical in PII_COLUMNS:
                if canonical in source.mapping:
                    values |= {v.strip() for v in frame[source.mapping[canonical]].dropna() if len(v.strip()) >= 3}
    assert len(values) > 100 and len(lines) > 10
    pii = re.compile("|".join(rf"(?<!\w){re.escape(v)}(?!\w)" for v in sorted(values)), flags=re.IGNORECASE)
    assert [(m.group(0), line) for line in lines for m in [pii.search(line)] if m] == []
