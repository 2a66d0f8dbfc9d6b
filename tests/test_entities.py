"""Clusters and ids on hand-made graphs: chains, stars, bridges, constraints, and ids that never flicker."""
from __future__ import annotations

import random

import pyarrow as pa
import pytest

from customer_mdm.gold.closure import linked_closure
from customer_mdm.gold.clustering import Edge, cluster
from customer_mdm.gold.identity import PriorState, Reconciled, entity_id_for, reconcile


def edges(*pairs: str, p: float = 0.95) -> list[Edge]:
    return [Edge(*pair.split("-"), probability=p) for pair in pairs]  # type: ignore[misc]


def groups(result: dict[str, str]) -> set[frozenset[str]]:
    out: dict[str, set[str]] = {}
    for record, root in result.items():
        out.setdefault(root, set()).add(record)
    return {frozenset(g) for g in out.values()}


def test_chain_and_star_each_form_one_component_and_singletons_stay_alone():
    clusters = cluster("abcdefgz", edges("a-b", "b-c", "c-d", "e-f", "e-g"), max_size=10)
    assert groups(clusters.component) == {frozenset("abcd"), frozenset("efg"), frozenset("z")}
    assert clusters.component["d"] == "a"  # every record points at the smallest key of its component


def test_components_do_not_depend_on_edge_order():
    pairs = ["a-b", "b-c", "d-e", "e-f", "c-f", "g-h"]
    first = cluster("abcdefgh", edges(*pairs), max_size=4)
    shuffled = pairs[:]
    random.Random(7).shuffle(shuffled)
    assert cluster(reversed("abcdefgh"), edges(*shuffled), max_size=4) == first


def test_a_component_over_max_size_is_not_merged_and_its_weakest_edge_goes_to_review():
    strong = edges("a-b", "b-c", "d-e", p=0.99)
    weak = edges("c-d", p=0.91)
    clusters = cluster("abcde", strong + weak, max_size=3)
    assert groups(clusters.component) == {frozenset("abc"), frozenset("de")}
    assert clusters.oversized == tuple(weak)


def test_cannot_link_keeps_two_records_apart_even_through_a_chain_and_must_link_joins_without_edges():
    clusters = cluster("abcdx", edges("a-b", "b-c", "c-d"), must_link=[("d", "x")], cannot_link=[("a", "d")],
                       max_size=10)
    assert clusters.component["a"] != clusters.component["d"]
    assert clusters.component["d"] == clusters.component["x"]


def state(result: Reconciled, prior: PriorState | None, seen: dict[str, str]) -> PriorState:
    """The prior state a next run would read after ``result`` was written."""
    entity_of = dict(prior.entity_of) if prior else {}
    anchors = {e: a for e, a in (prior.anchor_of.items() if prior else ())}
    for a in result.assignments:
        if a.change == "deleted":
            entity_of.pop(a.record, None)
            continue
        entity_of[a.record] = a.entity_id
        if a.is_anchor:
            anchors[a.entity_id] = a.record
    live = set(entity_of.values())
    anchors = {e: r for e, r in anchors.items() if e in live and entity_of.get(r) == e}
    used = (prior.used_ids if prior else frozenset()) | frozenset(result.created)
    return PriorState(entity_of, anchors, used, seen)


SEEN = {r: f"2026-01-0{i + 1}" for i, r in enumerate("abcdefg")}
EMPTY = PriorState({}, {}, frozenset(), SEEN)


def run(records: str, pairs: list[Edge], prior: PriorState) -> tuple[Reconciled, PriorState]:
    result = reconcile(cluster(records, pairs, max_size=10), prior)
    return result, state(result, prior, SEEN)


def test_a_new_entity_is_named_after_its_first_seen_record():
    result, after = run("abc", edges("a-b", "b-c"), EMPTY)
    assert set(after.entity_of.values()) == {entity_id_for("a")}
    assert result.created == (entity_id_for("a"),)
    assert [a.change for a in result.assignments] == ["new", "new", "new"]


