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
from customer_mdm.gold.scoring import PAIR_KEYS

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
    cols = [table.column(c).to_pylist() for c in PAIR_KEYS]
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


def edges_in_force(log: pa.Table, *, before: int) -> pa.Table:
    """The edge log's rows that are each pair's latest event before hop-2 increment ``before`` and an 'add':
    the edge set then, one row a pair, in Arrow (a million edges never become Python objects)."""
    earlier = log.filter(pc.less(log.column("increment"), before))
    latest = earlier.group_by(list(PAIR_KEYS)).aggregate([("increment", "max")]) \
        .rename_columns([*PAIR_KEYS, "increment"])  # append-only, one event per pair and increment
    return earlier.join(latest, [*PAIR_KEYS, "increment"], join_type="inner").filter(
        pc.equal(pc.field("action"), "add"))


def active_edges(in_force: pa.Table) -> dict[Pair, ActiveEdge]:
    """``edges_in_force`` rows as Python objects, by pair."""
    return {pair: ActiveEdge(origin, probability, model_version) for pair, origin, probability, model_version in
            zip(pairs_column(in_force), in_force.column("origin").to_pylist(),
                in_force.column("match_probability").to_pylist(), in_force.column("model_version").to_pylist())}


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
