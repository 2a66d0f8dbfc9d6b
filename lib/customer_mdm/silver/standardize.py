"""Standardization of the canonical party columns, the first step of the silver hop.

Spark expressions do what Spark can (trimming, case, postcodes, date parsing,
code-table lookups); four Arrow UDFs, one per library family, do what needs a
maintained library: names (nameparser), email (email-validator), phone
(phonenumbers) and US street lines (usaddress-scourgify). Every library call
goes through a bounded per-worker cache keyed by the value alone, so results do
not depend on how rows are split into partitions or Arrow batches, and repeated
values (the same person in many versions, common first names) cost one parse.

A value that cannot be standardized becomes null; ``_std_flags`` lists why
(e.g. "email_invalid") and ``_std_rejected`` maps each flag to the value that
was rejected, so data-quality rules and reports can show it. The row itself
is never dropped (its raw values stay in ``_raw``).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import phonenumbers
import pyarrow as pa
import pycountry
from email_validator import EmailNotValidError, validate_email
from nameparser import Parser, Role
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, StringType, StructField, StructType
from scourgify import normalize_address_record
from scourgify.address_constants import STATE_ABBREVIATIONS
from scourgify.exceptions import AddressNormalizationError

from customer_mdm.config import SourceConfig
from customer_mdm.party import CANONICAL_COLUMNS


STD_FLAGS = "_std_flags"
STD_REJECTED = "_std_rejected"
FLAG_EMAIL_INVALID = "email_invalid"
FLAG_PHONE_INVALID = "phone_invalid"
FLAG_ADDRESS_UNPARSED = "address_unparsed"
FLAG_DOB_UNPARSED = "dob_unparsed"
FLAG_UPDATED_AT_UNPARSED = "updated_at_unparsed"
FLAG_OPT_OUT_UNPARSED = "opt_out_unparsed"

#: The standardized party columns, in output order; every other input column follows untouched.
STANDARDIZED_COLUMNS: tuple[str, ...] = (
    "source_system", "source_record_id",
    "full_name", "first_name", "middle_name", "last_name", "name_suffix",
    "email", "phone_e164",
    "address_line1", "address_line2", "city", "state", "postcode", "postcode_plus4", "country",
    "date_of_birth", "company", "marketing_opt_out", "source_updated_at",
    STD_FLAGS, STD_REJECTED,
)

DATE_FORMATS: tuple[str, ...] = (
    "yyyy-MM-dd", "M/d/yyyy", "yyyyMMdd", "d.M.yyyy", "yyyy/M/d", "d-MMM-yyyy", "MMMM d, yyyy",
    "MMM d, yyyy",
)
TIMESTAMP_FORMATS: tuple[str, ...] = (
    "yyyy-MM-dd HH:mm:ss[.SSSSSS]", "yyyy-MM-dd'T'HH:mm:ss[.SSSSSS]XXX", "yyyy-MM-dd'T'HH:mm:ss[.SSSSSS]",
    "yyyy-MM-dd HH:mm:ss[.SSSSSS]XXX", "M/d/yyyy H:mm[:ss]",
)

#: Account tags billing systems add to names ("SMITH, JOHN - HOME", "JOHN SMITH (PRIMARY)", "... ACCT").
NAME_NOISE = r"(?i)\s+-\s+.*$|\s*\([^)]*\)|\b(?:acct|account)\b\.?"
PhoneCheck = Literal["valid", "possible"]
_US_ZIP = r"^(\d{5})(?:[- ]?(\d{4}))?$"
_CACHE_SIZE = 1 << 16
_TRUE_WORDS = ("y", "yes", "true", "t", "1")
_FALSE_WORDS = ("n", "no", "false", "f", "0")
# Names people write that ISO 3166 (pycountry) does not list under any of its names.
_COUNTRY_ALIASES: Mapping[str, str] = {
    "UK": "GB", "GREAT BRITAIN": "GB", "ENGLAND": "GB", "SCOTLAND": "GB", "WALES": "GB",
    "NORTHERN IRELAND": "GB", "AMERICA": "US", "HOLLAND": "NL", "RUSSIA": "RU", "TURKEY": "TR",
    "CZECH REPUBLIC": "CZ", "IVORY COAST": "CI", "MACEDONIA": "MK", "SWAZILAND": "SZ", "BURMA": "MM",
}


@dataclass(frozen=True, kw_only=True)
class StandardizeOptions:
    """How one source's values are read; ``for_source`` puts the source's own formats first.

    ``default_region`` is the ISO country assumed for phone numbers without a
    country code and for addresses without a country. ``phone_check`` "valid"
    keeps only numbers assigned in the numbering plan; "possible" keeps any
    number of a plausible length (useful for synthetic 555 numbers).
    ``name_noise`` (a Java regex, None for none) is removed from name fields
    before they are parsed.
    """

    default_region: str = "US"
    date_formats: tuple[str, ...] = DATE_FORMATS
    timestamp_formats: tuple[str, ...] = TIMESTAMP_FORMATS
    phone_check: PhoneCheck = "valid"
    name_noise: str | None = NAME_NOISE

    def __post_init__(self) -> None:
        if self.default_region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"default_region must be an ISO 3166 alpha-2 region phonenumbers knows, "
                             f"e.g. 'US' or 'GB' (got {self.default_region!r})")
        if not self.date_formats or not self.timestamp_formats:
            raise ValueError("date_formats and timestamp_formats need at least one pattern each")
        if self.phone_check not in ("valid", "possible"):
            raise ValueError(f"phone_check must be 'valid' or 'possible' (got {self.phone_check!r})")
        if self.name_noise:
            try:
                re.compile(self.name_noise)
            except re.error as exc:
                raise ValueError(f"name_noise must be a regular expression ({exc}): {self.name_noise!r}") from exc

    @classmethod
    def for_source(cls, source: SourceConfig, *, default_region: str = "US",
                   phone_check: PhoneCheck = "valid") -> StandardizeOptions:
        return cls(default_region=default_region, phone_check=phone_check,
                   date_formats=_first(source.date_format, DATE_FORMATS),
                   timestamp_formats=_first(source.timestamp_format, TIMESTAMP_FORMATS))


def _first(own: str | None, general: tuple[str, ...]) -> tuple[str, ...]:
    return general if own is None else (own, *(f for f in general if f != own))


def standardize(df: DataFrame, *, options: StandardizeOptions = StandardizeOptions()) -> DataFrame:
    """Standardized party columns (see STANDARDIZED_COLUMNS) followed by every other input column untouched."""
    missing = [c for c in (*CANONICAL_COLUMNS, "source_system") if c not in df.columns]
    if missing:
        raise ValueError(f"standardize needs the canonical party columns; missing: {missing}")
    cleaned = df.withColumns({_tmp(c): _clean(F.col(c)) for c in CANONICAL_COLUMNS})
    if options.name_noise:
        cleaned = cleaned.withColumns({_tmp(c): _clean(F.regexp_replace(_t(c), options.name_noise, ""))
                                       for c in _NAME_INPUTS})
    located = _with_lookup(cleaned, _country_key(_t("country")), _country_table(), _tmp("iso_country"))
    located = located.withColumn(_tmp("country"), F.coalesce(_t("iso_country"), F.upper(_t("country"))))
    located = located.withColumn(_tmp("us"), (_t("country") == F.lit("US")) | (
        _t("country").isNull() & F.lit(options.default_region == "US")))
    us = _t("us")
    zip5 = F.regexp_extract(_t("postcode"), _US_ZIP, 1)
    zip4 = F.regexp_extract(_t("postcode"), _US_ZIP, 2)
    state = F.upper(_t("state"))
    located = _with_lookup(located, state, _us_state_table(), _tmp("us_state"))
    placed = located.withColumns({
        _tmp("postcode"): F.when(us & (zip5 != F.lit("")), zip5)
                           .when(us & _t("postcode").rlike(r"^\d{3,4}$"), F.lpad(_t("postcode"), 5, "0"))
                           .otherwise(F.upper(_t("postcode"))),
        _tmp("plus4"): F.when(us & (zip4 != F.lit("")), zip4),
        _tmp("state"): F.when(us, F.coalesce(_t("us_state"), state)).otherwise(state),
        _tmp("city"): F.upper(_t("city")),
        _tmp("email"): F.lower(_t("email")),
    })
    phone_e164 = _phone_udf(options.default_region, options.phone_check)
    enriched = placed.withColumns({
        _tmp("name"): _names_udf(*(_t(c) for c in _NAME_INPUTS)),
        _tmp("address"): _address_udf(F.upper(_t("address_line1")), F.upper(_t("address_line2")), _t("city"),
                                      _t("state"), _t("postcode"), us),
        _tmp("email_std"): _email_udf(_t("email")),
        _tmp("phone_std"): phone_e164(_t("phone")),
        _tmp("dob"): _parse_date(_t("date_of_birth"), options),
        _tmp("updated"): _parse_timestamp(_t("source_updated_at"), options),
        _tmp("opt_out"): _boolean(_t("marketing_opt_out")),
    })
    rejected = enriched.withColumn(_tmp("rejected"), F.array_compact(F.array(
        _rejection(FLAG_EMAIL_INVALID, _t("email"), _t("email_std").isNull()),
        _rejection(FLAG_PHONE_INVALID, _t("phone"), _t("phone_std").isNull()),
        _rejection(FLAG_ADDRESS_UNPARSED, _t("address_line1"), ~_t("address.us_parsed")),
        _rejection(FLAG_DOB_UNPARSED, _t("date_of_birth"), _t("dob").isNull()),
        _rejection(FLAG_UPDATED_AT_UNPARSED, _t("source_updated_at"), _t("updated").isNull()),
        _rejection(FLAG_OPT_OUT_UNPARSED, _t("marketing_opt_out"), _t("opt_out").isNull()),
    )))
    standardized = {
        "source_system": F.col("source_system"),
        "source_record_id": _t("source_record_id"),
        **{c: _t(f"name.{c}") for c in _NAME_FIELDS},
        "email": _t("email_std"),
        "phone_e164": _t("phone_std"),
        "address_line1": _t("address.line1"),
        "address_line2": _t("address.line2"),
        "city": _t("city"), "state": _t("state"), "postcode": _t("postcode"), "postcode_plus4": _t("plus4"),
        "country": _t("country"),
        "date_of_birth": _t("dob"),
        "company": _t("company"),
        "marketing_opt_out": _t("opt_out"),
        "source_updated_at": _t("updated"),
        STD_FLAGS: F.transform(_t("rejected"), lambda r: r["flag"]),
        STD_REJECTED: F.map_from_entries(_t("rejected")),
    }
    replaced = set(CANONICAL_COLUMNS) | set(standardized)
    rest = [c for c in df.columns if c not in replaced]
    return rejected.select(*(standardized[c].alias(c) for c in STANDARDIZED_COLUMNS), *rest)


def _tmp(name: str) -> str:
    return f"__std_{name}"


def _t(name: str) -> Column:
    return F.col(_tmp(name))


# -- Spark expressions ----------------------------------------------------------------------------

def _clean(value: Column) -> Column:
    """Trimmed, inner whitespace (any Unicode space) collapsed; blank becomes null."""
    text = F.trim(F.regexp_replace(value, r"(?U)\s+", " "))
    return F.when(text != F.lit(""), text)


def _rejection(flag: str, given: Column, failed: Column) -> Column:
    """(flag, cleaned input) when a given value could not be standardized."""
    return F.when(given.isNotNull() & failed, F.struct(F.lit(flag).alias("flag"), given.alias("value")))


def _with_lookup(df: DataFrame, key: Column, table: Mapping[str, str], out: str) -> DataFrame:
    """Adds ``out`` = table[key] (null when absent) by a broadcast hash join: O(1) per row, where a map
    literal's lookup scans every key."""
    lookup = df.sparkSession.createDataFrame(sorted(table.items()), f"`{out}_key` string, `{out}` string")
    return df.join(F.broadcast(lookup), key == lookup[f"{out}_key"], "left").drop(f"{out}_key")