def test_ids_are_stable_when_records_join_and_when_nothing_changes():
    _, first = run("ab", edges("a-b"), EMPTY)
    result, second = run("abc", edges("a-b", "b-c"), first)
    assert second.entity_of == {"a": entity_id_for("a"), "b": entity_id_for("a"), "c": entity_id_for("a")}
    assert [(a.record, a.change) for a in result.assignments] == [("c", "joined")]
    again, _ = run("abc", edges("a-b", "b-c"), second)
    assert again.assignments == () and again.redirects == () and again.created == ()


def test_a_bridge_merges_two_entities_into_the_oldest_id_and_records_the_redirect():
    _, first = run("abde", edges("a-b", "d-e"), EMPTY)
    result, merged = run("abcde", edges("a-b", "d-e", "b-c", "c-d"), first)
    assert set(merged.entity_of.values()) == {entity_id_for("a")}
    assert [(r.from_id, r.to_id, r.kind) for r in result.redirects] == [(entity_id_for("d"), entity_id_for("a"),
                                                                         "merge")]
    assert result.retired == (entity_id_for("d"),)
    assert result.count("merged") == 2 and result.count("new") == 0


def test_removing_the_bridge_splits_the_entity_and_the_anchor_part_keeps_the_id():
    _, merged = run("abcde", edges("a-b", "b-c", "c-d", "d-e"), EMPTY)
    result, split = run("abcde", edges("a-b", "d-e"), merged)
    assert split.entity_of["a"] == split.entity_of["b"] == entity_id_for("a")
    assert split.entity_of["d"] == split.entity_of["e"] == entity_id_for("d")
    assert split.entity_of["c"] == entity_id_for("c")
    assert {(r.from_id, r.to_id, r.kind) for r in result.redirects} == {
        (entity_id_for("a"), entity_id_for("c"), "split"), (entity_id_for("a"), entity_id_for("d"), "split")}


def test_a_split_off_part_never_reuses_an_id_that_was_handed_out_before():
    _, first = run("ab", [], EMPTY)             # b is its own entity
    _, merged = run("ab", edges("a-b"), first)  # b's id retired into a's
    result, split = run("ab", [], merged)       # b leaves again: its old id is not reused
    assert split.entity_of["b"] == entity_id_for("b", 2)
    assert result.created == (entity_id_for("b", 2),)


def test_deleting_the_anchor_keeps_the_id_on_the_remaining_records():
    _, first = run("abc", edges("a-b", "b-c"), EMPTY)
    result, after = run("bc", edges("b-c"), first)
    assert after.entity_of == {"b": entity_id_for("a"), "c": entity_id_for("a")}
    assert after.anchor_of == {entity_id_for("a"): "b"}
    assert {(a.record, a.change) for a in result.assignments} == {("a", "deleted"), ("b", "anchor")}


def test_deleting_every_record_of_an_entity_retires_its_id():
    _, first = run("abc", edges("a-b"), EMPTY)
    result, after = run("c", [], first)
    assert result.retired == (entity_id_for("a"),)
    assert after.entity_of == {"c": entity_id_for("c")}


def arrive(order: list[str], pairs: list[Edge], batch: int, *, max_size: int = 100) -> dict[str, str]:
    """Records arriving in ``order``, ``batch`` at a time, each increment clustering what has arrived so far."""
    seen = {r: f"t{i:04d}" for i, r in enumerate(order)}
    prior = PriorState({}, {}, frozenset(), seen)
    for end in range(batch, len(order) + batch, batch):
        present = set(order[:end])
        result = reconcile(cluster(present, [e for e in pairs if {e.left, e.right} <= present], max_size=max_size),
                           prior)
        prior = state(result, prior, seen)
    return dict(prior.entity_of)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_micro_batches_of_any_size_give_the_ids_of_one_batch_and_any_order_the_same_groupings(seed):
    rng = random.Random(seed)
    records = [f"r{i:02d}" for i in range(40)]
    pairs = [Edge(*sorted(rng.sample(records, 2)), probability=round(rng.uniform(0.9, 1.0), 3))  # type: ignore[misc]
             for _ in range(45)]
    one_batch = arrive(records, pairs, len(records))
    for size in (1, 7):
        assert arrive(records, pairs, size) == one_batch
    shuffled = records[:]
    rng.shuffle(shuffled)
    assert groups(arrive(shuffled, pairs, 5)) == groups(one_batch)


