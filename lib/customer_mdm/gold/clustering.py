"""Clusters of records: connected components of the match edges, under manual and size constraints.

Runs on the driver over record keys (a union-find with set merging by size),
which holds comfortably for the edge sets of a few million records; beyond,
``gold.components`` finds the components in Spark and ``cluster_within``
orders unions only where a constraint applies. The
result depends only on the inputs, never on their order: must-links first,
then model edges strongest first (ties by key). A union that would put two
records of a cannot-link pair together is refused; one that would grow a
component past ``max_size`` is refused and the edge goes to review instead.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TypeVar

Pair = tuple[str, str]
T = TypeVar("T")


@dataclass(frozen=True)
class Edge:
    left: str
    right: str
    probability: float


@dataclass(frozen=True)
class Clusters:
    """``component`` maps every record to the smallest record key of its component."""

    component: dict[str, str]
    oversized: tuple[Edge, ...]   # edges refused because the merged component would exceed max_size
    refused_links: tuple[Pair, ...]  # must-links refused by a cannot-link

    def members(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for record, root in self.component.items():
            groups.setdefault(root, []).append(record)
        for group in groups.values():
            group.sort()
        return groups


class _Components:
    def __init__(self, records: Iterable[str], cannot_link: Iterable[Pair]):
        self.root: dict[str, str] = {r: r for r in records}
        self.members: dict[str, set[str]] = {r: {r} for r in self.root}
        self.forbidden: dict[str, set[str]] = {}
        for a, b in cannot_link:
            if a in self.root and b in self.root:
                self.forbidden.setdefault(a, set()).add(b)
                self.forbidden.setdefault(b, set()).add(a)

    def find(self, record: str) -> str:
        return self.root[record]

    def conflict(self, a: str, b: str) -> bool:
        small, large = sorted((self.members[a], self.members[b]), key=len)
        return any(self.forbidden.get(r, set()) & large for r in small)

    def union(self, a: str, b: str) -> None:
        if len(self.members[a]) < len(self.members[b]):
            a, b = b, a
        for record in self.members[b]:
            self.root[record] = a
        self.members[a] |= self.members.pop(b)


def cluster(records: Iterable[str], edges: Sequence[Edge], *, must_link: Iterable[Pair] = (),
            cannot_link: Iterable[Pair] = (), max_size: int) -> Clusters:
    """Components over ``records``; edges or links naming a record outside ``records`` are ignored."""
    parts = _Components(records, cannot_link)
    refused: list[Pair] = []
    for a, b in sorted(tuple(sorted(p)) for p in must_link):
        if a not in parts.root or b not in parts.root:
            continue
        ra, rb = parts.find(a), parts.find(b)
        if ra == rb:
            continue
        if parts.conflict(ra, rb):
            refused.append((a, b))
        else:
            parts.union(ra, rb)
    oversized: list[Edge] = []
    for edge in sorted(edges, key=lambda e: (-e.probability, e.left, e.right)):
        if edge.left not in parts.root or edge.right not in parts.root:
            continue
        ra, rb = parts.find(edge.left), parts.find(edge.right)
        if ra == rb or parts.conflict(ra, rb):
            continue
        if len(parts.members[ra]) + len(parts.members[rb]) > max_size:
            oversized.append(edge)
            continue
        parts.union(ra, rb)
    smallest = {root: min(members) for root, members in parts.members.items()}
    return Clusters(component={r: smallest[root] for r, root in parts.root.items()},
                    oversized=tuple(oversized), refused_links=tuple(refused))


def cluster_within(records: AbstractSet[str], edges: Sequence[Edge], *, component_of: Mapping[str, str],
                   must_link: Iterable[Pair] = (), cannot_link: Iterable[Pair] = (), max_size: int) -> Clusters:
    """``cluster``'s result, given ``component_of``: each linked record's plain connected component (labelled by
    its smallest record key) over the edges and must-links between ``records``. Union-find runs only inside
    components that are too big or hold a cannot-link pair; unions within any other component are never refused,
    so it stands whole. Components are independent, so per-component order gives the global order's result."""
    members: dict[str, list[str]] = {}
    for record in records:
        members.setdefault(component_of.get(record, record), []).append(record)
    constrained = {root for root, group in members.items() if len(group) > max_size}
    constrained |= {component_of[a] for a, b in cannot_link
                    if a in records and a in component_of and component_of.get(b) == component_of[a]}

    def within(items: Iterable[T], ends: Callable[[T], Pair]) -> dict[str, list[T]]:
        """``items`` whose two ends lie in one constrained component, by component."""
        by_root: dict[str, list[T]] = {}
        for item in items:
            a, b = ends(item)
            root = component_of.get(a)
            if root in constrained and component_of.get(b) == root:
                by_root.setdefault(root, []).append(item)
        return by_root

    edges_in = within(edges, lambda e: (e.left, e.right))
    links_in, forbidden_in = within(must_link, lambda p: p), within(cannot_link, lambda p: p)
    component = {r: root for root, group in members.items() if root not in constrained for r in group}
    oversized: list[Edge] = []
    refused: list[Pair] = []
    for root in sorted(constrained):
        part = cluster(members[root], edges_in.get(root, []), must_link=links_in.get(root, []),
                       cannot_link=forbidden_in.get(root, []), max_size=max_size)
        component.update(part.component)
        oversized += part.oversized
        refused += part.refused_links
    return Clusters(component=component,
                    oversized=tuple(sorted(oversized, key=lambda e: (-e.probability, e.left, e.right))),
                    refused_links=tuple(sorted(refused)))
