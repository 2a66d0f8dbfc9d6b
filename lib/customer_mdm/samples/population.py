"""The people behind the records: names, birth dates and households.

Entities are numbered 0..n-1 and grouped into households of consecutive
numbers; the first member is the head, whose address every member shares.
Names and birth dates are held for every entity (a few bytes each, so two
million people cost tens of megabytes); addresses, phones, emails and
companies are computed on demand from the entity number, so only the rows
being written are ever materialised as strings.

Households are where the hard negatives come from: partners and children
share an address and often a phone or email, juniors share their parent's
full name (Jr/Sr), twins share a birth date, surname and address.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import ArrayLike, NDArray

from customer_mdm.samples import reference as ref
from customer_mdm.samples.draws import F64, I64, Draws, Mask
from customer_mdm.samples.noise import NoiseProfile

ROLE_HEAD, ROLE_PARTNER, ROLE_CHILD = 0, 1, 2
SUFFIX_NONE, SUFFIX_JR, SUFFIX_SR = 0, 1, 2
SUFFIXES = pa.array(["", *ref.GENERATIONAL_SUFFIXES])

FIRST_NAMES = pa.array(ref.MALE_FIRST_NAMES + ref.FEMALE_FIRST_NAMES)
LAST_NAMES = pa.array(ref.LAST_NAMES)
_FEMALE_OFFSET = len(ref.MALE_FIRST_NAMES)

_PARTNER_SHARE = 0.6           # households of 2+ whose second member is a partner, not a child
_PARTNER_OPPOSITE_GENDER = 0.9
_PARTNER_SURNAME = (0.7, 0.2, 0.1)  # takes the head's, keeps own, hyphenates own-head
_HAS_MIDDLE_NAME = 0.75
_HAS_COMPANY = 0.30
_HOUSEHOLD_SIZES = (0.5, 0.3, 0.15, 0.05)  # of households with 2, 3, 4, 5 members
_APARTMENT_SHARE = 0.30
_DIRECTIONAL_SHARE = 0.15


def zipf_cumulative(count: int, *, offset: float, exponent: float) -> F64:
    """Running totals of (rank + offset) ** -exponent: the census rank-frequency curve.

    offset 3, exponent 0.75 fits the 2010 census surnames (rank 10 at ~43 % and
    rank 1000 at ~1.5 % of the most common name).
    """
    return np.cumsum((np.arange(1, count + 1) + offset) ** -exponent)


_MALE_CDF = zipf_cumulative(len(ref.MALE_FIRST_NAMES), offset=6, exponent=1.0)
_FEMALE_CDF = zipf_cumulative(len(ref.FEMALE_FIRST_NAMES), offset=6, exponent=1.0)
_LAST_CDF = zipf_cumulative(len(ref.LAST_NAMES), offset=3, exponent=0.75)


def _days(day: date) -> int:
    return (day - date(1970, 1, 1)).days


_BORN_FROM, _PARENT_BORN_TO, _BORN_TO = _days(date(1940, 1, 1)), _days(date(1968, 12, 31)), _days(date(2005, 12, 31))
_YEAR = 365


@dataclass(frozen=True)
class Households:
    """Per entity: household head, role, generational suffix and whether it is the previous entity's twin."""

    head: I64
    role: NDArray[np.int8]
    suffix: NDArray[np.int8]
    twin: Mask
    has_child: Mask


def build_households(entities: int, profile: NoiseProfile, draws: Draws) -> Households:
    candidates = np.arange(entities)
    multi = draws.below(profile.household_rate, "household", candidates)
    extra = draws.weighted(np.cumsum(_HOUSEHOLD_SIZES), "household.size", candidates)
    sizes = np.where(multi, 2 + extra, 1)
    ends = np.cumsum(sizes)
    count = int(np.searchsorted(ends, entities)) + 1
    sizes = sizes[:count].copy()
    sizes[-1] -= ends[count - 1] - entities
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    head = np.repeat(starts, sizes)
    size = np.repeat(sizes, sizes)
    position = np.arange(entities) - head
    has_partner = (size >= 2) & draws.below(_PARTNER_SHARE, "household.partner", head)
    first_child = 1 + has_partner.astype(np.int64)
    role = np.select([position == 0, (position == 1) & has_partner], [ROLE_HEAD, ROLE_PARTNER],
                     ROLE_CHILD).astype(np.int8)
    junior = (role == ROLE_CHILD) & (position == first_child) & draws.below(
        profile.junior_rate, "household.junior", head)
    suffix = np.zeros(entities, dtype=np.int8)
    suffix[head[junior]] = SUFFIX_SR
    suffix[junior] = SUFFIX_JR
    twin = (role == ROLE_CHILD) & (position > first_child) & draws.below(
        profile.twin_rate, "household.twin", np.arange(entities))
    return Households(head=head, role=role, suffix=suffix, twin=twin, has_child=size > first_child)


