"""Golden-record survivorship: each strategy deciding, orders per attribute, pins, arrays, determinism, config."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from customer_mdm.config.survivorship import DEFAULT_ORDER, SurvivorshipConfig, load_survivorship
from customer_mdm.errors import ConfigError
from customer_mdm.gold.survivorship import GOLDEN_SCHEMA, PIN_SCHEMA, golden_records
from customer_mdm.silver.versions import PARTY_SCHEMA

REPO = Path(__file__).resolve().parents[1]
MEMBER_SCHEMA = StructType([StructField("entity_id", StringType()), StructField("source_priority", IntegerType()),
                            *PARTY_SCHEMA.fields])
DEFAULT = SurvivorshipConfig()
JAN = datetime(2024, 1, 1)
JUN = datetime(2024, 6, 1)


def member(entity: str, system: str, record: str, priority: int = 10, *, valid_from: datetime = JAN,
           **values: Any) -> dict[str, Any]:
    return {"entity_id": entity, "source_priority": priority, "source_system": system, "source_record_id": record,
            "valid_from": valid_from, "_std_flags": [], **values}


def members(spark: SparkSession, *rows: dict[str, Any]) -> DataFrame:
    return spark.createDataFrame([tuple(r.get(f) for f in MEMBER_SCHEMA.names) for r in rows], MEMBER_SCHEMA)


def no_pins(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([], PIN_SCHEMA)


def golden(spark: SparkSession, *rows: dict[str, Any], rules: SurvivorshipConfig = DEFAULT,
           pins: DataFrame | None = None) -> DataFrame:
    return golden_records(members(spark, *rows), rules=rules, pins=pins if pins is not None else no_pins(spark))


def assert_columns(actual: DataFrame, expected: list[tuple[Any, ...]], ddl: str) -> None:
    """Compares the named columns of the golden rows of the expected entities, ordered by entity id."""
    expected_df = actual.sparkSession.createDataFrame(expected, ddl)
    ids = [row[0] for row in expected]
    assert_df_equality(actual.where(F.col("entity_id").isin(ids)).select(*expected_df.columns).orderBy("entity_id"),
                       expected_df.orderBy("entity_id"), ignore_nullable=True)


# One scenario entity per behaviour, resolved in one query (the module fixture below): one Spark job
# for them all keeps the file fast. The rules give email and date_of_birth orders of their own.
RULES = SurvivorshipConfig(attributes={"email": ("most_recent", "source_priority"),
                                       "date_of_birth": ("most_frequent",)})
SCENARIOS = [
    member("priority", "billing", "b1", 20, valid_from=JUN, company="Newer Billing Co"),
    member("priority", "crm", "c1", 10, company="Acme"),
    member("verified", "crm", "c1", valid_from=JUN, address_line1="12 MAIN STREET APT4", city="BOSTON",
           _std_flags=["address_unparsed"]),
    member("verified", "crm", "c2", address_line1="12 MAIN ST", address_line2="APT 4", city="BOSTON"),
    member("recent", "crm", "c1", phone_e164="+15550001"),
    member("recent", "crm", "c2", valid_from=JUN, phone_e164="+15550002"),
    member("recent_tie", "crm", "c3", phone_e164="+15550003", source_updated_at=JUN),
    member("recent_tie", "crm", "c4", phone_e164="+15550004", source_updated_at=JAN),
    member("complete", "crm", "c1", full_name="Jon Smith", address_line1="1 ELM ST", city="AUSTIN"),
    member("complete", "crm", "c2", full_name="Jonathan Q Smith", address_line1="1 ELM ST", city="AUSTIN",
           state="TX", postcode="78701"),
    member("frequent", "crm", "c1", date_of_birth=date(1980, 2, 1)),
    member("frequent", "crm", "c2", date_of_birth=date(1980, 1, 2)),
    member("frequent", "billing", "b1", 5, date_of_birth=date(1980, 1, 2)),
    member("tie", "crm", "c2", last_name="Lee"),
    member("tie", "crm", "c10", last_name="Lea"),
    member("tie", "billing", "b9", last_name="Lie"),
    member("override", "crm", "c1", 10, email="crm@x.com", company="Acme"),
    member("override", "billing", "b1", 20, valid_from=JUN, email="billing@x.com", company="Acme Inc"),
    member("nulls", "crm", "c1", 10, valid_from=JUN, first_name="Ann"),
    member("nulls", "billing", "b1", 20, first_name="Anne", phone_e164="+15550009"),
    member("address", "crm", "c1", 10, address_line1="9 OAK AVE", city="DENVER"),
    member("address", "billing", "b1", 20, address_line1="4 PINE RD", address_line2="UNIT 2", city="BOULDER",
           state="CO", postcode="80302", postcode_plus4="1234", country="US"),
    member("pinned", "crm", "c1", email="a@x.com", date_of_birth=date(1970, 1, 1), address_line1="1 ELM ST",
           city="AUSTIN", first_name="Ann"),
    member("optout_any", "crm", "c1", marketing_opt_out=False),
    member("optout_any", "crm", "c2", marketing_opt_out=True),
    member("optout_any", "crm", "c3"),
    member("optout_false", "crm", "c4", marketing_opt_out=False),
    member("optout_false", "crm", "c5"),
    member("optout_none", "crm", "c6"),
    member("arrays", "web", "w1", email="b@x.com", phone_e164="+15550002", city="AUSTIN"),
    member("arrays", "crm", "c1", email="a@x.com", phone_e164="+15550002", address_line1="1 ELM ST", city="AUSTIN",
           state="TX"),
    member("arrays", "crm", "c2", email="b@x.com", address_line1="1 ELM ST", city="AUSTIN", state="TX",
           address_line2="APT 1"),
]
PINS = [("pinned", "email", "chosen@x.com"), ("pinned", "date_of_birth", "1975-05-05"), ("pinned", "city", "SALEM"),
        ("no_such_entity", "company", "Other")]


@pytest.fixture(scope="module")
def result(spark: SparkSession) -> DataFrame:
    """The golden rows of every scenario, computed once and held as local rows."""
    computed = golden(spark, *SCENARIOS, rules=RULES, pins=spark.createDataFrame(PINS, PIN_SCHEMA))
    return spark.createDataFrame(computed.collect(), computed.schema)


def test_output_has_the_golden_schema(result: DataFrame) -> None:
    assert [(f.name, f.dataType) for f in result.schema] == [(f.name, f.dataType) for f in GOLDEN_SCHEMA]


def test_one_row_per_entity_and_none_for_pins_of_other_entities(result: DataFrame) -> None:
    assert sorted(r.entity_id for r in result.collect()) == sorted({m["entity_id"] for m in SCENARIOS})


def test_source_priority_decides_first_by_default(result: DataFrame) -> None:
    assert_columns(result, [("priority", "Acme", {"company": "crm:c1"})],
                   "entity_id string, company string, attribute_sources map<string,string>")


def test_verified_address_beats_an_unparsed_newer_one(result: DataFrame) -> None:
    assert_columns(result, [("verified", "12 MAIN ST", "APT 4", {"address": "crm:c2"})],
                   "entity_id string, address_line1 string, address_line2 string, "
                   "attribute_sources map<string,string>")


def test_most_recent_by_valid_from_then_source_updated_at(result: DataFrame) -> None:
    assert_columns(result, [("recent", "+15550002"), ("recent_tie", "+15550003")],
                   "entity_id string, phone_e164 string")


def test_most_complete_longest_name_and_fullest_address(result: DataFrame) -> None:
    assert_columns(result, [("complete", "Jonathan Q Smith", "TX", "78701")],
                   "entity_id string, full_name string, state string, postcode string")


def test_most_frequent_outvotes_a_typo(result: DataFrame) -> None:
    assert_columns(result, [("frequent", date(1980, 1, 2), {"date_of_birth": "billing:b1"})],
                   "entity_id string, date_of_birth date, attribute_sources map<string,string>")


def test_full_tie_goes_to_the_smallest_source_record(result: DataFrame) -> None:
    assert_columns(result, [("tie", "Lie", {"last_name": "billing:b9"})],
                   "entity_id string, last_name string, attribute_sources map<string,string>")


def test_per_attribute_order_overrides_the_default(result: DataFrame) -> None:
    assert_columns(result, [("override", "billing@x.com", "Acme")], "entity_id string, email string, company string")


def test_null_never_survives_over_a_value(result: DataFrame) -> None:
    assert_columns(result, [("nulls", "Ann", "+15550009", None, {"first_name": "crm:c1", "phone_e164": "billing:b1"})],
                   "entity_id string, first_name string, phone_e164 string, company string, "
                   "attribute_sources map<string,string>")


def test_address_is_taken_whole_from_one_record(result: DataFrame) -> None:
    assert_columns(result, [("address", "9 OAK AVE", None, "DENVER", None, None, None, None, {"address": "crm:c1"})],
                   "entity_id string, address_line1 string, address_line2 string, city string, state string, "
                   "postcode string, postcode_plus4 string, country string, attribute_sources map<string,string>")


def test_pins_win_and_are_reported_as_pin(result: DataFrame) -> None:
    assert_columns(result, [("pinned", "chosen@x.com", date(1975, 5, 5), None, "SALEM", "Ann",
                             {"first_name": "crm:c1", "email": "pin", "address": "pin", "date_of_birth": "pin"},
                             ["a@x.com", "chosen@x.com"], [(None, "SALEM", None, None, None),
                                                           ("1 ELM ST", "AUSTIN", None, None, None)])],
                   "entity_id string, email string, date_of_birth date, address_line1 string, city string, "
                   "first_name string, attribute_sources map<string,string>, emails array<string>, "
                   "addresses array<struct<address_line1:string,city:string,state:string,postcode:string,"
                   "country:string>>")


def test_marketing_opt_out_most_restrictive_wins(result: DataFrame) -> None:
    assert_columns(result, [("optout_any", True), ("optout_false", False), ("optout_none", None)],
                   "entity_id string, marketing_opt_out boolean")


def test_arrays_hold_every_distinct_known_value_sorted(result: DataFrame) -> None:
    assert_columns(result, [("arrays", ["a@x.com", "b@x.com"], ["+15550002"],
                             [(None, "AUSTIN", None, None, None), ("1 ELM ST", "AUSTIN", "TX", None, None)],
                             ["crm", "web"], 3)],
                   "entity_id string, emails array<string>, phones array<string>, "
                   "addresses array<struct<address_line1:string,city:string,state:string,postcode:string,"
                   "country:string>>, source_systems array<string>, record_count int")


@pytest.mark.parametrize("pins, error", [
    ([("e1", "emial", "a@x.com")],
     r"pin for entity e1 names emial, not a golden attribute; expected one of \['full_name', "),
    ([("e1", "email", "a@x.com"), ("e1", "email", "b@x.com")], r"DUPLICATED_MAP_KEY.*Duplicate map key email"),
    ([("e1", "date_of_birth", "5th May")], r"CAST_INVALID_INPUT.*'5th May'.*DATE"),
], ids=["unknown attribute", "two pins of one column", "value of the wrong type"])
def test_bad_pins_fail_the_query(spark: SparkSession, pins: list[tuple[str, str, str]], error: str) -> None:
    computed = golden(spark, member("e1", "crm", "c1"), pins=spark.createDataFrame(pins, PIN_SCHEMA))
    with pytest.raises(Exception, match=error):
        computed.collect()


def test_same_members_in_any_order_give_identical_rows(spark: SparkSession) -> None:
    e2 = [member("e2", "crm", "c2", 10, full_name="Bo Diaz", phone_e164="+15550003"),
          member("e2", "web", "w2", 10, full_name="Bo Diaz", phone_e164="+15550004")]
    rows = [member("e1", "crm", "c1", 10, full_name="Ann Lee", email="ann@x.com", date_of_birth=date(1980, 1, 2)),
            member("e1", "billing", "b1", 20, valid_from=JUN, full_name="Ann B Lee", email="lee@x.com",
                   address_line1="3 ASH LN", city="RENO", marketing_opt_out=True),
            member("e1", "web", "w1", 10, full_name="Anne Lee", email="ann@x.com", date_of_birth=date(1980, 2, 1)),
            *e2,
            *({**m, "entity_id": "same_as_e2"} for m in e2),
            {**e2[0], "entity_id": "e2_less_one"}]
    rules = load_survivorship(REPO / "conf" / "survivorship.yaml")
    forward = golden(spark, *rows, rules=rules)
    shuffled = golden_records(members(spark, *reversed(rows)).repartition(3), rules=rules, pins=no_pins(spark))
    local = spark.createDataFrame(forward.collect(), forward.schema)
    assert_df_equality(local.orderBy("entity_id"), shuffled.orderBy("entity_id"))
    hashes = {r.entity_id: r.row_hash for r in local.collect()}
    assert hashes["same_as_e2"] == hashes["e2"] != hashes["e2_less_one"]


def test_members_without_the_needed_columns_are_refused(spark: SparkSession) -> None:
    with pytest.raises(ValueError, match=r"missing: \['entity_id', 'source_priority'\]"):
        golden_records(members(spark).drop("entity_id", "source_priority"), rules=DEFAULT, pins=no_pins(spark))


def test_shipped_rules_load() -> None:
    rules = load_survivorship(REPO / "conf" / "survivorship.yaml")
    assert rules.default == DEFAULT_ORDER
    assert rules.order("email") == ("verified", "most_recent", "source_priority", "most_frequent")
    assert rules.order("company") == DEFAULT_ORDER


def test_every_config_mistake_is_reported_at_once(tmp_path: Path) -> None:
    file = tmp_path.resolve() / "survivorship.yaml"
    file.write_text("default: most_recent\n"
                    "attributes:\n"
                    "  emial: [most_recent]\n"
                    "  phone_e164: [newest, most_recent, most_recent]\n"
                    "  company: []\n"
                    "tie_break: smallest\n")
    with pytest.raises(ConfigError) as raised:
        load_survivorship(file)
    strategies = "['source_priority', 'verified', 'most_recent', 'most_complete', 'most_frequent']"
    attributes = ("['address', 'company', 'date_of_birth', 'email', 'first_name', 'full_name', 'last_name', "
                  "'middle_name', 'name_suffix', 'phone_e164']")
    assert str(raised.value) == (
        "invalid configuration (6 issue(s)):\n"
        f"  - {file}: tie_break: expected one of the known keys ['attributes', 'default'] (got an unknown key)\n"
        f"  - {file}: default: expected a non-empty list of strategies from {strategies} (got 'most_recent')\n"
        f"  - {file}: attributes.emial: expected one of the known keys {attributes} (got an unknown key)\n"
        f"  - {file}: attributes.phone_e164[0]: expected one of {strategies} (got 'newest')\n"
        f"  - {file}: attributes.phone_e164[2]: expected each strategy at most once (got 'most_recent')\n"
        f"  - {file}: attributes.company: expected a non-empty list of strategies from {strategies} (got [])")
