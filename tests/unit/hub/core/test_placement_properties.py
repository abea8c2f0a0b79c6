"""Properties of placement that hold for every input."""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

from gamefleet.v1 import fleet_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.core import documents, placement

from .fleets import MINIMAL_FLEET

NAMES = ["a", "b", "c", "d", "e", "f"]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[fleet_pb2.Fleet, list[placement.ClusterView]]:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=len(NAMES)))
    clusters = [
        placement.ClusterView(
            name,
            {"cloud": draw(st.sampled_from(["aws", "gcp"]))},
            draw(st.booleans()),
        )
        for name in names
    ]
    entries: list[dict[str, Any]] = []
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True)):
        entry: dict[str, Any] = {"name": name}
        if draw(st.booleans()):
            entry["weight"] = draw(st.integers(1, 5))
        minimum = draw(st.integers(0, 6))
        if draw(st.booleans()):
            entry["min"] = minimum
        if draw(st.booleans()):
            entry["max"] = minimum + draw(st.integers(0, 12))
        entries.append(entry)
    placement_doc: dict[str, Any] = {
        "strategy": draw(st.sampled_from(["", "Weighted", "Priority", "Spread"])),
        "clusters": entries,
    }
    if draw(st.booleans()):
        placement_doc["clusterSelector"] = {"matchLabels": {"cloud": "aws"}}
    doc = dict(MINIMAL_FLEET)
    doc["spec"] = {**MINIMAL_FLEET["spec"], "replicas": draw(st.integers(0, 80))}
    doc["spec"]["placement"] = placement_doc
    return documents.from_document(doc, fleet_pb2.Fleet), clusters


def _eligible(fleet: fleet_pb2.Fleet, clusters: list[placement.ClusterView]) -> set[str]:
    wanted = dict(fleet.spec.placement.cluster_selector.match_labels)
    return {
        c.name
        for c in clusters
        if c.schedulable and all(c.labels.get(k) == v for k, v in wanted.items())
    }


def _bounds(fleet: fleet_pb2.Fleet) -> dict[str, tuple[int, int | None]]:
    """(floor, max) per listed cluster; the floor is the min lowered to the max."""
    bounds: dict[str, tuple[int, int | None]] = {}
    for entry in fleet.spec.placement.clusters:
        maximum = entry.max if entry.HasField("max") else None
        floor = entry.min if maximum is None else min(entry.min, maximum)
        bounds[entry.name] = (floor, maximum)
    return bounds


UNBOUNDED: tuple[int, int | None] = (0, None)


@settings(max_examples=300)
@given(scenarios())
def test_only_eligible_clusters_are_assigned(
    scenario: tuple[fleet_pb2.Fleet, list[placement.ClusterView]],
) -> None:
    fleet, clusters = scenario
    result = placement.place(fleet, clusters)
    assert {a.cluster for a in result.assignments} == _eligible(fleet, clusters)


@settings(max_examples=300)
@given(scenarios())
def test_the_sum_is_replicas_unless_maximums_forbid(
    scenario: tuple[fleet_pb2.Fleet, list[placement.ClusterView]],
) -> None:
    fleet, clusters = scenario
    result = placement.place(fleet, clusters)
    eligible = _eligible(fleet, clusters)
    bounds = _bounds(fleet)
    maximums = [bounds.get(name, UNBOUNDED)[1] for name in eligible]
    capacity = None if None in maximums else sum(m for m in maximums if m is not None)
    replicas = fleet.spec.replicas
    expected = replicas if capacity is None else min(replicas, capacity)
    assert sum(a.replicas for a in result.assignments) == expected
    assert result.unplaced == replicas - expected
    assert (result.conditions[0].status == "True") == (
        expected == replicas
        and sum(
            min(bounds.get(n, (0, None))[0], bounds.get(n, (0, None))[1] or 10**9) for n in eligible
        )
        <= replicas
    )


@settings(max_examples=300)
@given(scenarios())
def test_minimums_and_maximums_hold(
    scenario: tuple[fleet_pb2.Fleet, list[placement.ClusterView]],
) -> None:
    fleet, clusters = scenario
    result = placement.place(fleet, clusters)
    bounds = _bounds(fleet)
    floors = {
        a.cluster: min(
            bounds.get(a.cluster, (0, None))[0], bounds.get(a.cluster, (0, None))[1] or 10**9
        )
        for a in result.assignments
    }
    for assignment in result.assignments:
        maximum = bounds.get(assignment.cluster, (0, None))[1]
        assert maximum is None or assignment.replicas <= maximum
        if sum(floors.values()) <= fleet.spec.replicas:
            assert assignment.replicas >= floors[assignment.cluster]
        else:
            assert assignment.replicas <= floors[assignment.cluster]


@settings(max_examples=200)
@given(scenarios(), st.randoms(use_true_random=False))
def test_cluster_order_does_not_matter(
    scenario: tuple[fleet_pb2.Fleet, list[placement.ClusterView]], rng: random.Random
) -> None:
    fleet, clusters = scenario
    shuffled = list(clusters)
    rng.shuffle(shuffled)
    assert placement.place(fleet, shuffled) == placement.place(fleet, clusters)


@settings(max_examples=300)
@given(
    st.integers(0, 500),
    st.lists(st.integers(1, 9), min_size=1, max_size=6),
)
def test_unbounded_weighted_shares_stay_within_one_of_the_exact_quota(
    replicas: int, weights: list[int]
) -> None:
    names = NAMES[: len(weights)]
    doc = dict(MINIMAL_FLEET)
    doc["spec"] = {
        **MINIMAL_FLEET["spec"],
        "replicas": replicas,
        "placement": {
            "clusters": [{"name": n, "weight": w} for n, w in zip(names, weights, strict=True)]
        },
    }
    fleet = documents.from_document(doc, fleet_pb2.Fleet)
    views = [placement.ClusterView(name, {}, True) for name in names]
    counts = placement.place(fleet, views).replicas_by_cluster()
    total_weight = sum(weights)
    for name, weight in zip(names, weights, strict=True):
        quota = Fraction(replicas * weight, total_weight)
        assert abs(counts[name] - quota) < 1
