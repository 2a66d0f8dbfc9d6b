"""The records an increment must cluster again: the closure of what changed.

Clusters are decided per connected component of the links (edges and
must-links), and ids per prior entity. Start from the records whose liveness,
edges or manual links changed; add every record linked to one already in,
and every record of a prior entity one already in belongs to; repeat until
nothing is added. Outside the closure the records, edges and links are those
the increment before clustered, so clusters and ids there would come out as
stored: the increment reads, clusters and reconciles only the closure.
"""
from __future__ import annotations

from typing import TypeAlias

import pyarrow as pa
import pyarrow.compute as pc


Keys: TypeAlias = "pa.Array | pa.ChunkedArray"


def linked_closure(seeds: Keys, *, links: tuple[Keys, Keys], members: tuple[Keys, Keys]) -> pa.Array:
    """Record keys reachable from ``seeds`` over ``links`` (left, right record keys) and shared membership in
    ``members`` (record keys, their entity ids). Vectorized: one pass per step of the longest path."""
    left, right, records, entities = (_whole(a) for a in (*links, *members))
    found = pc.unique(_whole(seeds))
    while True:
        linked = pc.or_(pc.is_in(left, value_set=found), pc.is_in(right, value_set=found))
        entities_in = pc.unique(entities.filter(pc.is_in(records, value_set=found)))
        grown = pc.unique(pa.concat_arrays([found, left.filter(linked), right.filter(linked),
                                            records.filter(pc.is_in(entities, value_set=entities_in))]))
        if len(grown) == len(found):
            return grown
        found = grown


def _whole(keys: Keys) -> pa.Array:
    return (keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys).cast(pa.string())
