"""The three sample source systems: their columns, id formats and house styles.

Columns match conf/sources/<name>.yaml exactly, every value a string (or
null), so a test can compare them with the configuration. Each system has
its own habits, as real ones do: CRM splits names and uses US dates and
Y/N flags; e-commerce writes one name string, ISO dates and "true"/"false";
billing upper-cases account names, writes compact dates and 0/1 flags.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from customer_mdm.samples import reference as ref
from customer_mdm.samples.draws import I64, Draws
from customer_mdm.samples.noise import NoiseProfile
from customer_mdm.samples.records import Rendered
from customer_mdm.samples.variation import join_present


def _text(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _padded(prefix: str, width: int) -> Callable[[I64], pa.Array]:
    def record_id(number: I64) -> pa.Array:
        return pc.binary_join_element_wise(pa.scalar(prefix), pc.utf8_lpad(_text(number), width, "0"), "")
    return record_id


def _offset(base: int) -> Callable[[I64], pa.Array]:
    def record_id(number: I64) -> pa.Array:
        return _text(number + base)
    return record_id


def _flag(mask: np.ndarray, yes: str, no: str) -> pa.Array:
    return pc.if_else(pa.array(mask), pa.scalar(yes), pa.scalar(no))


_EPOCH = date(1970, 1, 1)
_TABLE_FROM = (date(1900, 1, 1) - _EPOCH).days   # dates that can be rendered: 1900 .. 2035
_TABLE_DAYS = (date(2035, 12, 31) - date(1900, 1, 1)).days + 1


@lru_cache(maxsize=None)
def _day_texts(fmt: str) -> pa.Array:
    return pc.strftime(pa.array(np.arange(_TABLE_FROM, _TABLE_FROM + _TABLE_DAYS, dtype=np.int32), pa.date32()),
                       format=fmt)


@lru_cache(maxsize=None)
def _clock_texts() -> pa.Array:
    """'HH:MM:SS' of every second of a day."""
    hour, minute, second = np.arange(86_400) // 3600, np.arange(86_400) // 60 % 60, np.arange(86_400) % 60
    return pc.binary_join_element_wise(*(pc.utf8_lpad(_text(v), 2, "0") for v in (hour, minute, second)), ":")


def _dates(days: pa.Array, fmt: str) -> pa.Array:
    """Dates as text through a table of every day's text: strftime costs microseconds per value."""
    return pc.take(_day_texts(fmt), pc.subtract(pc.cast(days, pa.int32()), _TABLE_FROM))


def _timestamps(seconds: I64, *, separator: str, suffix: str = "") -> pa.Array:
    day, second = np.divmod(seconds, 86_400)
    return pc.binary_join_element_wise(_dates(pa.array(day.astype(np.int32), pa.date32()), "%Y-%m-%d"), separator,
                                       pc.take(_clock_texts(), pa.array(second)), suffix, "")


# Phone formats, in the order Style.phone builds them.
PARENTHESES, DOTS, INTERNATIONAL, DIGITS, DASHES = range(5)


class Style:
    """Source-specific noise: phone formats, country spellings, name order and initials."""

    def __init__(self, rendered: Rendered, profile: NoiseProfile, draws: Draws):
        self.r, self.profile, self.draws = rendered, profile, draws

    def chance(self, rate: float, purpose: str) -> np.ndarray:
        return self.draws.below(rate, purpose, self.r.record)

    def phone(self, house: int) -> pa.Array:
        """Ten digits in the source's house format, another format at ``phone_format_rate``."""
        digits = self.r.phone
        area, exchange, line = (pc.utf8_slice_codeunits(digits, a, b) for a, b in ((0, 3), (3, 6), (6, 10)))
        formats = (  # (555) 123-4567, 555.123.4567, +1 555 123 4567, 5551234567, 555-123-4567
            pc.binary_join_element_wise("(", area, ") ", exchange, "-", line, ""),
            pc.binary_join_element_wise(area, exchange, line, "."),
            pc.binary_join_element_wise("+1", area, exchange, line, " "),
            digits,
            pc.binary_join_element_wise(area, exchange, line, "-"),
        )
        other = (house + 1 + self.draws.integers(len(formats) - 1, "phone.format", self.r.record)) % len(formats)
        chosen = np.where(self.chance(self.profile.phone_format_rate, "phone.format_varies"), other, house)
        return pc.case_when(pc.make_struct(*(pa.array(chosen == i) for i in range(len(formats) - 1))), *formats)

    def country(self, house: str) -> pa.Array:
        variants = pa.array([c for c in ref.COUNTRY_VARIANTS if c != house])
        other = pc.take(variants, pa.array(self.draws.integers(len(variants), "country.variant", self.r.record)))
        return pc.if_else(pa.array(self.chance(self.profile.region_variant_rate, "country.varies")), other,
                          pa.scalar(house))

    def full_name(self, *, dotted_initials: bool, suffix_dot: bool) -> pa.Array:
        """'First M. Last Jr' or, at ``last_first_rate``, 'Last Jr, First M.'."""
        r = self.r
        dot = pa.scalar(".")
        first = pc.if_else(pa.array(r.first_is_initial & dotted_initials),
                           pc.binary_join_element_wise(r.first, dot, ""), r.first)
        middle = pc.if_else(pa.array(r.middle_is_initial & dotted_initials),
                            pc.binary_join_element_wise(r.middle, dot, ""), r.middle)
        suffix = pc.binary_join_element_wise(r.suffix, dot, "") if suffix_dot else r.suffix
        last = join_present(r.last, suffix)
        natural = join_present(first, middle, last)
        reverse = join_present(pc.binary_join_element_wise(last, ",", ""), first, middle)
        return pc.if_else(pa.array(self.chance(self.profile.last_first_rate, "name.last_first")), reverse, natural)


