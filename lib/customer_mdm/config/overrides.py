"""Manual decisions (``conf/overrides.yaml``): force-link, force-split and pinned golden values.

They are read on every run and win over every automatic decision, so they
survive re-runs, replays and full re-resolution without being stored twice.
Records are named ``<source_system>:<source_record_id>``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from customer_mdm.config.reader import Issues, Section, load_yaml


@dataclass(frozen=True)
class RecordRef:
    source_system: str
    source_record_id: str

    def __str__(self) -> str:
        return f"{self.source_system}:{self.source_record_id}"


@dataclass(frozen=True)
class ManualPair:
    left: RecordRef
    right: RecordRef
    reason: str


@dataclass(frozen=True)
class Pin:
    entity_id: str
    attribute: str
    value: str
    reason: str


@dataclass(frozen=True)
class Overrides:
    file: Path | None
    force_link: tuple[ManualPair, ...] = ()
    force_split: tuple[ManualPair, ...] = ()
    pins: tuple[Pin, ...] = ()
    review_decisions: Path | None = None  # CSV: left,right,decision(accept|reject),reviewer,note


def _record(s: Section, key: str) -> RecordRef | None:
    value = s.string(key)
    if value is None:
        return None
    system, sep, record = value.partition(":")
    if not sep or not system or not record:
        s.problem(key, "a record as '<source_system>:<source_record_id>'", value)
        return None
    return RecordRef(system, record)


def _pairs(s: Section, key: str) -> tuple[ManualPair, ...]:
    out = []
    for item in s.sections(key):
        item.allow_only(["left", "right", "reason"])
        left, right, reason = _record(item, "left"), _record(item, "right"), item.string("reason", "")
        if left is not None and right is not None:
            if left == right:
                item.problem("right", "a record other than 'left'", str(right))
            out.append(ManualPair(left, right, reason))
    return tuple(out)


def load_overrides(path: str | Path, *, attributes: Sequence[str], project_root: Path) -> Overrides:
    """Loads and checks the overrides file (absent file: no overrides); raises ConfigError listing every issue."""
    file = Path(path).resolve()
    if not file.exists():
        return Overrides(file=None)
    issues = Issues()
    data = load_yaml(file, issues)
    issues.raise_if_any()
    top = Section(data or {}, file=str(file), prefix="", issues=issues)
    top.allow_only(["force_link", "force_split", "pin", "review_decisions"])
    links, splits = _pairs(top, "force_link"), _pairs(top, "force_split")
    for conflict in {(p.left, p.right) for p in links} & {(p.left, p.right) for p in splits}:
        top.problem("force_split", "no pair that force_link also names", f"{conflict[0]} / {conflict[1]}")
    pins = []
    for item in top.sections("pin"):
        item.allow_only(["entity_id", "attribute", "value", "reason"])
        entity, attribute = item.string("entity_id"), item.choice("attribute", attributes)
        value, reason = item.string("value"), item.string("reason", "")
        if entity is not None and attribute is not None and value is not None:
            pins.append(Pin(entity, attribute, value, reason))
    decisions = top.string("review_decisions", None)
    issues.raise_if_any()
    decisions_path = None if decisions is None else (Path(decisions) if Path(decisions).is_absolute()
                                                      else project_root / decisions)
    return Overrides(file=file, force_link=links, force_split=splits, pins=tuple(pins),
                     review_decisions=decisions_path)
