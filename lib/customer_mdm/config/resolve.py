"""Everything hop 2 needs, loaded and checked together before any write.

``conf/matching.yaml`` (blocking, comparisons, model, thresholds, cluster
size), ``conf/survivorship.yaml``, ``conf/overrides.yaml`` and the review
decisions file it names. A mistake in any of them is reported with its file,
key (or line) and what was expected, all at once.
"""
from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from customer_mdm.config import PipelineConfig
from customer_mdm.config.matching import MatchingConfig, load_matching
from customer_mdm.config.overrides import Overrides, RecordRef, load_overrides
from customer_mdm.config.reader import Issues
from customer_mdm.config.survivorship import SurvivorshipConfig, load_survivorship
from customer_mdm.errors import ConfigError, ConfigIssue
from customer_mdm.gold.survivorship import GOLDEN_ATTRIBUTES

DECISION_COLUMNS = ("left", "right", "decision", "reviewer", "note")


@dataclass(frozen=True)
class ReviewDecision:
    left: RecordRef
    right: RecordRef
    decision: Literal["accept", "reject"]
    reviewer: str
    note: str


@dataclass(frozen=True)
class ResolveSettings:
    matching: MatchingConfig
    survivorship: SurvivorshipConfig
    overrides: Overrides
    decisions: tuple[ReviewDecision, ...]
    source_priority: Mapping[str, int]


def _ref(value: str) -> RecordRef | None:
    system, sep, record = value.strip().partition(":")
    return RecordRef(system, record) if sep and system and record else None


def load_review_decisions(path: Path) -> tuple[ReviewDecision, ...]:
    """Decisions a person made on review items; every bad line is reported with its number."""
    if not path.exists():
        raise ConfigError([ConfigIssue(str(path), "(file)", "a CSV of review decisions", "no such file")])
    issues = Issues()
    out: list[ReviewDecision] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in DECISION_COLUMNS[:3] if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError([ConfigIssue(str(path), "(header)", f"columns {list(DECISION_COLUMNS)}",
                                           f"{reader.fieldnames} (missing {missing})")])
        for line, row in enumerate(reader, start=2):
            left, right = _ref(row.get("left") or ""), _ref(row.get("right") or "")
            decision = (row.get("decision") or "").strip().lower()
            for column, ref in (("left", left), ("right", right)):
                if ref is None:
                    issues.add(str(path), f"line {line}.{column}", "a record as '<source_system>:<source_record_id>'",
                               row.get(column))
            if decision not in ("accept", "reject"):
                issues.add(str(path), f"line {line}.decision", "accept or reject", row.get("decision"))
            if left is not None and right is not None and decision in ("accept", "reject"):
                out.append(ReviewDecision(left, right, "accept" if decision == "accept" else "reject",
                                          (row.get("reviewer") or "").strip(), (row.get("note") or "").strip()))
    issues.raise_if_any()
    return tuple(out)


def load_resolve_settings(config: PipelineConfig) -> ResolveSettings:
    conf = config.conf_dir
    found: list[ConfigIssue] = []
    loaded: dict[str, object] = {}
    loaders = {
        "matching": lambda: load_matching(conf / "matching.yaml", project_root=config.project_root),
        "survivorship": lambda: (load_survivorship(conf / "survivorship.yaml")
                                 if (conf / "survivorship.yaml").exists() else SurvivorshipConfig()),
        "overrides": lambda: load_overrides(conf / "overrides.yaml", attributes=GOLDEN_ATTRIBUTES,
                                            project_root=config.project_root),
    }
    for name, load in loaders.items():
        try:
            loaded[name] = load()
        except ConfigError as exc:
            found.extend(exc.issues)
    overrides = loaded.get("overrides")
    decisions: tuple[ReviewDecision, ...] = ()
    if isinstance(overrides, Overrides) and overrides.review_decisions is not None:
        try:
            decisions = load_review_decisions(overrides.review_decisions)
        except ConfigError as exc:
            found.extend(exc.issues)
    if found:
        raise ConfigError(found)
    matching, survivorship = loaded["matching"], loaded["survivorship"]
    assert isinstance(matching, MatchingConfig) and isinstance(survivorship, SurvivorshipConfig)
    assert isinstance(overrides, Overrides)
    return ResolveSettings(matching=matching, survivorship=survivorship, overrides=overrides, decisions=decisions,
                           source_priority={s.name: s.priority for s in config.sources})