@dataclass(frozen=True)
class Person:
    """Name parts of a set of entities as Arrow strings (middle, suffix null where absent)."""

    first: pa.Array
    middle: pa.Array
    last: pa.Array
    suffix: pa.Array


class Population:
    """Everyone the sample is about; see the module docstring for what is held and what is computed."""

    def __init__(self, entities: int, profile: NoiseProfile, draws: Draws):
        self.draws = draws
        self.households = hh = build_households(entities, profile, draws)
        ids = np.arange(entities)
        head = hh.head
        base_gender = draws.integers(2, "gender", ids)
        partner = hh.role == ROLE_PARTNER
        opposite = draws.below(_PARTNER_OPPOSITE_GENDER, "gender.partner", ids)
        junior = hh.suffix == SUFFIX_JR
        gender = np.where(partner & opposite, 1 - base_gender[head], base_gender)
        gender = np.where(junior, gender[head], gender)
        self.gender = gender.astype(np.int8)
        self.first = self._given_names("first", ids)
        self.middle = np.where(draws.below(_HAS_MIDDLE_NAME, "middle.has", ids), self._given_names("middle", ids), -1)
        self.middle = np.where(self.middle == self.first, self._shift_name(self.middle), self.middle)
        self.first = np.where(junior, self.first[head], self.first)
        self.middle = np.where(junior, self.middle[head], self.middle)
        twins = np.flatnonzero(hh.twin)
        same = self.first[twins] == self.first[twins - 1]
        self.first[twins[same]] = self._shift_name(self.first[twins[same]])

        own = draws.weighted(_LAST_CDF, "last", ids)
        surname_choice = draws.weighted(np.cumsum(_PARTNER_SURNAME), "last.partner", ids)
        keeps_own = partner & (surname_choice == 1)
        hyphenates = partner & (surname_choice == 2)
        self.last = np.where((hh.role == ROLE_HEAD) | keeps_own | hyphenates, own, own[head])
        self.last_second = np.where(hyphenates, own[head], -1)
        self.dob = self._birth_dates(ids)

    def _given_names(self, purpose: str, ids: I64) -> I64:
        male = self.draws.weighted(_MALE_CDF, f"{purpose}.male", ids)
        female = _FEMALE_OFFSET + self.draws.weighted(_FEMALE_CDF, f"{purpose}.female", ids)
        return np.where(self.gender == 0, male, female)

    @staticmethod
    def _shift_name(index: I64) -> I64:
        """The next name of the same gender list (a different first name for a twin)."""
        male = index < _FEMALE_OFFSET
        count = np.where(male, _FEMALE_OFFSET, len(FIRST_NAMES) - _FEMALE_OFFSET)
        start = np.where(male, 0, _FEMALE_OFFSET)
        return np.where(index < 0, index, start + (index - start + 1) % count)

    def _birth_dates(self, ids: I64) -> NDArray[np.int32]:
        hh = self.households
        head = hh.head
        latest = np.where(hh.has_child[head], _PARENT_BORN_TO, _BORN_TO)
        head_dob = _BORN_FROM + self.draws.integers(latest - _BORN_FROM, "dob.head", head)
        partner_dob = np.minimum(head_dob + self.draws.integers(12 * _YEAR, "dob.partner", ids) - 6 * _YEAR,
                                 _BORN_TO)
        child_dob = np.minimum(head_dob + 22 * _YEAR + self.draws.integers(18 * _YEAR, "dob.child", ids), _BORN_TO)
        dob = np.select([hh.role == ROLE_HEAD, hh.role == ROLE_PARTNER], [head_dob, partner_dob], child_dob)
        twins = np.flatnonzero(hh.twin)
        dob[twins] = dob[twins - 1]
        return dob.astype(np.int32)

    def names(self, ids: I64, *, surname_epoch: ArrayLike = 0) -> Person:
        """Name parts; where ``surname_epoch`` > 0 the surname is the one taken then (marriage)."""
        epoch = np.asarray(surname_epoch)
        married = self.draws.weighted(_LAST_CDF, "last.married", ids, epoch)
        last = pc.take(LAST_NAMES, pa.array(np.where(epoch > 0, married, self.last[ids])))
        second = np.where(epoch > 0, -1, self.last_second[ids])
        hyphenated = pc.binary_join_element_wise(last, pc.take(LAST_NAMES, pa.array(np.maximum(second, 0))), "-")
        middle = self.middle[ids]
        suffix = self.households.suffix[ids]
        return Person(
            first=pc.take(FIRST_NAMES, pa.array(self.first[ids])),
            middle=pc.take(FIRST_NAMES, pa.array(np.maximum(middle, 0), mask=middle < 0)),
            last=pc.if_else(pa.array(second >= 0), hyphenated, last),
            suffix=pc.take(SUFFIXES, pa.array(suffix, mask=suffix == SUFFIX_NONE)),
        )

    def has_company(self, ids: I64) -> Mask:
        return self.draws.below(_HAS_COMPANY, "company.has", ids)