_ACCOUNT_TAGS = pa.array(["- PERSONAL", "(PRIMARY)", "- HOME", "ACCT"])


def crm(s: Style) -> dict[str, pa.Array]:
    r = s.r
    return {
        "first_name": r.first, "middle_name": r.middle,
        "last_name": join_present(r.last, r.suffix),
        "email": r.email, "phone": s.phone(PARENTHESES), "street": r.street, "street2": r.unit, "city": r.city,
        "state": r.state, "zip": r.zip, "country": s.country("US"),
        "birth_date": _dates(r.birth_date, "%m/%d/%Y"), "company": r.company,
        "email_opt_out": _flag(r.opt_out, "Y", "N"), "status": _flag(r.deleted, "DELETED", "ACTIVE"),
        "updated_at": _timestamps(r.updated_at, separator=" "),
    }


def ecommerce(s: Style) -> dict[str, pa.Array]:
    r = s.r
    return {
        "name": s.full_name(dotted_initials=True, suffix_dot=True), "email_address": r.email,
        "phone_number": s.phone(DASHES),
        "shipping_address": join_present(r.street, r.unit),
        "shipping_city": r.city, "shipping_state": r.state, "shipping_zip": r.zip, "country_code": s.country("US"),
        "dob": _dates(r.birth_date, "%Y-%m-%d"), "unsubscribed": _flag(r.opt_out, "true", "false"),
        "deleted": _flag(r.deleted, "true", "false"),
        "last_modified": _timestamps(r.updated_at, separator="T", suffix="Z"),
    }


def billing(s: Style) -> dict[str, pa.Array]:
    r, p = s.r, s.profile
    name = s.full_name(dotted_initials=False, suffix_dot=False)
    name = pc.if_else(pa.array(s.chance(p.account_name_upper_rate, "account.upper")), pc.utf8_upper(name), name)
    tag = pc.take(_ACCOUNT_TAGS, pa.array(s.draws.integers(len(_ACCOUNT_TAGS), "account.tag", r.record)))
    tagged = pc.binary_join_element_wise(name, tag, " ")
    return {
        "account_name": pc.if_else(pa.array(s.chance(p.account_suffix_rate, "account.tagged")), tagged, name),
        "company_name": r.company, "billing_email": r.work_email, "billing_phone": s.phone(DIGITS),
        "addr_line1": r.street, "addr_line2": r.unit, "addr_city": r.city, "addr_state": r.state,
        "addr_postcode": r.zip, "addr_country": s.country("USA"),
        "date_of_birth": _dates(r.birth_date, "%Y%m%d"),
        "modified_ts": _timestamps(r.updated_at, separator=" "), "is_closed": _flag(r.deleted, "1", "0"),
    }


@dataclass(frozen=True)
class SourceLayout:
    """One source system's file: format, columns (the first is the record id) and how rows are laid out."""

    name: str
    extension: str
    columns: tuple[str, ...]
    record_id: Callable[[I64], pa.Array]
    values: Callable[[Style], dict[str, pa.Array]]

    def table(self, rendered: Rendered, number: I64, profile: NoiseProfile, draws: Draws) -> pa.Table:
        values = {self.columns[0]: self.record_id(number), **self.values(Style(rendered, profile, draws))}
        return pa.table({name: values[name] for name in self.columns})

    def file_name(self, extract: int) -> str:
        return f"{self.name}_{extract:04d}.{self.extension}"


LAYOUTS: tuple[SourceLayout, ...] = (
    SourceLayout("crm", "csv", ("customer_id", "first_name", "middle_name", "last_name", "email", "phone", "street",
                                "street2", "city", "state", "zip", "country", "birth_date", "company",
                                "email_opt_out", "status", "updated_at"), _padded("C", 7), crm),
    SourceLayout("ecommerce", "jsonl", ("user_id", "name", "email_address", "phone_number", "shipping_address",
                                        "shipping_city", "shipping_state", "shipping_zip", "country_code", "dob",
                                        "unsubscribed", "deleted", "last_modified"), _offset(1_000_000), ecommerce),
    SourceLayout("billing", "parquet", ("account_no", "account_name", "company_name", "billing_email",
                                        "billing_phone", "addr_line1", "addr_line2", "addr_city", "addr_state",
                                        "addr_postcode", "addr_country", "date_of_birth", "modified_ts",
                                        "is_closed"), _padded("AC-", 8), billing),
)


def _quoted(value: str | None) -> str:
    """A field quoted the way the CSV writer quotes strings (nulls stay empty)."""
    return "" if value is None else '"' + value.replace('"', '""') + '"'


def malformed_line(row: dict[str, str | None], record_id: str, *, too_many: bool) -> str:
    """A copy of ``row`` under a new id with the wrong field count, as broken exports produce them.

    ``too_many``: the street is written unquoted with its unit after a comma
    ("12 Main St, Apt 4"), which splits into one field too many; otherwise the
    line is cut short, losing its last three fields.
    """
    fields = [_quoted(value) for value in row.values()]
    fields[0] = _quoted(record_id)
    if too_many:
        street = list(row).index("street")
        fields[street] = f"{row['street'] or '1 Main St'}, {row['street2'] or 'Apt 1'}"
    else:
        fields = fields[:-3]
    return ",".join(fields) + "\n"
