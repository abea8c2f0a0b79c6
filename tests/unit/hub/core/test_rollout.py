"""Sequential rollouts move one cluster at a time; parallel ones everywhere at once."""

from __future__ import annotations

from gamefleet.v1 import fleet_pb2

from hub.core.rollout import cluster_order, held_back


def fleet(policy: str = "Sequential", *listed: str) -> fleet_pb2.Fleet:
    result = fleet_pb2.Fleet()
    result.spec.update_policy.type = policy
    for name in listed:
        result.spec.placement.clusters.add(name=name)
    return result


def test_order_is_listed_clusters_then_the_rest_by_name() -> None:
    assert cluster_order(fleet("Sequential", "us", "eu"), ["ap", "eu", "us"]) == ["us", "eu", "ap"]


def test_parallel_holds_nothing_back() -> None:
    desired = {"eu": "new", "us": "new"}
    assert held_back(fleet("Parallel"), desired, {"eu": "old", "us": "old"}, {}) == set()


def test_sequential_changes_the_first_cluster_only() -> None:
    desired = {"eu": "new", "us": "new"}
    held = {"eu": "old", "us": "old"}
    assert held_back(fleet("Sequential", "eu", "us"), desired, held, {"eu": True, "us": True}) == {
        "us"
    }


def test_the_next_cluster_waits_until_the_first_settles_on_its_new_set() -> None:
    desired = {"eu": "new", "us": "new"}
    rolling = {"eu": "new", "us": "old"}
    order = fleet("Sequential", "eu", "us")
    assert held_back(order, desired, rolling, {"eu": False}) == {"us"}
    assert held_back(order, desired, rolling, {"eu": True}) == set()


def test_a_cluster_holding_nothing_is_never_held_back() -> None:
    desired = {"eu": "new", "us": "new"}
    assert (
        held_back(fleet("Sequential", "eu", "us"), desired, {"eu": "old", "us": None}, {}) == set()
    )