@functools.cache
def _country_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            name = getattr(country, attr, None)
            if name:
                table[_name_key(name)] = country.alpha_2
    return {**table, **_COUNTRY_ALIASES}


def _name_key(name: str) -> str:
    """A country name as a lookup key; ``_country_key`` derives the same key from values in Spark."""
    return " ".join(name.upper().replace(".", "").split())


@functools.cache
def _us_state_table() -> dict[str, str]:
    table = {s.name.upper(): s.code.removeprefix("US-") for s in pycountry.subdivisions.get(country_code="US")}
    table.update(STATE_ABBREVIATIONS)
    table.update({code: code for code in table.values()})
    return table


def _country_key(value: Column) -> Column:
    """The lookup key of a country as written: upper case, dots dropped, spaces collapsed (U.S.A. -> USA)."""
    return F.upper(F.trim(F.regexp_replace(F.regexp_replace(value, r"\.", ""), r"\s+", " ")))


def _parse_date(value: Column, options: StandardizeOptions) -> Column:
    by_date = [F.try_to_date(value, fmt) for fmt in options.date_formats]
    by_time = [F.to_date(F.try_to_timestamp(value, F.lit(fmt))) for fmt in options.timestamp_formats]
    return F.coalesce(*by_date, *by_time)


def _parse_timestamp(value: Column, options: StandardizeOptions) -> Column:
    """Values without an offset are read in the session time zone, which build_session sets to UTC."""
    by_time = [F.try_to_timestamp(value, F.lit(fmt)) for fmt in options.timestamp_formats]
    by_date = [F.try_to_date(value, fmt).cast("timestamp") for fmt in options.date_formats]
    return F.coalesce(*by_time, *by_date)


