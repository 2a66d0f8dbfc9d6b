"""Configuration: every mistake named by file, key and expectation, all reported at once, before any write."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from customer_mdm.config import load_config
from customer_mdm.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
GOOD_SOURCE = """name: crm
format: csv
path: landing/*.csv
columns: [id, name]
mapping: {source_record_id: id, full_name: name}
"""


def conf_dir(tmp_path: Path, pipeline: str = "lake_root: lake\n", sources: dict[str, str] | None = None) -> Path:
    conf = tmp_path / "conf"
    (conf / "sources").mkdir(parents=True)
    (conf / "pipeline.yaml").write_text(pipeline)
    for name, text in (sources if sources is not None else {"crm": GOOD_SOURCE}).items():
        (conf / "sources" / f"{name}.yaml").write_text(text)
    return conf


def issues_of(conf: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(conf)
    return [str(i) for i in err.value.issues]


def test_repository_configuration_loads_with_relative_paths_resolved():
    config = load_config(REPO / "conf")
    assert config.lake_root == REPO / "lake"
    assert {s.name for s in config.sources} >= {"crm", "ecommerce", "billing", "crm_events"}
    assert config.resolve("data/landing") == REPO / "data" / "landing"
    assert config.spark.shuffle_partitions == 4


def test_lake_flag_overrides_the_configured_root(tmp_path):
    config = load_config(conf_dir(tmp_path), lake=tmp_path / "elsewhere")
    assert config.lake_root == tmp_path / "elsewhere"


def test_unknown_keys_and_wrong_types_are_all_reported_with_file_and_key(tmp_path):
    conf = conf_dir(tmp_path, "lake_root: lake\nspark:\n  shufle_partitions: 4\n  shuffle_partitions: four\n"
                              "  log_level: LOUD\ncolour: blue\n")
    pipeline = conf / "pipeline.yaml"
    assert issues_of(conf) == [
        f"{pipeline}: colour: expected one of the known keys ['kafka', 'lake_root', 'spark', 'tables'] "
        "(got an unknown key)",
        f"{pipeline}: spark.shufle_partitions: expected one of the known keys ['app_name', 'conf', "
        "'driver_memory', 'log_level', 'master', 'shuffle_partitions'] (got an unknown key)",
        f"{pipeline}: spark.shuffle_partitions: expected an integer (got 'four')",
        f"{pipeline}: spark.log_level: expected one of ['ERROR', 'WARN', 'INFO', 'DEBUG'] (got 'LOUD')",
    ]


def test_source_mistakes_name_the_source_file(tmp_path):
    bad = """name: Web Shop
format: xml
columns: [id, name]
mapping: {full_name: name, nickname: name, email: mail}
"""
    conf = conf_dir(tmp_path, sources={"shop": bad})
    source = conf / "sources" / "shop.yaml"
    assert issues_of(conf) == [
        f"{source}: name: expected a lower-case identifier like 'crm' (letters, digits, '_') (got 'Web Shop')",
        f"{source}: format: expected one of ['csv', 'json', 'parquet', 'kafka'] (got 'xml')",
        f"{source}: mapping.nickname: expected a canonical party column, one of ['source_record_id', "
        "'full_name', 'first_name', 'middle_name', 'last_name', 'email', 'phone', 'address_line1', "
        "'address_line2', 'city', 'state', 'postcode', 'country', 'date_of_birth', 'company', "
        "'marketing_opt_out', 'source_updated_at'] (got 'nickname')",
        f"{source}: mapping.email: expected a column listed under 'columns' ['id', 'name'] (got 'mail')",
        f"{source}: mapping.source_record_id: expected the source column holding the record's id "
        "(got nothing)",
    ]


def test_format_specific_keys_are_required(tmp_path):
    conf = conf_dir(tmp_path, sources={
        "a": "name: a\nformat: kafka\ncolumns: [id]\nmapping: {source_record_id: id}\n",
        "b": "name: b\nformat: csv\ncolumns: [id]\nmapping: {source_record_id: id}\n",
    })
    assert issues_of(conf) == [
        f"{conf / 'sources' / 'a.yaml'}: topic: expected a Kafka topic name (required when format is kafka) "
        "(got nothing)",
        f"{conf / 'sources' / 'b.yaml'}: path: expected a file glob such as data/landing/b/*.csv (required when "
        "format is csv) (got nothing)",
    ]


def test_duplicate_source_names_and_broken_yaml(tmp_path):
    conf = conf_dir(tmp_path, sources={"one": GOOD_SOURCE, "two": GOOD_SOURCE, "three": "name: [unclosed\n"})
    found = issues_of(conf)
    assert found[0].startswith(f"{conf / 'sources' / 'three.yaml'}: (file): expected valid YAML (got ")
    assert found[1] == f"{conf / 'sources' / 'two.yaml'}: name: expected a name not used by " \
                       f"{conf / 'sources' / 'one.yaml'} (got 'crm')"


def test_missing_files_are_named(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    assert issues_of(conf) == [
        f"{conf / 'pipeline.yaml'}: (file): expected an existing YAML file (got no such file)",
        f"{conf / 'sources'}: (folder): expected a folder of source YAML files (got no such folder)",
    ]


def test_batch_job_stops_on_bad_configuration_before_any_write(tmp_path, fault_report):
    conf = conf_dir(tmp_path, "lake_root: lake\nspark: {shuffle_partitions: -1}\n")
    result = subprocess.run([sys.executable, str(REPO / "jobs" / "batch_job.py"), "--conf", str(conf)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    message = f"{conf / 'pipeline.yaml'}: spark.shuffle_partitions: expected an integer >= 1 (got -1)"
    assert message in result.stderr
    assert not (tmp_path / "lake").exists()
    fault_report("configuration mistakes (this file: every kind, each message checked exactly)",
                 expected="exit 2 before any write; the message names file, key and expectation",
                 observed=f"exit 2, no lake folder; `{message.split(': ', 1)[1]}`")
