"""Golden records: one row per entity from its member records, by per-attribute survivorship.

For each attribute the candidates are the member records holding a value
(null never survives over a value); the record that ranks first under the
attribute's strategy order (``conf/survivorship.yaml``) gives the value, and
the smallest (source_system, source_record_id) breaks any tie left, so the
result does not depend on row order or partitioning. A manual pin beats
every strategy. The address (line 1 and 2, city, state, postcode, ZIP+4,
country) is one attribute: all its parts come from the same record, so an
address is never stitched together from two records.

Strategies, each a sort key where smaller ranks first:

- ``source_priority``: the source's ``priority:`` (lower wins; none = last).
- ``verified``: standardization raised no flag for the attribute
  (``_std_flags``: email_invalid, phone_invalid, address_unparsed,
  dob_unparsed). Names and company have no flag, so they tie here. An invalid
  email or phone is already null in silver, so in practice this separates
  US addresses scourgify could not parse from those it could.
- ``most_recent``: latest ``valid_from``, then latest ``source_updated_at``.
- ``most_complete``: longest value; for the address, most non-null parts;
  dates tie.
- ``most_frequent``: the value held by most member records (exact
  standardized value; the whole address for the address).

The multi-valued attributes keep every distinct known value, sorted; the
marketing opt-out is the most restrictive value (any member opted out ->
True; null only when no member says). Everything is Spark expressions: one
aggregation collects each attribute's candidates per entity and higher-order
functions rank them (one shuffle, no window, no Python UDF).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, BooleanType, IntegerType, MapType, StringType, StructField,
                               StructType)

from customer_mdm.config.survivorship import SURVIVORSHIP_ATTRIBUTES, Attribute, Strategy, SurvivorshipConfig
from customer_mdm.silver.standardize import (FLAG_ADDRESS_UNPARSED, FLAG_DOB_UNPARSED, FLAG_EMAIL_INVALID,
                                             FLAG_PHONE_INVALID, STD_FLAGS)
from customer_mdm.silver.versions import PARTY_SCHEMA

log = logging.getLogger(__name__)

#: The parts of the one ``address`` attribute, chosen together from one record.
ADDRESS_PARTS: tuple[str, ...] = ("address_line1", "address_line2", "city", "state", "postcode",
                                  "postcode_plus4", "country")
#: The fields of an entry of the ``addresses`` array.
ADDRESS_ENTRY: tuple[str, ...] = ("address_line1", "city", "state", "postcode", "country")
PIN = "pin"
PIN_SCHEMA = StructType([StructField("entity_id", StringType()), StructField("attribute", StringType()),
                         StructField("value", StringType())])


def attribute_columns(attribute: Attribute) -> tuple[str, ...]:
    """The golden columns one survivorship attribute fills."""
    return ADDRESS_PARTS if attribute == "address" else (attribute,)


#: The single-valued golden columns, in output order; a pin names one of these.
GOLDEN_ATTRIBUTES: tuple[str, ...] = tuple(c for a in SURVIVORSHIP_ATTRIBUTES for c in attribute_columns(a))

GOLDEN_SCHEMA = StructType([
    StructField("entity_id", StringType()),
    *(PARTY_SCHEMA[c] for c in GOLDEN_ATTRIBUTES),
    StructField("attribute_sources", MapType(StringType(), StringType())),
    StructField("emails", ArrayType(StringType())),
    StructField("phones", ArrayType(StringType())),
    StructField("addresses", ArrayType(StructType([StructField(c, StringType()) for c in ADDRESS_ENTRY]))),
    StructField("marketing_opt_out", BooleanType()),
    StructField("source_systems", ArrayType(StringType())),
    StructField("record_count", IntegerType()),
    StructField("row_hash", StringType()),
])

MEMBER_COLUMNS: tuple[str, ...] = ("entity_id", "source_priority", "source_system", "source_record_id",
                                   *GOLDEN_ATTRIBUTES, "marketing_opt_out", "valid_from", "source_updated_at",
                                   STD_FLAGS)
_FLAGS: Mapping[Attribute, str] = {"email": FLAG_EMAIL_INVALID, "phone_e164": FLAG_PHONE_INVALID,
                                   "address": FLAG_ADDRESS_UNPARSED, "date_of_birth": FLAG_DOB_UNPARSED}
_LAST = 2**31 - 1
_PINS = "_pins"


def golden_records(members: DataFrame, *, rules: SurvivorshipConfig, pins: DataFrame) -> DataFrame:
    """One golden row per entity_id of ``members`` (schema GOLDEN_SCHEMA).

    ``members``: live silver.party rows with ``entity_id`` and ``source_priority``.
    ``pins`` (PIN_SCHEMA): manual values, cast to the column's type; a pin on
    any address part pins the whole address (parts not pinned are null); a
    null value pins null. Pins of entities not in ``members`` are ignored. A
    pin naming an unknown column, two pins of one column for one entity, or a
    value that does not cast (ANSI mode) fail the query instead of guessing.
    """
    _require(members, MEMBER_COLUMNS, "members")
    _require(pins, tuple(PIN_SCHEMA.names), "pins")
    orders = {a: rules.order(a) for a in SURVIVORSHIP_ATTRIBUTES}
    log.info("golden records: survivorship %s", "; ".join(f"{a}: {' > '.join(o)}" for a, o in orders.items()))
    survived = members.groupBy("entity_id").agg(
        *(F.collect_list(_candidate(a, orders[a])).alias(_won(a)) for a in SURVIVORSHIP_ATTRIBUTES),
        F.collect_set("email").alias("_emails"),
        F.collect_set("phone_e164").alias("_phones"),
        F.collect_set(_address_entry({c: F.col(c) for c in ADDRESS_ENTRY})).alias("_addresses"),
        F.bool_or("marketing_opt_out").alias("marketing_opt_out"),
        F.array_sort(F.collect_set("source_system")).alias("source_systems"),
        F.count(F.lit(1)).cast(IntegerType()).alias("record_count"),
    ).withColumns({_won(a): _winner(F.col(_won(a)), orders[a]) for a in SURVIVORSHIP_ATTRIBUTES})
    return _with_pins(survived, _pinned(pins))


def _require(df: DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"golden_records needs {name} columns {list(columns)}; missing: {missing}")


def _value(attribute: Attribute) -> Column:
    """The attribute's value; the address as a struct of its parts, null when every part is."""
    if attribute != "address":
        return F.col(attribute)
    return F.when(F.coalesce(*ADDRESS_PARTS).isNotNull(), F.struct(*ADDRESS_PARTS))


