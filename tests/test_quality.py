"""Data-quality rules from YAML: every rule type with every action, quarantine rows, metrics, report."""
from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_mdm.config.quality import QualityRule, load_quality_rules
from customer_mdm.errors import ConfigError, DataQualityFailure
from customer_mdm.ops.validation_report import Check, rule_checks, write_validation_report
from customer_mdm.silver.quality import QualityResult, evaluate, raise_if_failed

# _source_ref, source_system, source_record_id, email, country, date_of_birth, _is_delete
ROWS = [
    ("crm.csv#1", "crm", "1", "a@x.com", "US", "1980-01-01", False),
    ("crm.csv#2", "crm", "2", "bad-email", "ZZ", "1850-01-01", False),
    ("crm.csv#3", "crm", "3", "a@x.com", None, None, False),
    ("billing.parquet#1", "billing", "4", None, "GB", "2999-01-01", False),
    ("crm.csv#4", "crm", "5", "b@x.com", "US", None, True),
    ("crm.csv#5", "crm", "1", "a@x.com", "US", "1980-01-01", False),   # a later version of record 1
    ("crm.csv#6", "crm", " ", "c@x.com", "US", None, False),
    ("crm.csv#7", "crm", "7", "d@x.com", "US", None, False),
    ("crm.csv#8", "crm", "7", "d@x.com", "US", None, False),            # two versions, one record: unique
    ("crm.csv#9", "crm", None, None, None, None, True),                 # a delete without an id
]
ALL_REFS = {row[0] for row in ROWS}
DELETES = 2

RULES_YAML = """
references:
  served: [US]
rules:
  - {{name: id_present, type: mandatory, column: source_record_id, action: {action}}}
  - {{name: id_present_incl_deletes, type: mandatory, column: source_record_id, check_deletes: true,
     action: {action}}}
  - {{name: email_format, type: pattern, column: email, pattern: '^[^@]+@[^@]+\\.[a-z]+$', action: {action}}}
  - {{name: country_allowed, type: allowed_values, column: country, values: [US, GB], action: {action}}}
  - {{name: dob_range, type: range, column: date_of_birth, min: 1900-01-01, max: today, action: {action}}}
  - {{name: country_served, type: reference, column: country, reference: served, action: {action}}}
  - {{name: country_known, type: reference, column: country, reference: countries, action: {action}}}
  - {{name: email_unique, type: unique, columns: [source_system, email], action: {action}}}
  - {{name: country_not_zz, type: expression, expression: "country <> 'ZZ'", columns: [country],
     action: {action}}}
  - {{name: billing_email_present, type: mandatory, column: email, sources: [billing], action: {action}}}
"""
SHARED = "source_system, email value is shared by 2 records"
# rule -> {failing row: (reported value, message)}
EXPECTED: dict[str, dict[str, tuple[str | None, str]]] = {
    "id_present": {"crm.csv#6": (" ", "source_record_id is missing")},
    "id_present_incl_deletes": {"crm.csv#6": (" ", "source_record_id is missing"),
                                "crm.csv#9": (None, "source_record_id is missing")},
    "email_format": {"crm.csv#2": ("bad-email", r"email does not match ^[^@]+@[^@]+\.[a-z]+$")},
    "country_allowed": {"crm.csv#2": ("ZZ", "country is not one of [US, GB]")},
    "dob_range": {"crm.csv#2": ("1850-01-01", "date_of_birth is outside [1900-01-01, today]"),
                  "billing.parquet#1": ("2999-01-01", "date_of_birth is outside [1900-01-01, today]")},
    "country_served": {"crm.csv#2": ("ZZ", "country is not in reference 'served'"),
                       "billing.parquet#1": ("GB", "country is not in reference 'served'")},
    "country_known": {"crm.csv#2": ("ZZ", "country is not in reference table 'countries'")},
    "email_unique": {ref: ('{"source_system":"crm","email":"a@x.com"}', SHARED)
                     for ref in ("crm.csv#1", "crm.csv#3", "crm.csv#5")},
    "country_not_zz": {"crm.csv#2": ('{"country":"ZZ"}', "expression is false: country <> 'ZZ'")},
    "billing_email_present": {"billing.parquet#1": (None, "email is missing")},
}
ACTIONS = ("warn", "quarantine", "fail")


def party_rows(spark: SparkSession) -> DataFrame:
    schema = ("_source_ref string, source_system string, source_record_id string, email string, country string, "
              "date_of_birth string, _is_delete boolean")
    return spark.createDataFrame(ROWS, schema) \
        .withColumn("date_of_birth", F.to_date("date_of_birth")) \
        .withColumn("_raw", F.to_json(F.struct("source_record_id", "email", "country"))) \
        .withColumn("_bronze_version", F.lit(7).cast("bigint"))


