"""The notebooks run headless on the shared sample lake, in this process and on this session, so they cannot rot."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_mdm.gold.tables import ENTITY_XREF, REVIEW_QUEUE
from customer_mdm.ops.tables import DQ_METRICS

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run_notebook(name: str, sample_lake, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                 capsys: pytest.CaptureFixture[str], **env: str) -> str:
    monkeypatch.setenv("MDM_CONF", str(sample_lake.root / "conf"))
    monkeypatch.setenv("MDM_LAKE", str(sample_lake.config.lake_root))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    runpy.run_path(str(NOTEBOOKS / name), run_name="__main__")
    return capsys.readouterr().out


def test_entity_lineage_shows_every_record_version_and_bronze_row_of_the_largest_entity(
        spark: SparkSession, sample_lake, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
        capsys: pytest.CaptureFixture[str]) -> None:
    out = run_notebook("entity_lineage.py", sample_lake, monkeypatch, capsys)
    current = sample_lake.store.read(ENTITY_XREF).where("is_current")
    largest = current.groupBy("entity_id").count().orderBy(F.desc("count"), "entity_id").first()
    assert out.splitlines()[0] == f"entity {largest['entity_id']}"
    members = current.where(F.col("entity_id") == largest["entity_id"]).collect()
    assert len(members) > 1
    assert f"== {len(members)} source records, their xref versions ==" in out
    refs = sample_lake.store.read("silver.party_history").join(
        spark.createDataFrame([(m["source_system"], m["source_record_id"]) for m in members],
                              "source_system string, source_record_id string"),
        ["source_system", "source_record_id"]).select("_source_ref").collect()
    for member in members:
        assert member["source_record_id"] in out
    for ref in refs:  # in the silver versions and again as the bronze row it came from
        assert out.count(ref["_source_ref"]) >= 2
    assert spark.range(1).count() == 1  # the notebook left the session it did not start running


def test_entity_lineage_of_a_chosen_entity(sample_lake, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                           capsys: pytest.CaptureFixture[str]) -> None:
    chosen = sample_lake.store.read(ENTITY_XREF).where("is_current").orderBy("entity_id").first()
    out = run_notebook("entity_lineage.py", sample_lake, monkeypatch, capsys, MDM_ENTITY_ID=chosen["entity_id"])
    assert out.splitlines()[0] == f"entity {chosen['entity_id']}"
    assert chosen["source_record_id"] in out


def test_review_queue_lists_the_open_items_with_explanations(  # type: ignore[no-untyped-def]
        sample_lake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    open_items = sample_lake.store.read(REVIEW_QUEUE).where("status = 'open'").collect()
    assert open_items, "the sample lake should have something to review"
    out = run_notebook("review_queue.py", sample_lake, monkeypatch, capsys, MDM_REVIEW_LIMIT="100")
    assert f"== {len(open_items)} open review items (showing {len(open_items)}) ==" in out
    for item in open_items:
        left = f"{item['l_source_system']}:{item['l_source_record_id']}"
        right = f"{item['r_source_system']}:{item['r_source_record_id']}"
        assert f"-- {left}  vs  {right}  (p={round(item['match_probability'], 4)}) --" in out
    first = open_items[0]["explanation"][0]
    assert f"{first['name']}={first['level']}" in out


def test_dq_trends_prints_every_rule_of_the_run(  # type: ignore[no-untyped-def]
        sample_lake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_notebook("dq_trends.py", sample_lake, monkeypatch, capsys)
    assert out.splitlines()[0] == "== pass rate per rule, 1 run(s) =="
    assert "== run run-sample: rows checked and failed per rule ==" in out
    for row in sample_lake.store.read(DQ_METRICS).where("pass_rate is not null").collect():
        assert f"{row['source_system']}.{row['rule']}" in out