def _won(attribute: Attribute) -> str:
    return f"_won_{attribute}"


def _candidate(attribute: Attribute, order: tuple[Strategy, ...]) -> Column:
    """A member's value with its sort keys; null (skipped by collect_list) when it holds no value."""
    value = _value(attribute)
    keys = [_strategy_key(attribute, s).alias(s) for s in order if s != "most_frequent"]
    return F.when(value.isNotNull(), F.struct(
        value.alias("value"), F.concat_ws(":", "source_system", "source_record_id").alias("source"), *keys,
        F.col("source_system").alias("_system"), F.col("source_record_id").alias("_record")))


def _winner(candidates: Column, order: tuple[Strategy, ...]) -> Column:
    """The candidate ranking first: keys in the configured order, then (source_system, source_record_id).

    Frequencies need all of an entity's candidates, so ranking happens after collection (entities are
    bounded by the clustering size cap, so counting over the list is cheap).
    """
    def ranked(c: Column) -> Column:
        keys = [(-F.size(F.filter(candidates, lambda d: d["value"].eqNullSafe(c["value"]))) if s == "most_frequent"
                 else c[s]).alias(s) for s in order]
        return F.struct(*keys, c["_system"], c["_record"], c["value"], c["source"])
    return F.array_min(F.transform(candidates, ranked))


