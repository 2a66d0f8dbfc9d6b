"""How messy generated sample data is: one rate per kind of variation real data has.

Every rate is a probability in [0, 1] applied independently per record (or
per entity / household where the description says so). Profiles load from a
mapping or a YAML file and take ``key=value`` overrides from the command
line; every bad key is reported at once, naming where it came from.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from customer_mdm.config.reader import Issues, Section, load_yaml


def _rate(default: float, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class NoiseProfile:
    """Rates of every variation the generator applies; defaults resemble a typical customer base."""

    # How many records each person has, where, and how they change over extracts.
    duplicate_rate: float = _rate(0.40, "share of people with more than one source record")
    max_records_per_entity: int = field(default=5, metadata={
        "doc": "most source records one person can have (an integer >= 1)"})
    same_source_duplicate_rate: float = _rate(
        0.25, "chance an extra record of a person lands in a source already holding one of theirs "
              "(a within-source duplicate) rather than in another source")
    late_arrival_rate: float = _rate(0.10, "share of records first sent in a later extract (new customers)")
    update_rate: float = _rate(0.15, "per later extract, share of live records re-sent with a change "
                                     "(moved address, new email or phone, married name, consent change)")
    delete_rate: float = _rate(0.03, "per later extract, share of live records sent as deleted/closed")
    # Hard negatives: different people who look alike.
    household_rate: float = _rate(0.15, "share of households with two to five members at one address")
    shared_email_rate: float = _rate(0.30, "chance a household member gives the head's email address")
    shared_phone_rate: float = _rate(0.50, "chance a household member gives the head's phone number")
    twin_rate: float = _rate(0.10, "chance a child is the twin of the previous child (same birth date, "
                                   "other first name)")
    junior_rate: float = _rate(0.20, "chance a household's first child is a namesake (Jr, parent Sr)")
    suffix_drop_rate: float = _rate(0.40, "chance a record leaves out a person's Jr/Sr suffix")
    # Names.
    typo_rate: float = _rate(0.03, "per text field (first, middle, last name, street, city, email), chance of "
                                   "one keyboard typo: an inserted, deleted, substituted or transposed character")
    nickname_rate: float = _rate(0.10, "chance a first name that has nicknames is written as one "
                                       "(nicknames package: Robert -> Bob)")
    first_initial_rate: float = _rate(0.03, "chance a first name is written as its initial")
    middle_initial_rate: float = _rate(0.50, "chance a middle name is written as its initial")
    swap_names_rate: float = _rate(0.01, "chance first and last name are entered in each other's place")
    last_first_rate: float = _rate(0.30, "chance a full name is written 'Last, First' (e-commerce, billing)")
    case_rate: float = _rate(0.05, "chance a record's names and address are written all upper or all lower case")
    account_name_upper_rate: float = _rate(0.70, "chance a billing account name is upper case")
    account_suffix_rate: float = _rate(0.10, "chance a billing account name carries an account tag "
                                             "('- PERSONAL', '(PRIMARY)', ...)")
    # Contact details.
    phone_format_rate: float = _rate(0.30, "chance a phone number is written in another format than the "
                                           "source's own: (555) 123-4567, 555.123.4567, +1 555 123 4567, "
                                           "5551234567, 555-123-4567")
    email_noise_rate: float = _rate(0.05, "chance an email address has case noise or stray whitespace")
    gmail_dots_rate: float = _rate(0.20, "chance a gmail.com address has its local-part dots moved "
                                         "(the same mailbox for Gmail)")
    # Addresses.
    address_abbreviation_rate: float = _rate(0.50, "chance street type, direction and unit are abbreviated "
                                                   "(Street/St, North/N, Apartment/Apt/#)")
    region_variant_rate: float = _rate(0.03, "chance a state is spelled out or a country written another "
                                             "way (USA, United States)")
    zip4_rate: float = _rate(0.05, "chance a ZIP code is written as ZIP+4")
    # Other fields.
    missing_rate: float = _rate(0.05, "per optional field (middle name, email, phone, street, ZIP, birth date, "
                                      "company), chance it is left empty")
    dob_swap_rate: float = _rate(0.01, "chance a birth date has day and month swapped (where both are <= 12)")
    opt_out_rate: float = _rate(0.15, "share of records opted out of marketing email")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, origin: str = "noise profile") -> NoiseProfile:
        """A profile from defaults overridden by ``data``; raises ConfigError naming each bad key."""
        issues = Issues()
        profile = _read(Section(data, file=origin, prefix="", issues=issues), base=cls())
        issues.raise_if_any()
        return profile

    @classmethod
    def load(cls, path: str | Path) -> NoiseProfile:
        """A profile from a YAML mapping of rate names to values."""
        issues = Issues()
        data = load_yaml(Path(path), issues)
        issues.raise_if_any()
        return cls.from_mapping(data or {}, origin=str(path))

    def with_overrides(self, assignments: Iterable[str], *, origin: str = "--noise") -> NoiseProfile:
        """This profile with ``key=value`` assignments applied (values parsed as YAML scalars)."""
        issues = Issues()
        values: dict[str, Any] = {}
        for assignment in assignments:
            key, sep, raw = assignment.partition("=")
            if not sep or not key.strip():
                issues.add(origin, assignment, "key=value, e.g. typo_rate=0.1")
                continue
            try:
                values[key.strip()] = yaml.safe_load(raw)
            except yaml.YAMLError:
                issues.add(origin, key.strip(), "a number", raw)
        profile = _read(Section(values, file=origin, prefix="", issues=issues), base=self)
        issues.raise_if_any()
        return profile

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(name, default, meaning) of every setting, for help texts and documentation."""
        defaults = cls()
        return [(f.name, str(getattr(defaults, f.name)), f.metadata["doc"]) for f in fields(cls)]


def _read(section: Section, *, base: NoiseProfile) -> NoiseProfile:
    names = [f.name for f in fields(NoiseProfile)]
    section.allow_only(names)
    values: dict[str, Any] = {}
    for name in names:
        current = getattr(base, name)
        if isinstance(current, int):
            values[name] = section.integer(name, current, minimum=1)
        else:
            values[name] = section.number(name, current, minimum=0.0, maximum=1.0)
    if values["update_rate"] + values["delete_rate"] > 1:
        section.problem("update_rate", "update_rate + delete_rate <= 1",
                        values["update_rate"] + values["delete_rate"])
    return replace(base, **values)
