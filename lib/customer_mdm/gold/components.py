"""Clusters past the driver: connected components in Spark by large-star / small-star (Kiveris et al., 2014).

A round replaces every edge by edges to the smallest key in reach, so after
O(log n) rounds each component is one star around its smallest record key:
the label the driver's union-find gives too. Constraints (cannot-links, the
cluster size cap) need the driver's ordered unions, but only inside the
components they touch: every other component is taken whole, which is
exactly what the union-find would build (no union in it can be refused).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from collections.abc import Set as AbstractSet

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_mdm.gold.clustering import Clusters, Edge, Pair, cluster, cluster_within

log = logging.getLogger(__name__)

#: Rounds after which a component labelling that has not settled is a bug, not a big graph (log2 of 10^15 is 50).
MAX_ROUNDS = 64


def _canonical(edges: DataFrame) -> DataFrame:
    """Each undirected edge once, as (hi, lo) with hi > lo; self-loops dropped."""
    return (edges.select(F.greatest("hi", "lo").alias("hi"), F.least("hi", "lo").alias("lo"))
            .where(F.col("hi") != F.col("lo")).distinct())


def _large_star(edges: DataFrame) -> DataFrame:
    """Every neighbour larger than a node is linked to the smallest key of that node's neighbourhood."""
    both = edges.select(F.col("hi").alias("node"), F.col("lo").alias("other")).unionByName(
        edges.select(F.col("lo").alias("node"), F.col("hi").alias("other")))
    smallest = both.groupBy("node").agg(F.least(F.min("other"), F.col("node")).alias("m"))
    # other > node >= m: already (hi, lo) and no self-loop; duplicates wait for the small star's distinct
    return (both.join(smallest, "node").where(F.col("other") > F.col("node"))
            .select(F.col("other").alias("hi"), F.col("m").alias("lo")))


def _small_star(edges: DataFrame) -> DataFrame:
    """A node and its smaller neighbours are all linked to the smallest of them."""
    smallest = edges.groupBy("hi").agg(F.min("lo").alias("m"))
    spokes = edges.join(smallest, "hi").select(F.col("lo").alias("hi"), F.col("m").alias("lo"))
    return _canonical(spokes.unionByName(smallest.select("hi", F.col("m").alias("lo"))))


def _is_star_forest(edges: DataFrame) -> bool:
    """Every larger end has one edge and no smaller end is a larger end: stars around their smallest keys,
    the fixed point of both steps, checked in one pass instead of comparing two edge sets."""
    ends = edges.select(F.col("hi").alias("node"), F.lit(1).alias("as_hi"), F.lit(0).alias("as_lo")).unionByName(
        edges.select(F.col("lo").alias("node"), F.lit(0).alias("as_hi"), F.lit(1).alias("as_lo")))
    roles = ends.groupBy("node").agg(F.sum("as_hi").alias("as_hi"), F.max("as_lo").alias("as_lo"))
    return roles.where((F.col("as_hi") > 1) | ((F.col("as_hi") == 1) & (F.col("as_lo") == 1))).isEmpty()


def connected_components(edges: DataFrame) -> DataFrame:
    """(record, component) for every record named by ``edges`` (string columns hi, lo; any order, duplicates
    allowed); ``component`` is the smallest record key of the record's component."""
    current = _canonical(edges).localCheckpoint()
    rounds = 0
    while not _is_star_forest(current):
        rounds += 1
        if rounds > MAX_ROUNDS:
            raise RuntimeError(f"connected components did not settle in {MAX_ROUNDS} rounds")
        current = _small_star(_large_star(current)).localCheckpoint()
    log.debug("connected components settled after %d round(s)", rounds)
    return current.select(F.col("hi").alias("record"), F.col("lo").alias("component")).unionByName(
        current.select(F.col("lo").alias("record"), F.col("lo").alias("component"))).distinct()


def clusters_by_size(spark: SparkSession, records: AbstractSet[str], edges: Sequence[Edge], *,
                     must_link: Sequence[Pair], cannot_link: Sequence[Pair], max_size: int,
                     driver_max_links: int) -> Clusters:
    """``cluster`` on the driver while the links (edges and must-links) number at most ``driver_max_links``;
    beyond, the components come from Spark and the driver only orders the unions of constrained ones."""
    started = time.monotonic()
    links = [(e.left, e.right) for e in edges if e.left in records and e.right in records]
    links += [(a, b) for a, b in must_link if a in records and b in records]
    if len(links) <= driver_max_links:
        return cluster(records, edges, must_link=must_link, cannot_link=cannot_link, max_size=max_size)
    frame = spark.createDataFrame(pa.table({"hi": pa.array([a for a, _ in links], pa.string()),
                                            "lo": pa.array([b for _, b in links], pa.string())}))
    labels = connected_components(frame).toArrow()
    component_of = dict(zip(labels.column("record").to_pylist(), labels.column("component").to_pylist()))
    clusters = cluster_within(records, edges, component_of=component_of, must_link=must_link,
                              cannot_link=cannot_link, max_size=max_size)
    log.info("clusters of %d records over %d links in Spark (above %d links): %d connected records, %.1fs",
             len(records), len(links), driver_max_links, len(component_of), time.monotonic() - started)
    return clusters