def test_under_a_cluster_size_cap_micro_batches_still_give_the_groupings_of_one_batch():
    """A cap can regroup records that an earlier increment had together: the groupings still agree with one
    batch, but the ids of regrouped parts are new ids (an id is never reused), so only groupings are compared."""
    rng = random.Random(4)
    records = [f"r{i:02d}" for i in range(40)]
    pairs = [Edge(*sorted(rng.sample(records, 2)), probability=round(rng.uniform(0.9, 1.0), 3))  # type: ignore[misc]
             for _ in range(45)]
    assert groups(arrive(records, pairs, 1, max_size=8)) == groups(arrive(records, pairs, 40, max_size=8))


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_clustering_only_the_closure_of_the_changes_gives_what_clustering_everything_gives(seed):
    """Each increment adds records, deletes one, adds and retracts edges, under a size cap and a cannot-link.
    Reconciling only ``linked_closure`` of the changed records (edges of the increment before plus the added
    ones, prior members) must give exactly the whole graph's result: the same assignments, redirects, new and
    retired ids."""
    rng = random.Random(seed)
    records = [f"r{i:02d}" for i in range(60)]
    seen = {r: f"t{i:04d}" for i, r in enumerate(records)}
    cannot = [("r03", "r07"), ("r10", "r11")]
    present: set[str] = set()
    edge_set: dict[tuple[str, str], float] = {}
    prior = PriorState({}, {}, frozenset(), seen)
    partial = 0
    for step in range(8):
        added = set(rng.sample([r for r in records if r not in present], 6))
        deleted = {rng.choice(sorted(present))} if present else set()
        present = (present | added) - deleted
        retracted = set(rng.sample(sorted(edge_set), min(3, len(edge_set))))
        new = {tuple(sorted(rng.sample(sorted(present), 2))): round(rng.uniform(0.9, 1.0), 3) for _ in range(5)}
        before = dict(edge_set)
        edge_set = {p: v for p, v in {**edge_set, **new}.items() if p not in retracted and set(p) <= present}
        edge_list = [Edge(a, b, v) for (a, b), v in sorted(edge_set.items())]
        whole = reconcile(cluster(present, edge_list, cannot_link=cannot, max_size=6), prior)

        changed = added | deleted | {r for p in retracted | set(new) for r in p} | {r for p in cannot for r in p}
        links = sorted(set(before) | set(new))
        scope = set(linked_closure(pa.array(sorted(changed)), links=(pa.array([a for a, _ in links], pa.string()),
                                                                     pa.array([b for _, b in links], pa.string())),
                                   members=(pa.array(list(prior.entity_of), pa.string()),
                                            pa.array(list(prior.entity_of.values()), pa.string()))).to_pylist())
        restricted = PriorState({r: e for r, e in prior.entity_of.items() if r in scope},
                                {e: a for e, a in prior.anchor_of.items() if a in scope}, prior.used_ids, seen)
        scoped = reconcile(cluster(present & scope, [e for e in edge_list if e.left in scope], cannot_link=cannot,
                                   max_size=6), restricted)
        assert scoped == whole, f"increment {step + 1}"
        partial += len(present - scope) > 0
        prior = state(whole, prior, seen)
    assert partial >= 4  # the closure was a part of the graph, not all of it, in most increments
