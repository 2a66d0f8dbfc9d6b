"""Which source records exist, whose they are, and what each extract sends about them.

Only integers live here (a few bytes per record); strings are rendered per
chunk later. A record is one row id in one source system. It is sent first
in one extract (mostly the first) and each later extract may re-send it
changed or deleted. A change bumps the *epoch* of one attribute to the
extract that changed it, so every later row of the record carries the
changed value forward and a delete carries the last values.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone

import numpy as np
from numpy.typing import NDArray

from customer_mdm.samples.draws import I64, Draws
from customer_mdm.samples.noise import NoiseProfile

SOURCES: tuple[str, ...] = ("crm", "ecommerce", "billing")
_SOURCE_SHARE = np.cumsum([0.40, 0.35, 0.25])  # where a person's first record is kept

NEW, UPDATE, DELETE = 0, 1, 2
# What an update changes, and how often: (attribute epoch, share of updates).
CHANGES: tuple[tuple[str, float], ...] = (
    ("address", 0.35), ("email", 0.25), ("phone", 0.20), ("consent", 0.15), ("surname", 0.05))
_CHANGE_SHARE = np.cumsum([share for _, share in CHANGES])

HISTORY_START = int(datetime(2015, 1, 1, tzinfo=timezone.utc).timestamp())
FIRST_EXTRACT_AT = int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp())
EXTRACT_INTERVAL = 30 * 86_400


def extract_time(extract: int) -> int:
    """When extract ``extract`` (1-based) was cut; every row in it was last modified before then."""
    return FIRST_EXTRACT_AT + (extract - 1) * EXTRACT_INTERVAL


@dataclass(frozen=True)
class Epochs:
    """Per row, the extract that last changed each attribute (0: the original value)."""

    address: NDArray[np.int8]
    email: NDArray[np.int8]
    phone: NDArray[np.int8]
    consent: NDArray[np.int8]
    surname: NDArray[np.int8]

    def take(self, index: I64) -> Epochs:
        return Epochs(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


@dataclass(frozen=True)
class Rows:
    """Rows of one extract: which record, new/updated/deleted, when, and its attribute epochs."""

    extract: int
    record: I64
    kind: NDArray[np.int8]
    updated_at: I64
    epochs: Epochs

    def __len__(self) -> int:
        return len(self.record)

    def take(self, index: I64) -> Rows:
        return replace(self, record=self.record[index], kind=self.kind[index], updated_at=self.updated_at[index],
                       epochs=self.epochs.take(index))


@dataclass(frozen=True)
class Plan:
    """Every record (entity, source, id number) and every extract's rows."""

    entities: int
    entity: I64
    source: NDArray[np.int8]
    number: I64          # 1-based id number within the record's source; new records get higher numbers
    extracts: tuple[Rows, ...]

    @property
    def records(self) -> int:
        return len(self.entity)

    def file_rows(self, source: int, extract: int) -> Rows:
        """The rows of one source's extract, in id order as a source system exports them."""
        rows = self.extracts[extract - 1]
        mine = np.flatnonzero(self.source[rows.record] == source)
        return rows.take(mine[np.argsort(self.number[rows.record[mine]], kind="stable")])


def expected_rows_per_record(extracts: int, profile: NoiseProfile) -> float:
    """1 plus the expected updates and deletes a record gets over the later extracts."""
    if extracts == 1:
        return 1.0
    late = profile.late_arrival_rate
    first_share = [1 - late] + [late / (extracts - 1)] * (extracts - 1)
    events = 0.0
    for extract in range(2, extracts + 1):
        for first in range(1, extract):
            alive = (1 - profile.delete_rate) ** (extract - 1 - first)
            events += first_share[first - 1] * alive * (profile.update_rate + profile.delete_rate)
    return 1 + events


def make_plan(rows: int, extracts: int, profile: NoiseProfile, draws: Draws) -> Plan:
    """A plan whose extracts hold about ``rows`` rows in total."""
    distinct = max(1, round(rows / expected_rows_per_record(extracts, profile)))
    entity = _entities_of_records(distinct, profile, draws)
    record = np.arange(distinct)
    rank = record - np.searchsorted(entity, entity)   # 0 for a person's first record
    first_source = draws.weighted(_SOURCE_SHARE, "records.source", entity)
    same = draws.below(profile.same_source_duplicate_rate, "records.same_source", record)
    other = (first_source + 1 + draws.integers(len(SOURCES) - 1, "records.other_source", record)) % len(SOURCES)
    source = np.where((rank == 0) | same, first_source, other).astype(np.int8)
    late = draws.below(profile.late_arrival_rate, "records.late", record) & (extracts > 1)
    first = np.where(late, 2 + draws.integers(max(extracts - 1, 1), "records.first_extract", record), 1)
    return Plan(entities=int(entity[-1]) + 1, entity=entity, source=source,
                number=_numbers(source, first, draws), extracts=_extract_rows(first, extracts, profile, draws))


def _entities_of_records(records: int, profile: NoiseProfile, draws: Draws) -> I64:
    """The entity of each record: entities own 1..max records, consecutive, in entity order."""
    candidates = np.arange(records)
    counts = np.ones(records, dtype=np.int64)
    if profile.max_records_per_entity > 1:
        halving = np.cumsum(0.5 ** np.arange(profile.max_records_per_entity - 1))
        extra = draws.weighted(halving, "records.count", candidates)
        counts = np.where(draws.below(profile.duplicate_rate, "records.duplicated", candidates), 2 + extra, 1)
    ends = np.cumsum(counts)
    needed = int(np.searchsorted(ends, records)) + 1
    counts = counts[:needed].copy()
    counts[-1] -= ends[needed - 1] - records
    return np.repeat(np.arange(needed), counts)


def _numbers(source: NDArray[np.int8], first: I64, draws: Draws) -> I64:
    """Id numbers per source in order of first extract, shuffled within it so ids reveal no entity."""
    order = np.lexsort((draws.bits("records.order", np.arange(len(source))), first, source))
    start = np.searchsorted(source[order], np.arange(len(SOURCES)))
    number = np.empty(len(source), dtype=np.int64)
    number[order] = np.arange(len(source)) - start[source[order]] + 1
    return number


def _extract_rows(first: I64, extracts: int, profile: NoiseProfile, draws: Draws) -> tuple[Rows, ...]:
    record = np.arange(len(first))
    alive = np.ones(len(first), dtype=bool)
    epochs = {name: np.zeros(len(first), dtype=np.int8) for name, _ in CHANGES}
    out = []
    for extract in range(1, extracts + 1):
        new = first == extract
        active = alive & (first < extract)
        event = draws.uniform("records.event", record, extract)
        delete = active & (event < profile.delete_rate)
        update = active & ~delete & (event < profile.delete_rate + profile.update_rate)
        updated = np.flatnonzero(update)
        change = draws.weighted(_CHANGE_SHARE, "records.change", updated, extract)
        for index, (name, _) in enumerate(CHANGES):
            epochs[name][updated[change == index]] = extract
        alive &= ~delete
        chosen = np.flatnonzero(new | update | delete)
        kind = np.select([update[chosen], delete[chosen]], [UPDATE, DELETE], NEW).astype(np.int8)
        since = HISTORY_START if extract == 1 else extract_time(extract - 1)
        updated_at = since + draws.integers(extract_time(extract) - since, "records.updated_at", chosen, extract)
        out.append(Rows(extract=extract, record=chosen, kind=kind, updated_at=updated_at,
                        epochs=Epochs(**{name: values[chosen] for name, values in epochs.items()})))
    return tuple(out)
