"""Placement of an autoscaled fleet: each Ready cluster's demand is its floor, the fleet's own
rules place the rest, Unknown clusters keep their share."""

from __future__ import annotations

from hub.core.assignment import ClusterState, assign
from hub.core.health import Phase

from .scenarios import fleet


def ready(name: str, region: str = "") -> ClusterState:
    return ClusterState(name, {"region": region} if region else {}, Phase.READY)


def test_the_demand_places_exactly_what_the_autoscaler_decided() -> None:
    autoscaled = fleet(55, demand={"eu": 35, "us": 20})
    assert assign(autoscaled, [ready("eu"), ready("us")], {}, 0.0).replicas_by_cluster() == {
        "eu": 35,
        "us": 20,
    }
    plain = fleet(55)
    assert assign(plain, [ready("eu"), ready("us")], {}, 0.0).replicas_by_cluster() == {
        "eu": 28,
        "us": 27,
    }


def test_priority_and_weights_place_what_the_demand_leaves() -> None:
    weighted = fleet(30, demand={"eu": 10, "us": 10}, clusters=[{"name": "us", "weight": 3}])
    placed = assign(weighted, [ready("eu"), ready("us")], {}, 0.0).replicas_by_cluster()
    assert placed == {"eu": 10, "us": 20}
    priority = fleet(
        30, demand={"eu": 10, "us": 10}, strategy="Priority", clusters=[{"name": "eu"}]
    )
    placed = assign(priority, [ready("eu"), ready("us")], {}, 0.0).replicas_by_cluster()
    assert placed == {"eu": 20, "us": 10}


def test_an_unknown_cluster_keeps_its_share_and_its_demand_is_not_placed_twice() -> None:
    autoscaled = fleet(60, demand={"eu": 35, "us": 25})
    silent = ClusterState("us", {}, Phase.UNKNOWN, unknown_since=0.0)
    placed = assign(autoscaled, [ready("eu"), silent], {"eu": 35, "us": 25}, 5.0)
    assert placed.replicas_by_cluster() == {"eu": 35, "us": 25}


def test_demand_beyond_the_replicas_is_scaled_down_in_proportion() -> None:
    stale = fleet(20, demand={"eu": 30, "us": 10})
    placed = assign(stale, [ready("eu"), ready("us")], {}, 0.0)
    assert placed.replicas_by_cluster() == {"eu": 15, "us": 5}
    assert placed.conditions[0].reason == "AllReplicasPlaced"


def test_demand_on_a_cluster_the_selector_excludes_is_ignored() -> None:
    autoscaled = fleet(
        10, demand={"eu": 4, "us": 6}, clusterSelector={"matchLabels": {"region": "eu"}}
    )
    placed = assign(autoscaled, [ready("eu", "eu"), ready("us", "us")], {}, 0.0)
    assert placed.replicas_by_cluster() == {"eu": 10}
