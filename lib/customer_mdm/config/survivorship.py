"""Typed golden-record survivorship rules (``conf/survivorship.yaml``).

Per golden attribute, an ordered list of strategies decides which member
record's value survives; the first strategy that separates the candidates
wins, and the smallest (source_system, source_record_id) breaks any tie left.
A manual pin always comes before every strategy and is not configured here.
Layout::

    default: [source_priority, verified, most_recent, most_complete, most_frequent]
    attributes:                 # optional: per-attribute orders replacing the default
      email: [verified, most_recent, source_priority]

Every mistake in the file is collected and raised once as a ConfigError
naming the file, the key and what was expected.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast, get_args

from customer_mdm.config.reader import Issues, Section, load_yaml

log = logging.getLogger(__name__)

Strategy = Literal["source_priority", "verified", "most_recent", "most_complete", "most_frequent"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
#: The issue's order: source priority > verified > most recent > most complete > most frequent.
DEFAULT_ORDER: tuple[Strategy, ...] = STRATEGIES

#: What survivorship decides one at a time; ``address`` is its parts chosen together from one record.
Attribute = Literal["full_name", "first_name", "middle_name", "last_name", "name_suffix", "email", "phone_e164",
                    "address", "date_of_birth", "company"]
SURVIVORSHIP_ATTRIBUTES: tuple[Attribute, ...] = get_args(Attribute)


@dataclass(frozen=True)
class SurvivorshipConfig:
    """Strategy orders; an attribute not listed in ``attributes`` uses ``default``."""

    default: tuple[Strategy, ...] = DEFAULT_ORDER
    attributes: Mapping[Attribute, tuple[Strategy, ...]] = field(default_factory=dict)

    def order(self, attribute: Attribute) -> tuple[Strategy, ...]:
        return self.attributes.get(attribute, self.default)


def load_survivorship(path: str | Path) -> SurvivorshipConfig:
    """Loads and validates a survivorship YAML; raises ConfigError listing every issue."""
    file = Path(path).resolve()
    issues = Issues()
    top = Section(load_yaml(file, issues) or {}, file=str(file), prefix="", issues=issues)
    top.allow_only(["default", "attributes"])
    default = _order(top, "default") if top.has("default") else DEFAULT_ORDER
    per_attribute = top.section("attributes")
    per_attribute.allow_only(SURVIVORSHIP_ATTRIBUTES)
    attributes = {cast(Attribute, name): _order(per_attribute, name)
                  for name in SURVIVORSHIP_ATTRIBUTES if per_attribute.has(name)}
    issues.raise_if_any()
    log.info("survivorship rules from %s: default %s, %d attribute(s) with their own order",
             file, " > ".join(default), len(attributes))
    return SurvivorshipConfig(default=default, attributes=attributes)


def _order(s: Section, name: str) -> tuple[Strategy, ...]:
    raw = s.data.get(name)
    expected = f"a non-empty list of strategies from {list(STRATEGIES)}"
    if not isinstance(raw, list) or not raw:
        s.problem(name, expected, raw, found="nothing" if raw is None else None)
        return DEFAULT_ORDER
    order: list[Strategy] = []
    for i, strategy in enumerate(raw):
        if strategy not in STRATEGIES:
            s.problem(f"{name}[{i}]", f"one of {list(STRATEGIES)}", strategy)
        elif strategy in order:
            s.problem(f"{name}[{i}]", "each strategy at most once", strategy)
        else:
            order.append(strategy)
    return tuple(order)