def _boolean(value: Column) -> Column:
    word = F.lower(value)
    return F.when(word.isin(*_TRUE_WORDS), F.lit(True)).when(word.isin(*_FALSE_WORDS), F.lit(False))


# -- Arrow UDFs: one per library family, each over cached per-value functions ----------------------

_NAME_INPUTS = ("full_name", "first_name", "middle_name", "last_name")
_NAME_FIELDS = ("first_name", "middle_name", "last_name", "name_suffix", "full_name")
_NAME_TYPE = StructType([StructField(f, StringType()) for f in _NAME_FIELDS])
_ADDRESS_TYPE = StructType([StructField("line1", StringType()), StructField("line2", StringType()),
                            StructField("us_parsed", BooleanType())])
_INITIAL = re.compile(r"(?<![^\s])([^\W\d_])\.(?=\s|$)")


def _rows(arrays: Sequence[pa.Array]) -> zip[tuple[Any, ...]]:
    return zip(*(array.to_pylist() for array in arrays))


def _struct(rows: list[tuple[object, ...]], struct_type: StructType) -> pa.StructArray:
    columns = list(zip(*rows)) if rows else [()] * len(struct_type.fields)
    arrow_types = {"string": pa.string(), "boolean": pa.bool_()}
    return pa.StructArray.from_arrays(
        [pa.array(list(col), arrow_types[f.dataType.typeName()]) for col, f in zip(columns, struct_type.fields)],
        fields=[pa.field(f.name, arrow_types[f.dataType.typeName()]) for f in struct_type.fields])


