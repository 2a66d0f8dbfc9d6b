"""Standardization of real-world messy party values: one Spark job, table-driven assertions."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, Row, SparkSession

from customer_mdm.config import SourceConfig
from customer_mdm.party import CANONICAL_COLUMNS
from customer_mdm.silver.standardize import STANDARDIZED_COLUMNS, StandardizeOptions, standardize

LINEAGE_SCHEMA = "source_system string, _is_delete boolean, _raw string, _bronze_version bigint, _row_ref string"
SCHEMA = ", ".join(f"{c} string" for c in CANONICAL_COLUMNS) + ", " + LINEAGE_SCHEMA
US_ADDRESS = {"city": "springfield", "state": "Illinois", "postcode": "62701", "country": "US"}

# case id -> (canonical input values, expected standardized values)
CASES: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "last_first_with_suffix": ({"full_name": "SMITH, JOHN A JR"}, {
        "first_name": "John", "middle_name": "A", "last_name": "Smith", "name_suffix": "Jr",
        "full_name": "John A Smith Jr"}),
    "honorific_hyphen_apostrophe": ({"full_name": "Dr. Mary-Jane O'Neil"}, {
        "first_name": "Mary-Jane", "middle_name": None, "last_name": "O'Neil", "name_suffix": None,
        "full_name": "Mary-Jane O'Neil"}),
    "initials": ({"full_name": "j. r. r. tolkien"}, {
        "first_name": "J", "middle_name": "R R", "last_name": "Tolkien", "full_name": "J R R Tolkien"}),
    "parts_only": ({"first_name": "ROBERT", "middle_name": "j.", "last_name": "mcdonald iii"}, {
        "first_name": "Robert", "middle_name": "J", "last_name": "McDonald", "name_suffix": "III",
        "full_name": "Robert J McDonald III"}),
    "parts_win_gaps_from_full": ({"full_name": "Bob Smith", "first_name": "Robert"}, {
        "first_name": "Robert", "last_name": "Smith", "full_name": "Robert Smith"}),
    "billing_account_tag": ({"full_name": "HESS, JERRY JAMES ACCT"}, {
        "first_name": "Jerry", "middle_name": "James", "last_name": "Hess", "full_name": "Jerry James Hess"}),
    "billing_account_dash_tag": ({"full_name": "Mary B Xiong - HOME"}, {
        "first_name": "Mary", "middle_name": "B", "last_name": "Xiong", "full_name": "Mary B Xiong"}),
    "email_mixed_case_spaces": ({"email": " Bob@Example.COM "}, {"email": "bob@example.com", "_std_flags": []}),
    "email_invalid": ({"email": "bob@@example"}, {
        "email": None, "_std_flags": ["email_invalid"], "_std_rejected": {"email_invalid": "bob@@example"}}),
    "phone_us_unassigned_area": ({"phone": "(555) 123-4567"}, {
        "phone_e164": None, "_std_flags": ["phone_invalid"]}),
    "phone_us": ({"phone": "(212) 555-0147"}, {"phone_e164": "+12125550147", "_std_flags": []}),
    "phone_international": ({"phone": "+44 20 7946 0958"}, {"phone_e164": "+442079460958"}),
    "phone_garbage": ({"phone": "call me"}, {"phone_e164": None, "_std_flags": ["phone_invalid"]}),
    "us_address_unit_split": ({"address_line1": "123 North Main Street Apartment 4B", **US_ADDRESS,
                               "postcode": "62701-1234", "country": "United States"}, {
        "address_line1": "123 N MAIN ST", "address_line2": "APT 4B", "city": "SPRINGFIELD", "state": "IL",
        "postcode": "62701", "postcode_plus4": "1234", "country": "US", "_std_flags": []}),
    "us_zip_lost_leading_zero": ({"address_line1": "1 Beacon St", "city": "Boston", "state": "ma",
                                  "postcode": "2108", "country": "USA"}, {
        "address_line1": "1 BEACON ST", "state": "MA", "postcode": "02108", "country": "US"}),
    "us_address_without_zip": ({"address_line1": "345 Market Street", "address_line2": "apt 13c",
                                "city": "Colorado Springs", "state": "CO", "country": "US"}, {
        "address_line1": "345 MARKET ST", "address_line2": "APT 13C", "postcode": None, "_std_flags": []}),
    "us_address_unparseable": ({"address_line1": "#### ????", **US_ADDRESS}, {
        "address_line1": "#### ????", "_std_flags": ["address_unparsed"],
        "_std_rejected": {"address_unparsed": "#### ????"}}),
    "non_us_address_cleaned": ({"address_line1": " 10  Downing   street ", "city": "london",
                                "postcode": "sw1a 2aa", "country": "U.K."}, {
        "address_line1": "10 DOWNING STREET", "city": "LONDON", "postcode": "SW1A 2AA", "country": "GB",
        "_std_flags": []}),
    "country_by_name": ({"country": "germany"}, {"country": "DE"}),
    "country_unknown_kept": ({"country": "Atlantis"}, {"country": "ATLANTIS"}),
    "dob_us_format": ({"date_of_birth": "12/31/1980"}, {"date_of_birth": dt.date(1980, 12, 31)}),
    "dob_iso": ({"date_of_birth": "1980-12-31"}, {"date_of_birth": dt.date(1980, 12, 31)}),
    "dob_compact": ({"date_of_birth": "19801231"}, {"date_of_birth": dt.date(1980, 12, 31)}),
    "dob_month_first_by_default": ({"date_of_birth": "01/02/1980"}, {"date_of_birth": dt.date(1980, 1, 2)}),
    "dob_garbage": ({"date_of_birth": "not a date"}, {
        "date_of_birth": None, "_std_flags": ["dob_unparsed"], "_std_rejected": {"dob_unparsed": "not a date"}}),
    "dob_impossible": ({"date_of_birth": "02/30/1980"}, {"date_of_birth": None, "_std_flags": ["dob_unparsed"]}),
    "updated_with_offset": ({"source_updated_at": "2024-01-05T10:11:12+02:00"}, {
        "source_updated_at": dt.datetime(2024, 1, 5, 8, 11, 12)}),
    "updated_plain": ({"source_updated_at": "2024-01-05 10:11:12"}, {
        "source_updated_at": dt.datetime(2024, 1, 5, 10, 11, 12)}),
    "updated_garbage": ({"source_updated_at": "yesterday"}, {
        "source_updated_at": None, "_std_flags": ["updated_at_unparsed"]}),
    "opt_out_y": ({"marketing_opt_out": "Y"}, {"marketing_opt_out": True}),
    "opt_out_no": ({"marketing_opt_out": "no"}, {"marketing_opt_out": False}),
    "opt_out_one": ({"marketing_opt_out": "1"}, {"marketing_opt_out": True}),
    "opt_out_false": ({"marketing_opt_out": "FALSE"}, {"marketing_opt_out": False}),
    "opt_out_unknown": ({"marketing_opt_out": "maybe"}, {
        "marketing_opt_out": None, "_std_flags": ["opt_out_unparsed"]}),
    "blanks_are_null_not_errors": ({"source_record_id": " 42 ", "email": "   ", "phone": "", "company": " Acme  Inc "}, {
        "source_record_id": "42", "email": None, "phone_e164": None, "company": "Acme Inc", "_std_flags": []}),
}


def party_rows(cases: dict[str, tuple[dict[str, str], dict[str, Any]]]) -> list[tuple[Any, ...]]:
    rows = []
    for version, (case, (values, _)) in enumerate(sorted(cases.items())):
        values = {"source_record_id": case, **values}
        rows.append((*(values.get(c) for c in CANONICAL_COLUMNS), "crm", False, json.dumps(values), version, case))
    return rows


@pytest.fixture(scope="module")
def standardized(spark: SparkSession) -> dict[str, Row]:
    out = standardize(spark.createDataFrame(party_rows(CASES), SCHEMA)).collect()
    return {row["_row_ref"]: row for row in out}


@pytest.mark.parametrize("case", sorted(CASES))
def test_messy_values_are_standardized(standardized: dict[str, Row], case: str) -> None:
    row = standardized[case]
    expected = CASES[case][1]
    assert {column: row[column] for column in expected} == expected


def test_output_schema_keeps_lineage_untouched(spark: SparkSession) -> None:
    source = spark.createDataFrame(party_rows(CASES), SCHEMA)
    out = standardize(source)
    assert out.columns == [*STANDARDIZED_COLUMNS, "_is_delete", "_raw", "_bronze_version", "_row_ref"]
    assert dict(out.dtypes)["date_of_birth"] == "date"
    assert dict(out.dtypes)["source_updated_at"] == "timestamp"
    assert dict(out.dtypes)["marketing_opt_out"] == "boolean"
    assert_df_equality(out.select("_is_delete", "_raw", "_bronze_version", "_row_ref"),
                       source.select("_is_delete", "_raw", "_bronze_version", "_row_ref"), ignore_row_order=True)


def test_options_region_phone_check_and_source_formats(spark: SparkSession) -> None:
    """A source's own date format is tried first (01/02/1980 is January 2nd in the general US-first list, see
    CASES); national numbers read in the default region; "possible" keeps fictional 555 numbers."""
    rows = {"national": ({"phone": "020 7946 0958"}, {}), "fictional": ({"phone": "+1 (555) 123-4567"}, {}),
            "day_first": ({"date_of_birth": "01/02/1980"}, {})}
    df = spark.createDataFrame(party_rows(rows), SCHEMA)
    european = SourceConfig(name="eu_shop", format="csv", file=Path("eu_shop.yaml"), date_format="dd/MM/yyyy")
    options = StandardizeOptions.for_source(european, default_region="GB", phone_check="possible")
    out = {r["_row_ref"]: r for r in standardize(df, options=options).collect()}
    assert out["national"]["phone_e164"] == "+442079460958"
    assert (out["fictional"]["phone_e164"], out["fictional"]["_std_flags"]) == ("+15551234567", [])
    assert out["day_first"]["date_of_birth"] == dt.date(1980, 2, 1)


def test_bad_options_and_input_are_refused(spark: SparkSession) -> None:
    with pytest.raises(ValueError, match=r"default_region must be an ISO 3166 alpha-2 region .* \(got 'USA'\)"):
        StandardizeOptions(default_region="USA")
    df = spark.createDataFrame(party_rows(CASES), SCHEMA).drop("email", "phone")
    with pytest.raises(ValueError, match=r"missing: \['email', 'phone'\]"):
        standardize(df)


@contextmanager
def arrow_batch_rows(spark: SparkSession, rows: int) -> Iterator[None]:
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    spark.conf.set(key, str(rows))
    try:
        yield
    finally:
        spark.conf.set(key, before)


def test_same_rows_give_same_result_in_one_partition_or_many_tiny_ones(spark: SparkSession) -> None:
    """Batch files arrive as big partitions, Kafka micro-batches as tiny ones: the values must not differ."""
    cases = {f"{case}#{copy}": spec for case, spec in CASES.items() for copy in range(3)}
    df = spark.createDataFrame(party_rows(cases), SCHEMA)

    def run(frame: DataFrame) -> DataFrame:
        return standardize(frame).orderBy("_row_ref")

    whole = run(df.repartition(1))
    whole = spark.createDataFrame(whole.collect(), whole.schema)  # computed now, before the batch size changes
    tiny_partitions = df.repartition(24)
    assert tiny_partitions.rdd.getNumPartitions() == 24
    with arrow_batch_rows(spark, 2):
        assert_df_equality(whole, run(tiny_partitions))
