"""One chunk of planned rows rendered into noisy values, before any source's layout.

Noise is keyed by record, not by row, so a record keeps its typo or
nickname across extracts (as a stored value does) and only what an update
changes differs between its versions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from customer_mdm.samples import reference as ref
from customer_mdm.samples import variation as vary
from customer_mdm.samples.draws import I64, Draws, Mask
from customer_mdm.samples.noise import NoiseProfile
from customer_mdm.samples.plan import DELETE, Plan, Rows
from customer_mdm.samples.population import (ROLE_HEAD, Population, address, company, email_handle, home_city,
                                             personal_email, phone_digits)

_CITY_NAMES = pa.array([c.name for c in ref.CITIES])
_CITY_STATES = pa.array([c.state for c in ref.CITIES])
_STATE_NAMES = pa.array(list(ref.STATE_NAMES.values()))
_STATE_CODES = pa.array(list(ref.STATE_NAMES))
_STREET_NAMES = pa.array(ref.STREET_NAMES)
_WORK_EMAIL_SHARE = 0.4   # of people with an employer, billing gets a work address
_HASH_SIGN_SHARE = 0.3    # of abbreviated unit designators, written "#"


class _Spelling:
    """Words of one reference table, written in full or abbreviated per row."""

    def __init__(self, table: tuple[ref.Abbreviable, ...]):
        self.full = pa.array([w.full for w in table])
        self.short = pa.array([w.abbreviation for w in table])

    def pick(self, index: I64, abbreviated: pa.Array) -> pa.Array:
        """The word at ``index`` (null where -1)."""
        at = pa.array(np.maximum(index, 0), mask=index < 0)
        return pc.if_else(abbreviated, pc.take(self.short, at), pc.take(self.full, at))


_DIRECTIONS = _Spelling(ref.DIRECTIONS)
_STREET_TYPES = _Spelling(ref.STREET_TYPES)
_UNIT_TYPES = _Spelling(ref.UNIT_TYPES)


@dataclass(frozen=True)
class Rendered:
    """Values of one chunk of rows after noise; sources only arrange and format them."""

    record: I64
    kind: np.ndarray
    updated_at: I64
    first: pa.Array
    first_is_initial: Mask
    middle: pa.Array
    middle_is_initial: Mask
    last: pa.Array
    suffix: pa.Array
    email: pa.Array
    work_email: pa.Array
    phone: pa.Array           # ten digits
    street: pa.Array
    unit: pa.Array            # "Apt 4B", "# 12", null
    city: pa.Array
    state: pa.Array
    zip: pa.Array
    birth_date: pa.Array      # date32
    company: pa.Array
    opt_out: Mask

    @property
    def deleted(self) -> Mask:
        return np.asarray(self.kind == DELETE)


class Renderer:
    """Renders rows of a plan for one population under one noise profile."""

    def __init__(self, plan: Plan, population: Population, profile: NoiseProfile, draws: Draws):
        self.plan, self.population, self.profile, self.draws = plan, population, profile, draws

    def chance(self, rate: float, purpose: str, keys: I64) -> Mask:
        return self.draws.below(rate, purpose, keys)

    def missing(self, values: pa.Array, field: str, record: I64) -> pa.Array:
        gone = self.chance(self.profile.missing_rate, f"missing.{field}", record)
        return pc.if_else(pa.array(gone), pa.nulls(len(values), values.type), values)

    def typos(self, values: pa.Array, field: str, record: I64) -> pa.Array:
        chosen = self.chance(self.profile.typo_rate, f"typo.{field}", record)
        return vary.edit_some(values, chosen, vary.typo, self.draws.bits(f"typo.{field}.how", record))

    def render(self, rows: Rows) -> Rendered:
        record = rows.record
        entity = self.plan.entity[record]
        p = self.profile
        first_initial = self.chance(p.first_initial_rate, "name.first_initial", record)
        middle_initial = self.chance(p.middle_initial_rate, "name.middle_initial", record)
        names = self._names(rows, entity, first_initial=first_initial, middle_initial=middle_initial)
        street, unit, city, state, zip_code, city_index = self._address(rows, entity)
        if p.case_rate:
            shouty = self.chance(p.case_rate, "case", record)
            how = self.draws.bits("case.how", record)
            names = {k: vary.recase(v, shouty, how) for k, v in names.items()}
            street, unit, city = (vary.recase(v, shouty, how) for v in (street, unit, city))
        swap = self.chance(p.swap_names_rate, "name.swap", record)
        employer = company(self.draws, entity)
        employed = self.population.has_company(entity)
        email, work_email = self._emails(rows, entity, employer.domain, employed)
        return Rendered(
            record=record, kind=rows.kind, updated_at=rows.updated_at,
            first=pc.if_else(pa.array(swap), names["last"], names["first"]),
            first_is_initial=first_initial & ~swap,
            middle=names["middle"],
            middle_is_initial=middle_initial,
            last=pc.if_else(pa.array(swap), names["first"], names["last"]),
            suffix=names["suffix"],
            email=email, work_email=work_email, phone=self._phone(rows, entity, city_index),
            street=street, unit=unit, city=city, state=state, zip=zip_code,
            birth_date=self._birth_date(record, entity),
            company=self.missing(pc.if_else(pa.array(employed), employer.name, pa.nulls(len(record), pa.string())),
                                 "company", record),
            opt_out=self.chance(p.opt_out_rate, "consent", record) ^ (rows.epochs.consent > 0),
        )

    def _names(self, rows: Rows, entity: I64, *, first_initial: Mask, middle_initial: Mask) -> dict[str, pa.Array]:
        record, p = rows.record, self.profile
        person = self.population.names(entity, surname_epoch=rows.epochs.surname)
        first = person.first
        if p.nickname_rate:
            chosen = self.chance(p.nickname_rate, "name.nickname", record) & vary.has_nickname(first)
            first = vary.edit_some(first, chosen, vary.nickname, self.draws.bits("name.nickname.which", record))
        first = pc.if_else(pa.array(first_initial), pc.utf8_slice_codeunits(first, 0, 1), first)
        middle = pc.if_else(pa.array(middle_initial), pc.utf8_slice_codeunits(person.middle, 0, 1), person.middle)
        dropped = self.chance(p.suffix_drop_rate, "name.suffix_drop", record)
        return {
            "first": self.typos(first, "first", record),
            "middle": self.missing(self.typos(middle, "middle", record), "middle", record),
            "last": self.typos(person.last, "last", record),
            "suffix": pc.if_else(pa.array(dropped), pa.nulls(len(record), pa.string()), person.suffix),
        }

    def _address(self, rows: Rows, entity: I64) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array, pa.Array, I64]:
        """Street line, unit, city, state, ZIP, and the city's index (for a new phone's area code)."""
        record, p, draws = rows.record, self.profile, self.draws
        epoch = rows.epochs.address
        home = self.population.households.head[entity]
        a = address(draws, np.where(epoch > 0, entity, home), epoch)
        short = self.chance(p.address_abbreviation_rate, "address.abbreviate", record)
        abbreviated = pa.array(short)
        street_name = self.typos(pc.take(_STREET_NAMES, pa.array(a.street)), "street", record)
        street = vary.join_present(pc.cast(pa.array(a.number), pa.string()), _DIRECTIONS.pick(a.direction, abbreviated),
                                   street_name, _STREET_TYPES.pick(a.street_type, abbreviated))
        hash_sign = short & draws.below(_HASH_SIGN_SHARE, "address.hash_sign", record)
        designator = pc.if_else(pa.array(hash_sign), pa.scalar("#"), _UNIT_TYPES.pick(a.unit_type, abbreviated))
        unit = pc.binary_join_element_wise(designator, a.unit, " ")
        city_index = pa.array(a.city)
        city = self.typos(pc.take(_CITY_NAMES, city_index), "city", record)
        code = pc.take(_CITY_STATES, city_index)
        spelled = self.chance(p.region_variant_rate, "address.state_spelled", record)
        state = pc.if_else(pa.array(spelled), pc.take(_STATE_NAMES, pc.index_in(code, _STATE_CODES)), code)
        plus4 = pc.binary_join_element_wise(
            a.zip5, pc.utf8_lpad(pc.cast(pa.array(draws.integers(10_000, "address.zip4", record)), pa.string()), 4, "0"),
            "-")
        zip_code = pc.if_else(pa.array(self.chance(p.zip4_rate, "address.zip4_used", record)), plus4, a.zip5)
        return (self.missing(street, "street", record), unit, city, state, self.missing(zip_code, "zip", record),
                a.city)

    def _phone(self, rows: Rows, entity: I64, current_city: I64) -> pa.Array:
        """The household's or the person's own number; a new number gets the current city's area code."""
        hh = self.population.households
        head = hh.head[entity]
        epoch = rows.epochs.phone
        shared = (hh.role[entity] != ROLE_HEAD) & self.chance(self.profile.shared_phone_rate, "phone.shared", entity)
        key = np.where((epoch == 0) & shared, head, entity)
        city = np.where(epoch > 0, current_city, home_city(self.draws, head, 0))
        return self.missing(phone_digits(self.draws, city, key, epoch), "phone", rows.record)

    def _emails(self, rows: Rows, entity: I64, employer_domain: pa.Array,
                employed: Mask) -> tuple[pa.Array, pa.Array]:
        """Personal email (the head's where shared, a new one after an email change) and billing's choice."""
        record, p = rows.record, self.profile
        hh = self.population.households
        epoch = rows.epochs.email
        shared = (hh.role[entity] != ROLE_HEAD) & self.chance(p.shared_email_rate, "email.shared", entity)
        owner = np.where((epoch == 0) & shared, hh.head[entity], entity)
        person = self.population.names(owner)
        email = personal_email(self.draws, person, owner, epoch)
        email = self.typos(email, "email", record)
        gmail = np.asarray(pc.ends_with(email, "@gmail.com").fill_null(False), dtype=bool)
        email = vary.edit_some(email, gmail & self.chance(p.gmail_dots_rate, "email.gmail_dots", record),
                               vary.moved_gmail_dots, self.draws.bits("email.gmail_dots.where", record))
        email = vary.edit_some(email, self.chance(p.email_noise_rate, "email.noise", record), vary.email_noise,
                               self.draws.bits("email.noise.how", record))
        own = self.population.names(entity)
        work = pc.binary_join_element_wise(
            pc.binary_join_element_wise(email_handle(own.first), email_handle(own.last), "."), employer_domain, "@")
        uses_work = employed & self.chance(_WORK_EMAIL_SHARE, "email.work", entity)
        work = pc.if_else(pa.array(uses_work), work, email)
        return self.missing(email, "email", record), self.missing(work, "email", record)

    def _birth_date(self, record: I64, entity: I64) -> pa.Array:
        days = self.population.dob[entity].astype("datetime64[D]")
        month_start = days.astype("datetime64[M]")
        day = (days - month_start).astype(np.int64) + 1
        month = month_start.astype(np.int64) % 12 + 1
        year_start = days.astype("datetime64[Y]").astype("datetime64[M]")
        swap = self.chance(self.profile.dob_swap_rate, "dob.swap", record) & (day <= 12) & (day != month)
        swapped = (year_start + (day - 1)).astype("datetime64[D]") + (month - 1)
        chosen = np.where(swap, swapped, days)
        return self.missing(pa.array(chosen.astype(np.int32), pa.date32()), "dob", record)