class _Part(NamedTuple):
    words: str | None
    suffix: str | None


class _FullName(NamedTuple):
    first: str | None
    middle: str | None
    last: str | None
    suffix: str | None


@functools.cache
def _name_parser() -> Parser:
    return Parser()


def _words(text: str) -> str | None:
    """Initials lose their dot ("A." -> "A") so "John A. Smith" and "John A Smith" standardize alike."""
    return _INITIAL.sub(r"\1", text) or None


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parse_full_name(text: str) -> _FullName:
    parser = _name_parser()
    name = parser.capitalized(parser.parse(text))
    return _FullName(_words(name.given), _words(name.middle), _words(name.family), name.suffix or None)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parse_name_part(text: str) -> _Part:
    """One source name field: honorifics and nicknames dropped, suffixes split off, case repaired.

    A field holding only an honorific-like word ("King", a surname) keeps it.
    """
    parser = _name_parser()
    tokens = parser.capitalized(parser.parse(text)).tokens
    kept = [t.text for t in tokens if t.role not in (Role.TITLE, Role.NICKNAME, Role.SUFFIX)]
    if not kept:
        return _Part(_words(" ".join(t.text for t in tokens if t.role is not Role.NICKNAME)), None)
    suffix = " ".join(t.text for t in tokens if t.role is Role.SUFFIX)
    return _Part(_words(" ".join(kept)), suffix or None)


