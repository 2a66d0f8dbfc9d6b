"""The edge set and the review queue as state: what an increment adds, retracts and asks a person.

Pairs are (left record key, right record key) with left < right. Model edges
of a record that changed are retracted unless its re-scoring decides
auto-merge again; edges a person accepted stay; a pair a person rejected
never holds an edge and never joins two records, whatever the model says.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from customer_mdm.gold.blocking import KEY_SEPARATOR

Pair = tuple[str, str]
Origin = Literal["model", "review"]
Status = Literal["open", "accepted", "rejected", "superseded"]


def rid(source_system: str, source_record_id: str) -> str:
    return f"{source_system}{KEY_SEPARATOR}{source_record_id}"


def split_rid(record: str) -> tuple[str, str]:
    system, _, record_id = record.partition(KEY_SEPARATOR)
    return system, record_id


def pair_of(a: str, b: str) -> Pair:
    return (a, b) if a < b else (b, a)


def pairs_column(table: pa.Table) -> list[Pair]:
    """The canonical pair of each row of a table with l_/r_ source_system and source_record_id columns."""
    cols = [table.column(c).to_pylist() for c in ("l_source_system", "l_source_record_id", "r_source_system",
                                                  "r_source_record_id")]
    return [pair_of(rid(a, b), rid(c, d)) for a, b, c, d in zip(*cols)]


@dataclass(frozen=True)
class ActiveEdge:
    origin: Origin
    probability: float
    model_version: str


@dataclass(frozen=True)
class EdgeEvent:
    pair: Pair
    action: Literal["add", "remove"]
    origin: Origin
    probability: float | None
    model_version: str | None


def active_edges(log: pa.Table, *, before: int) -> dict[Pair, ActiveEdge]:
    """Edges whose latest event before hop-2 increment ``before`` is 'add'."""
    earlier = log.filter(pc.less(log.column("increment"), before))
    rows = sorted(zip(earlier.column("increment").to_pylist(), pairs_column(earlier),
                      earlier.column("action").to_pylist(), earlier.column("origin").to_pylist(),
                      earlier.column("match_probability").to_pylist(), earlier.column("model_version").to_pylist()),
                  key=lambda row: row[0])  # append-only, one event per pair and increment: increment order is event order
    active: dict[Pair, ActiveEdge] = {}
    for _, pair, action, origin, probability, model_version in rows:
        if action == "add":
            active[pair] = ActiveEdge(origin, probability, model_version)
        else:
            active.pop(pair, None)
    return active


def edge_events(active: Mapping[Pair, ActiveEdge], *, matches: Mapping[Pair, float], model_version: str,
                rescored: Iterable[str], accepted: Iterable[Pair], rejected: Iterable[Pair]) -> list[EdgeEvent]:
    """Events that turn ``active`` into the edge set after this increment (sorted, so runs agree)."""
    changed, refused = set(rescored), set(rejected)
    events: list[EdgeEvent] = []
    for pair, edge in sorted(active.items()):
        stale = edge.origin == "model" and (pair[0] in changed or pair[1] in changed) and pair not in matches
        if stale or pair in refused:
            events.append(EdgeEvent(pair, "remove", edge.origin, None, None))
    for pair in sorted(set(accepted) - set(active) - refused):
        events.append(EdgeEvent(pair, "add", "review", None, None))
    for pair, probability in sorted(matches.items()):
        if pair not in active and pair not in refused:
            events.append(EdgeEvent(pair, "add", "model", probability, model_version))
    return events


def after_events(active: Mapping[Pair, ActiveEdge], events: Iterable[EdgeEvent]) -> dict[Pair, ActiveEdge]:
    out = dict(active)
    for e in events:
        if e.action == "remove":
            out.pop(e.pair, None)
        else:
            out[e.pair] = ActiveEdge(e.origin, e.probability if e.probability is not None else 1.0,
                                     e.model_version or "")
    return out