def _strategy_key(attribute: Attribute, strategy: Strategy) -> Column:
    """A null-free sort key; smaller is better."""
    if strategy == "source_priority":
        return F.coalesce(F.col("source_priority").cast(IntegerType()), F.lit(_LAST))
    if strategy == "verified":
        flag = _FLAGS.get(attribute)
        return F.lit(False) if flag is None else F.coalesce(F.array_contains(STD_FLAGS, flag), F.lit(False))
    if strategy == "most_recent":
        return F.struct(_latest_first(F.col("valid_from")).alias("valid_from"),
                        _latest_first(F.col("source_updated_at")).alias("source_updated_at"))
    if strategy == "most_complete":
        if attribute == "address":
            return -sum((F.col(c).isNotNull().cast(IntegerType()) for c in ADDRESS_PARTS), F.lit(0))
        if attribute == "date_of_birth":
            return F.lit(0)
        return -F.char_length(F.col(attribute))
    raise ValueError(f"{strategy} ranks over all of an entity's candidates, not one record")


def _latest_first(timestamp: Column) -> Column:
    return F.coalesce(-F.unix_micros(timestamp), F.lit(2**63 - 1))


def _address_entry(parts: Mapping[str, Column]) -> Column:
    """An ``addresses`` entry, null when none of its fields is known (collect_set skips nulls)."""
    return F.when(F.coalesce(*parts.values()).isNotNull(), F.struct(*(parts[c].alias(c) for c in ADDRESS_ENTRY)))


def _pinned(pins: DataFrame) -> DataFrame:
    """Per entity a map of pinned column -> value; two pins of one column fail the query (duplicate map key)."""
    known = F.col("attribute").isin(*GOLDEN_ATTRIBUTES)
    checked = F.when(known, F.col("attribute")).otherwise(F.raise_error(F.concat(
        F.lit("pin for entity "), F.col("entity_id"), F.lit(" names "), F.coalesce(F.col("attribute"), F.lit("null")),
        F.lit(f", not a golden attribute; expected one of {list(GOLDEN_ATTRIBUTES)}"))))
    return pins.groupBy("entity_id").agg(
        F.map_from_entries(F.collect_list(F.struct(checked, F.col("value")))).alias(_PINS))


def _with_pins(survived: DataFrame, pinned: DataFrame) -> DataFrame:
    joined = survived.join(pinned, "entity_id", "left")
    pinned_columns = F.coalesce(F.map_keys(_PINS), F.array().cast(ArrayType(StringType())))
    values: dict[str, Column] = {}
    sources = []
    for attribute in SURVIVORSHIP_ATTRIBUTES:
        columns = attribute_columns(attribute)
        is_pinned = F.arrays_overlap(pinned_columns, F.array(*(F.lit(c) for c in columns)))
        won = F.col(_won(attribute))
        for column in columns:
            automatic = won["value"] if attribute != "address" else won["value"][column]
            values[column] = F.when(is_pinned, F.col(_PINS)[column].cast(PARTY_SCHEMA[column].dataType)) \
                .otherwise(automatic)
        sources.append(F.struct(F.lit(attribute).alias("key"),
                                F.when(is_pinned, F.lit(PIN)).otherwise(won["source"]).alias("value")))
    pinned_address = _address_entry({c: values[c] for c in ADDRESS_ENTRY})
    golden = joined.select(
        "entity_id",
        *(values[c].alias(c) for c in GOLDEN_ATTRIBUTES),
        F.map_from_entries(F.filter(F.array(*sources), lambda s: s["value"].isNotNull())).alias("attribute_sources"),
        _sorted_with("_emails", values["email"]).alias("emails"),
        _sorted_with("_phones", values["phone_e164"]).alias("phones"),
        _sorted_with("_addresses", pinned_address).alias("addresses"),
        "marketing_opt_out", "source_systems", "record_count",
    )
    content = F.to_json(F.struct(*(c for c in golden.columns if c != "entity_id")))
    return golden.withColumn("row_hash", F.sha2(content, 256)) \
        .select(*(F.col(f.name).cast(f.dataType).alias(f.name) for f in GOLDEN_SCHEMA.fields))


def _sorted_with(collected: str, golden: Column) -> Column:
    """Every known value plus the golden one (a pin may add a value no member holds), distinct and sorted."""
    return F.array_sort(F.array_union(F.col(collected), F.array_compact(F.array(golden))))
