"""Manual decisions (``conf/overrides.yaml`` and the table gold.manual_overrides): force-link, force-split
and pinned golden values.

They are read on every run and win over every automatic decision, so they
survive re-runs, replays and full re-resolution without being stored twice.
Records are named ``<source_system>:<source_record_id>``. The table is an
append-only log a data steward (jobs/override.py, or a UI) writes; the YAML
file is for decisions kept with the configuration.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

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
    unpinned: tuple[Pin, ...] = ()  # pins the table revoked: survivorship decides their values again
    unlinked: tuple[ManualPair, ...] = ()  # links and splits the table revoked: their records are clustered again


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


#: What a row of the override table may say (gold.manual_overrides, see gold/tables.py).
TABLE_KINDS = ("force_link", "force_split", "pin")
TABLE_ACTIONS = ("add", "revoke")
_OPPOSITE = {"force_link": "force_split", "force_split": "force_link"}
_NO_TIME = dt.datetime.min.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class _Entry:
    """A good row: its number, when it was entered, what it does to which override."""

    row: int
    entered_at: dt.datetime
    action: str
    override: ManualPair | Pin


def _entered_at(row: Mapping[str, Any]) -> dt.datetime | None:
    """The row's time, in UTC (a time without a zone is taken as UTC); None if it has none."""
    at = row.get("entered_at")
    if not isinstance(at, dt.datetime):
        return None
    return at.astimezone(dt.timezone.utc) if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)


def _row_order(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """entered_at first, then the content: rows entered at the same time sort the same however they are read."""
    at = _entered_at(row)
    return (at is None, at or _NO_TIME, *(str(row.get(c) or "") for c in sorted(row) if c != "entered_at"))


def _iso_date(text: str) -> bool:
    """yyyy-mm-dd only: the form Spark's cast to a date reads as Python does."""
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _table_entry(s: Section, n: int, *, attributes: Sequence[str], dates: Collection[str]) -> _Entry | None:
    """Row ``n`` checked (its issues recorded); None if it is bad."""
    kind, action, reason = s.choice("kind", TABLE_KINDS), s.choice("action", TABLE_ACTIONS), s.string("reason", "")
    entered_at = _entered_at(s.data)
    if entered_at is None:
        s.problem("entered_at", "the time the row was entered", s.data.get("entered_at"),
                  found=None if s.data.get("entered_at") is not None else "nothing (the column is required)")
    override: ManualPair | Pin | None = None
    if kind == "pin":
        entity, attribute = s.string("entity_id"), s.choice("attribute", attributes)
        value = s.string("value") if action == "add" else None  # a revoke names no value
        if value is not None and attribute in dates and not _iso_date(value):
            s.problem("value", "a date as yyyy-mm-dd (the golden column is a date)", value)
        elif entity is not None and attribute is not None and (value is not None or action != "add"):
            override = Pin(entity, attribute, value or "", reason)
    elif kind is not None:
        left, right = _record(s, "left_record"), _record(s, "right_record")
        if left is not None and left == right:
            s.problem("right_record", "a record other than left_record", str(right))
        elif left is not None and right is not None:
            override = ManualPair(left, right, reason)
    if override is None or action is None or entered_at is None:
        return None
    return _Entry(n, entered_at, action, override)


def _key(kind: str, override: ManualPair | Pin) -> tuple[str, str, str]:
    """What a later row replaces: the unordered pair and kind, or the entity and attribute of a pin."""
    if isinstance(override, Pin):
        return kind, override.entity_id, override.attribute
    left, right = sorted((str(override.left), str(override.right)))
    return kind, left, right


def with_table_rows(overrides: Overrides, rows: Iterable[Mapping[str, Any]], *, table: str,
                    attributes: Sequence[str], dates: Collection[str] = ()) -> Overrides:
    """``overrides`` (conf/overrides.yaml) plus the entries the override table's rows put in effect.

    Rows are numbered from 1 in ``entered_at`` order (issues name them so). Per key (pair and kind, or entity
    and attribute) the latest row wins: ``add`` puts the override in effect (a later pin replaces the value),
    ``revoke`` ends it; a row never revokes a YAML entry. Every bad row is reported, and so are two rows of one
    key entered at the same time that disagree, a pair both force-linked and force-split, and a pin of what the
    YAML pins too (golden records would fail on it later, after writes): all in one ConfigError. Pins of an
    attribute in ``dates`` must be ISO dates, as the golden column casts them. Pure: the caller reads the table.
    """
    issues = Issues()
    latest: dict[tuple[str, str, str], _Entry] = {}
    for n, row in enumerate(sorted(rows, key=_row_order), start=1):
        blank_as_missing = {k: None if isinstance(v, str) and not v.strip() else v for k, v in row.items()}
        s = Section(blank_as_missing, file=table, prefix=f"row {n}", issues=issues)
        entry = _table_entry(s, n, attributes=attributes, dates=dates)
        if entry is None:
            continue
        key = _key(str(row["kind"]), entry.override)
        earlier = latest.get(key)
        if earlier is not None and earlier.entered_at == entry.entered_at \
                and (earlier.action, earlier.override) != (entry.action, entry.override):
            s.problem("entered_at", f"a time after that of row {earlier.row}, which sets the same override",
                      str(entry.entered_at))
        latest[key] = entry
    in_effect = {k: e for k, e in latest.items() if e.action == "add"}
    in_yaml = {_key(kind, o) for kind, entries in (("force_link", overrides.force_link),
                                                   ("force_split", overrides.force_split), ("pin", overrides.pins))
               for o in entries}
    where = f"{overrides.file} or an earlier row" if overrides.file else "an earlier row"
    for (kind, a, b), entry in in_effect.items():
        other = (_OPPOSITE.get(kind, kind), a, b)  # a pin clashes with a YAML pin of the same key
        if other not in in_yaml and not (other in in_effect and in_effect[other].row < entry.row):
            continue
        if kind == "pin":
            issues.add(table, f"row {entry.row}.attribute", f"no attribute {overrides.file} pins for the entity too",
                       found=f"a pin of {b} of entity {a}")
        else:
            issues.add(table, f"row {entry.row}.kind", f"no pair that a {other[0]} in effect ({where}) names too",
                       found=f"{kind} of {a} / {b}")
    issues.raise_if_any()
    entries = sorted(in_effect.items(), key=lambda item: item[1].row)
    pairs = {kind: tuple(e.override for (k, _, _), e in entries if k == kind and isinstance(e.override, ManualPair))
             for kind in _OPPOSITE}
    revoked = sorted((e for e in latest.values() if e.action == "revoke"), key=lambda e: e.row)
    return replace(overrides, force_link=overrides.force_link + pairs["force_link"],
                   force_split=overrides.force_split + pairs["force_split"],
                   pins=overrides.pins + tuple(e.override for _, e in entries if isinstance(e.override, Pin)),
                   unpinned=tuple(e.override for e in revoked if isinstance(e.override, Pin)),
                   unlinked=tuple(e.override for e in revoked if isinstance(e.override, ManualPair)))