@dataclass(frozen=True)
class Address:
    """Components of postal addresses, as indexes into the reference tables."""

    number: I64
    direction: I64      # -1: none
    street: I64
    street_type: I64
    unit_type: I64      # -1: no unit
    unit: pa.Array      # "4B", "12", null
    city: I64
    zip5: pa.Array


_CITY_CDF = np.cumsum([c.population_k for c in ref.CITIES], dtype=np.float64)
_STREET_TYPE_CDF = np.cumsum([t.weight for t in ref.STREET_TYPES], dtype=np.float64)
_UNIT_TYPE_CDF = np.cumsum([t.weight for t in ref.UNIT_TYPES], dtype=np.float64)
_UNIT_LETTERS = pa.array(list("ABCDEF"))


class _PerCity:
    """A few options per city (ZIP prefixes, area codes), one drawn per row."""

    def __init__(self, options: list[tuple[str, ...]]):
        self.flat = pa.array([o for group in options for o in group])
        self.counts = np.array([len(g) for g in options])
        self.offsets = np.cumsum(self.counts) - self.counts

    def pick(self, city: I64, draws: Draws, purpose: str, *keys: ArrayLike) -> pa.Array:
        return pc.take(self.flat, pa.array(self.offsets[city] + draws.integers(self.counts[city], purpose, *keys)))


_ZIP3 = _PerCity([c.zip3 for c in ref.CITIES])
_AREA_CODES = _PerCity([c.area_codes for c in ref.CITIES])


def _digits(values: I64, width: int) -> pa.Array:
    return pc.utf8_lpad(pc.cast(pa.array(values), pa.string()), width, "0")


def home_city(draws: Draws, key: I64, epoch: ArrayLike) -> I64:
    """The city of ``address(draws, key, epoch)`` without the rest of it."""
    return draws.weighted(_CITY_CDF, "address.city", key, epoch)


def address(draws: Draws, key: I64, epoch: ArrayLike) -> Address:
    """The address keyed by (key, epoch): a household head's home at epoch 0, a move after."""
    city = home_city(draws, key, epoch)
    zip3 = _ZIP3.pick(city, draws, "address.zip3", key, epoch)
    has_unit = draws.below(_APARTMENT_SHARE, "address.has_unit", key, epoch)
    unit_style = draws.integers(2, "address.unit_style", key, epoch)
    floor = 1 + draws.integers(20, "address.floor", key, epoch)
    letter = pc.take(_UNIT_LETTERS, pa.array(draws.integers(6, "address.letter", key, epoch)))
    unit = pc.if_else(pa.array(unit_style == 0),
                      pc.binary_join_element_wise(pc.cast(pa.array(floor), pa.string()), letter, ""),
                      pc.cast(pa.array(1 + draws.integers(450, "address.unit", key, epoch)), pa.string()))
    return Address(
        number=np.floor(10 ** (0.5 + 3.5 * draws.uniform("address.number", key, epoch))).astype(np.int64),
        direction=np.where(draws.below(_DIRECTIONAL_SHARE, "address.has_direction", key, epoch),
                           draws.integers(len(ref.DIRECTIONS), "address.direction", key, epoch), -1),
        street=draws.integers(len(ref.STREET_NAMES), "address.street", key, epoch),
        street_type=draws.weighted(_STREET_TYPE_CDF, "address.street_type", key, epoch),
        unit_type=np.where(has_unit, draws.weighted(_UNIT_TYPE_CDF, "address.unit_type", key, epoch), -1),
        unit=pc.if_else(pa.array(has_unit), unit, pa.nulls(len(key), pa.string())),
        city=city,
        zip5=pc.binary_join_element_wise(zip3, _digits(draws.integers(100, "address.zip", key, epoch), 2), ""),
    )