def _standard_name(full: str | None, first: str | None, middle: str | None,
                   last: str | None) -> tuple[str | None, ...]:
    """Parts the source gave win; missing parts come from the parsed full name; full name from the parts."""
    parsed = _parse_full_name(full) if full else _FullName(None, None, None, None)
    given = [_parse_name_part(p) if p else None for p in (first, middle, last)]
    first_o, middle_o, last_o = (part.words if part else fallback
                                 for part, fallback in zip(given, parsed[:3]))
    suffixes = [p.suffix for p in given if p and p.suffix]
    suffix = " ".join(suffixes) if suffixes else parsed.suffix
    full_o = " ".join(w for w in (first_o, middle_o, last_o, suffix) if w) or None
    return first_o, middle_o, last_o, suffix, full_o


@F.arrow_udf(_NAME_TYPE)  # type: ignore[call-overload]
def _names_udf(full: pa.Array, first: pa.Array, middle: pa.Array, last: pa.Array) -> pa.Array:
    return _struct([_standard_name(*row) for row in _rows((full, first, middle, last))], _NAME_TYPE)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _standard_email(text: str) -> str | None:
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


@F.arrow_udf(StringType())  # type: ignore[call-overload]
def _email_udf(email: pa.Array) -> pa.Array:
    return pa.array([_standard_email(e) if e else None for e in email.to_pylist()], pa.string())


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _standard_phone(text: str, region: str, check: PhoneCheck) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    ok = phonenumbers.is_valid_number(number) if check == "valid" else phonenumbers.is_possible_number(number)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) if ok else None


def _phone_udf(region: str, check: PhoneCheck) -> Callable[[Column], Column]:
    @F.arrow_udf(StringType())  # type: ignore[call-overload]
    def phone_e164(phone: pa.Array) -> pa.Array:
        return pa.array([_standard_phone(p, region, check) if p else None for p in phone.to_pylist()],
                        pa.string())
    return phone_e164


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _usps_lines(line1: str, line2: str | None, city: str | None, state: str | None,
                postcode: str | None) -> tuple[str | None, str | None] | None:
    try:
        parsed = normalize_address_record({"address_line_1": line1, "address_line_2": line2, "city": city,
                                           "state": state, "postal_code": postcode}, strict=False)
    except AddressNormalizationError:
        return None
    return parsed["address_line_1"], parsed["address_line_2"]


def _street_lines(line1: str | None, line2: str | None, city: str | None, state: str | None,
                  postcode: str | None, us: bool | None) -> tuple[str | None, str | None, bool | None]:
    """USPS form for US addresses (unit split into line 2); others, and US ones scourgify cannot parse, as given.

    Non-strict: city and state, or a postcode, are enough context for scourgify.
    """
    if not us or line1 is None:
        return line1, line2, None
    usps = _usps_lines(line1, line2, city, state, postcode)
    return (line1, line2, False) if usps is None else (*usps, True)


@F.arrow_udf(_ADDRESS_TYPE)  # type: ignore[call-overload]
def _address_udf(line1: pa.Array, line2: pa.Array, city: pa.Array, state: pa.Array, postcode: pa.Array,
                 us: pa.Array) -> pa.Array:
    return _struct([_street_lines(*row) for row in _rows((line1, line2, city, state, postcode, us))],
                   _ADDRESS_TYPE)
