"""Clusters past the driver: Spark's large-star / small-star components give the driver union-find's clusters."""
from __future__ import annotations

import random

from pyspark.sql import SparkSession

from customer_mdm.gold.clustering import Edge, cluster
from customer_mdm.gold.components import clusters_by_size, connected_components


def graph(seed: int) -> tuple[set[str], list[Edge]]:
    """A long chain (the slowest shape for label propagation), a star, a bridge between two triangles, and
    random edges over many small groups, plus records no edge touches."""
    rng = random.Random(seed)
    records = {f"r{i:03d}" for i in range(160)}
    chain = [(f"r{i:03d}", f"r{i + 1:03d}") for i in range(0, 40)]           # r000 .. r040, reversed below
    star = [("r050", f"r{i:03d}") for i in range(51, 60)]
    bridge = [("r060", "r061"), ("r061", "r062"), ("r060", "r062"), ("r062", "r063"),
              ("r063", "r064"), ("r064", "r065"), ("r063", "r065")]
    scattered = [tuple(sorted(rng.sample([f"r{i:03d}" for i in range(70, 150)], 2))) for _ in range(70)]
    pairs = [(b, a) for a, b in reversed(chain)] + star + bridge + scattered
    return records, [Edge(a, b, round(rng.uniform(0.9, 1.0), 3)) for a, b in pairs]


def test_spark_components_label_each_record_with_the_smallest_key_of_its_component(spark: SparkSession):
    records, edge_list = graph(1)
    frame = spark.createDataFrame([(e.left, e.right) for e in edge_list] + [(e.left, e.right) for e in edge_list[:5]],
                                  "hi string, lo string")  # duplicates and both orientations are allowed
    labels = {r["record"]: r["component"] for r in connected_components(frame).collect()}
    expected = cluster(records, edge_list, max_size=len(records)).component
    assert labels == {r: c for r, c in expected.items() if r in labels}
    assert labels["r040"] == "r000" and labels["r059"] == "r050" and labels["r065"] == "r060"
    assert set(labels) == {r for e in edge_list for r in (e.left, e.right)}  # unlinked records are not invented


def test_past_the_driver_limit_constraints_still_give_the_driver_clusters_exactly(spark: SparkSession):
    """Cannot-links (one inside the chain, one across the bridge), must-links joining components, and a size cap
    that refuses the chain's and some scattered unions: same components, same refused edges, same refused links."""
    records, edge_list = graph(2)
    options = dict(must_link=[("r000", "r050"), ("r050", "r059"), ("r100", "r155"), ("r020", "r030")],
                   cannot_link=[("r010", "r035"), ("r060", "r065"), ("r000", "r059")], max_size=12)
    on_driver = cluster(records, edge_list, **options)  # type: ignore[arg-type]
    in_spark = clusters_by_size(spark, records, edge_list, driver_max_links=0, **options)  # type: ignore[arg-type]
    assert in_spark == on_driver
    assert on_driver.oversized and on_driver.refused_links  # the constraints were exercised
    assert on_driver.component["r060"] != on_driver.component["r065"]
    assert clusters_by_size(spark, records, edge_list, driver_max_links=10_000,
                            **options) == on_driver  # type: ignore[arg-type]