def rules_for(tmp_path: Path, action: str) -> tuple[QualityRule, ...]:
    path = tmp_path / f"quality_{action}.yaml"
    path.write_text(RULES_YAML.format(action=action))
    return load_quality_rules(path)


@pytest.fixture(scope="module")
def results(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """Per action: the result and its collected outputs (one evaluation per action for the whole table).

    ``checked`` is persisted, as the hop does, so every output reuses one evaluation of the rules.
    """
    countries = spark.createDataFrame([("US",), ("GB",), ("CA",)], "code string")
    out = {}
    for action in ACTIONS:
        result = evaluate(party_rows(spark), rules_for(tmp_path_factory.mktemp(action), action), run_id=f"run-{action}",
                          reference_tables={"countries": countries})
        result.checked.persist()
        out[action] = {"result": result, "valid": result.valid.collect(), "quarantined": result.quarantined.collect(),
                       "issues": result.issues.collect(), "failures": result.failures.collect(),
                       "metrics": {m["rule"]: m for m in result.metrics.collect()}}
    yield out
    for action in ACTIONS:
        out[action]["result"].checked.unpersist()


def hits(rows: list[Any], rule: str) -> dict[str, tuple[str | None, str]]:
    return {r["_source_ref"]: (r["value"], r["message"]) for r in rows if r["rule"] == rule}


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("rule", sorted(EXPECTED))
def test_each_rule_type_with_each_action(results: dict[str, dict[str, Any]], rule: str, action: str) -> None:
    got = results[action]
    expected = EXPECTED[rule]
    assert hits(got["issues"], rule) == expected
    warned = {r["_source_ref"] for r in got["valid"] if rule in r["_dq_warnings"]}
    if action == "warn":
        assert warned == set(expected)
        assert hits(got["quarantined"], rule) == {}
    else:
        assert warned == set()
        assert hits(got["quarantined"], rule) == expected
        assert not set(expected) & {r["_source_ref"] for r in got["valid"]}
    assert hits(got["failures"], rule) == (expected if action == "fail" else {})
    metric = got["metrics"][rule]
    assert (metric["action"], metric["rows_failed"], metric["run_id"]) == (action, len(expected), f"run-{action}")


def test_rows_checked_follow_sources_and_deletes(results: dict[str, dict[str, Any]]) -> None:
    metrics = results["warn"]["metrics"]
    assert metrics["email_format"]["rows_checked"] == len(ROWS) - DELETES
    assert metrics["email_format"]["pass_rate"] == pytest.approx(1 - 1 / (len(ROWS) - DELETES))
    assert metrics["id_present_incl_deletes"]["rows_checked"] == len(ROWS)
    assert metrics["billing_email_present"]["rows_checked"] == 1
    assert (metrics["email_unique"]["type"], metrics["email_unique"]["column"]) == ("unique", "source_system, email")


def test_warnings_keep_every_row(results: dict[str, dict[str, Any]]) -> None:
    valid = results["warn"]["valid"]
    assert sorted(r["_source_ref"] for r in valid) == sorted(ALL_REFS)
    row_2 = next(r for r in valid if r["_source_ref"] == "crm.csv#2")
    assert row_2["_dq_warnings"] == ["email_format", "country_allowed", "dob_range", "country_served",
                                     "country_known", "country_not_zz"]
    assert next(r for r in valid if r["_source_ref"] == "crm.csv#7")["_dq_warnings"] == []


@pytest.mark.parametrize("action", ["quarantine", "fail"])
def test_rows_are_conserved(results: dict[str, dict[str, Any]], action: str) -> None:
    """rows in = valid + distinct quarantined records; nothing dropped, nothing counted twice."""
    result: QualityResult = results[action]["result"]
    quarantined_records = result.quarantined.select("_source_ref").distinct().count()
    assert result.valid.count() + quarantined_records == len(ROWS)
    rejected = set().union(*(set(e) for e in EXPECTED.values()))
    assert {r["_source_ref"] for r in results[action]["valid"]} == ALL_REFS - rejected


def test_quarantine_rows_keep_raw_values_lineage_and_reason(spark: SparkSession,
                                                            results: dict[str, dict[str, Any]]) -> None:
    row = next(r for r in results["quarantine"]["quarantined"]
               if r["_source_ref"] == "crm.csv#2" and r["rule"] == "dob_range")
    assert row.asDict() | {"quarantined_at": None} == {
        "source_system": "crm", "source_record_id": "2", "rule": "dob_range", "rule_type": "range",
        "column": "date_of_birth", "value": "1850-01-01", "message": "date_of_birth is outside [1900-01-01, today]",
        "action": "quarantine", "_source_ref": "crm.csv#2", "_is_delete": False,
        "_raw": '{"source_record_id":"2","email":"bad-email","country":"ZZ"}', "_bronze_version": 7,
        "run_id": "run-quarantine", "quarantined_at": None}
    assert isinstance(row["quarantined_at"], dt.datetime)


def test_fail_rules_stop_a_batch_with_the_rules_named(results: dict[str, dict[str, Any]]) -> None:
    metrics = list(results["fail"]["metrics"].values())
    with pytest.raises(DataQualityFailure) as err:
        raise_if_failed(metrics)
    assert str(err.value).startswith("data-quality rule(s) with action 'fail' were violated: id_present (1 of 8 rows); "
                                     "id_present_incl_deletes (2 of 10 rows); email_format (1 of 8 rows);")
    assert str(err.value).endswith("; nothing was written to silver, see the run's validation report")
    raise_if_failed(list(results["quarantine"]["metrics"].values()))  # quarantine rules never stop a run


def test_valid_rows_keep_input_columns_and_values(spark: SparkSession, results: dict[str, dict[str, Any]]) -> None:
    valid = results["quarantine"]["result"].valid
    assert valid.columns == [*party_rows(spark).columns, "_dq_warnings"]
    expected = party_rows(spark).where(F.col("_source_ref").isin("crm.csv#4", "crm.csv#7", "crm.csv#8"))
    assert_df_equality(valid.drop("_dq_warnings"), expected, ignore_row_order=True)


def test_rules_that_cannot_run_are_named_before_evaluating(spark: SparkSession, tmp_path: Path) -> None:
    path = tmp_path / "quality.yaml"
    path.write_text("""
rules:
  - {name: a, type: mandatory, column: emial, action: warn}
  - {name: b, type: expression, expression: "country = = 'US'", action: warn}
  - {name: c, type: expression, expression: "length(email)", action: warn}
  - {name: d, type: reference, column: country, reference: countries, action: warn}
  - {name: e, type: expression, expression: "email IS NOT NULL", value: "no_such_column", action: warn}
""")
    with pytest.raises(ConfigError) as err:
        evaluate(party_rows(spark), load_quality_rules(path), run_id="r")
    issues = [str(i) for i in err.value.issues]
    assert issues[0] == (f"{path.resolve()}: rules[0].column: expected a column of the standardized rows "
                         f"{party_rows(spark).columns} (got 'emial')")
    assert issues[1].startswith(f"{path.resolve()}: rules[1].expression: expected a Spark SQL expression over the row "
                                "([PARSE_SYNTAX_ERROR]")
    assert issues[1].endswith('''(got "country = = 'US'")''')
    assert issues[2] == (f"{path.resolve()}: rules[2].expression: expected a boolean expression "
                         "(got 'length(email)' of type int)")
    assert issues[3] == (f"{path.resolve()}: rules[3].reference: expected a list under 'references' or a table passed "
                         "as reference_tables['countries'] (got 'countries')")
    assert issues[4].startswith(f"{path.resolve()}: rules[4].value: expected a Spark SQL expression over the row "
                                "([UNRESOLVED_COLUMN.")
    assert len(issues) == 5


def test_validation_report_lists_checks_and_error_rows(results: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    result: QualityResult = results["fail"]["result"]
    checks = [*rule_checks(results["fail"]["metrics"].values()),
              Check(check="row_conservation", status="PASS", counts={"read": 10, "valid": 3, "quarantined": 7})]
    report = write_validation_report(tmp_path / "run-fail", run_id="run-fail", checks=checks, issues=result.issues,
                                     max_error_rows=5)
    checklist = json.loads(report.checklist.read_text())
    assert (checklist["run_id"], checklist["status"]) == ("run-fail", "FAIL")
    assert checklist["checks"][2] == {
        "check": "rule:email_format", "status": "FAIL", "counts": {"rows_checked": 8, "rows_failed": 1,
                                                                    "pass_rate": 0.875},
        "detail": "pattern on email, action fail"}
    assert checklist["checks"][-1]["status"] == "PASS"
    assert checklist["errors"] == {"file": "validation_errors.csv", "rows": 5, "truncated": True}
    with report.errors.open(newline="") as f:
        lines = list(csv.reader(f))
    assert lines[0] == ["row_ref", "rule", "column", "value", "message", "action", "source_system",
                        "source_record_id"]
    assert lines[1:3] == [  # ordered by rule, then row
        ["billing.parquet#1", "billing_email_present", "email", "", "email is missing", "fail", "billing", "4"],
        ["crm.csv#2", "country_allowed", "country", "ZZ", "country is not one of [US, GB]", "fail", "crm", "2"]]
    assert len(lines) == 6
    assert sorted(p.name for p in report.checklist.parent.iterdir()) == ["validation_checklist.json",
                                                                         "validation_errors.csv"]


def test_warn_only_run_reports_warn(results: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    report = write_validation_report(tmp_path, run_id="run-warn", checks=rule_checks(results["warn"]["metrics"].values()),
                                     issues=results["warn"]["result"].issues)
    assert (report.status, report.error_rows, report.truncated) == ("WARN", sum(len(e) for e in EXPECTED.values()), False)