def phone_digits(draws: Draws, city: I64, key: I64, epoch: ArrayLike) -> pa.Array:
    """Ten-digit NANP numbers with an area code of ``city`` (random, not checked as unassigned)."""
    area = _AREA_CODES.pick(city, draws, "phone.area", key, epoch)
    exchange = 200 + draws.integers(800, "phone.exchange", key, epoch)
    exchange = np.where(exchange % 100 == 11, exchange + 1, exchange)  # N11 codes are service numbers
    line = draws.integers(10_000, "phone.line", key, epoch)
    return pc.binary_join_element_wise(area, _digits(exchange, 3), _digits(line, 4), "")


_EMAIL_DOMAINS = pa.array([d for d, _ in ref.PERSONAL_EMAIL_DOMAINS])
_EMAIL_DOMAIN_CDF = np.cumsum([w for _, w in ref.PERSONAL_EMAIL_DOMAINS], dtype=np.float64)


def email_handle(text: pa.Array) -> pa.Array:
    """Lower-case ASCII letters and digits only: what a name becomes inside an email address."""
    distinct = pc.unique(text)   # names repeat a lot: clean each once
    folded = pc.replace_substring_regex(pc.utf8_normalize(distinct, form="NFKD"), pattern=r"\p{M}", replacement="")
    clean = pc.replace_substring_regex(pc.utf8_lower(folded), pattern="[^a-z0-9]", replacement="")
    return pc.take(clean, pc.index_in(text, distinct))


def personal_email(draws: Draws, person: Person, key: I64, epoch: ArrayLike) -> pa.Array:
    """An address built from the owner's name, always with a number so two people rarely collide."""
    first, last = email_handle(person.first), email_handle(person.last)
    initial = pc.utf8_slice_codeunits(first, 0, 1)
    number = pc.cast(pa.array(1 + draws.integers(99_999, "email.number", key, epoch)), pa.string())
    pattern = draws.integers(5, "email.pattern", key, epoch)
    local = pc.case_when(
        pc.make_struct(*(pa.array(pattern == i) for i in range(4))),
        pc.binary_join_element_wise(first, ".", last, number, ""),
        pc.binary_join_element_wise(first, last, number, ""),
        pc.binary_join_element_wise(initial, last, number, ""),
        pc.binary_join_element_wise(first, "_", last, number, ""),
        pc.binary_join_element_wise(last, ".", first, number, ""),
    )
    domain = pc.take(_EMAIL_DOMAINS, pa.array(draws.weighted(_EMAIL_DOMAIN_CDF, "email.domain", key, epoch)))
    return pc.binary_join_element_wise(local, domain, "@")


_COMPANY_WORDS = pa.array(ref.COMPANY_WORDS)
_COMPANY_TRADES = pa.array(ref.COMPANY_TRADES)
_COMPANY_FORMS = pa.array(ref.COMPANY_FORMS)


@dataclass(frozen=True)
class Company:
    name: pa.Array
    domain: pa.Array


def company(draws: Draws, key: I64) -> Company:
    word = pc.take(_COMPANY_WORDS, pa.array(draws.integers(len(ref.COMPANY_WORDS), "company.word", key)))
    trade = pc.take(_COMPANY_TRADES, pa.array(draws.integers(len(ref.COMPANY_TRADES), "company.trade", key)))
    form = pc.take(_COMPANY_FORMS, pa.array(draws.integers(len(ref.COMPANY_FORMS), "company.form", key)))
    return Company(name=pc.binary_join_element_wise(word, " ", trade, form, ""),
                   domain=pc.binary_join_element_wise(email_handle(word), email_handle(trade), ".com", ""))
