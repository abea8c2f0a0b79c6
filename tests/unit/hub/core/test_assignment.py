"""Placement over time: silent and cordoned clusters keep their share; failover replaces."""

from __future__ import annotations

from typing import Any

from gamefleet.v1 import fleet_pb2

from hub.core import documents
from hub.core.assignment import Claims, ClusterState, assign
from hub.core.health import Phase


def fleet(replicas: int = 9, **placement: Any) -> fleet_pb2.Fleet:
    doc = {
        "metadata": {"name": "arena", "namespace": "games", "generation": 1},
        "spec": {
            "replicas": replicas,
            "template": {
                "gameServerTemplate": {"spec": {"containers": [{"name": "s", "image": "a:1"}]}}
            },
            "placement": {
                "clusters": [{"name": "eu", "weight": 2}, {"name": "us", "weight": 1}],
                **placement,
            },
        },
    }
    return documents.from_document(doc, fleet_pb2.Fleet)


def ready(name: str) -> ClusterState:
    return ClusterState(name, {}, Phase.READY)


def unknown(name: str, since: float = 0.0, allocated: int = 0) -> ClusterState:
    return ClusterState(name, {}, Phase.UNKNOWN, unknown_since=since, allocated=allocated)


def test_ready_clusters_share_by_weight() -> None:
    placement = assign(fleet(), [ready("eu"), ready("us")], {}, now=0.0)
    assert placement.replicas_by_cluster() == {"eu": 6, "us": 3}


def test_unknown_cluster_keeps_its_share_and_nothing_moves() -> None:
    placement = assign(fleet(), [ready("eu"), unknown("us")], {"eu": 6, "us": 3}, now=100.0)
    assert placement.replicas_by_cluster() == {"eu": 6, "us": 3}


def test_cordoned_cluster_keeps_its_share_while_growth_goes_elsewhere() -> None:
    cordoned = ClusterState("us", {}, Phase.CORDONED)
    placement = assign(fleet(12), [ready("eu"), cordoned], {"eu": 6, "us": 3}, now=0.0)
    assert placement.replicas_by_cluster() == {"eu": 9, "us": 3}


def test_kept_share_never_exceeds_the_fleet() -> None:
    placement = assign(fleet(2), [ready("eu"), unknown("us")], {"eu": 6, "us": 3}, now=0.0)
    assert placement.replicas_by_cluster() == {"eu": 0, "us": 2}


def test_failover_waits_for_its_delay() -> None:
    lost = unknown("us", since=100.0, allocated=1)
    early = assign(fleet(failover={"enabled": True, "after": "30s"}), [ready("eu"), lost],
                   {"eu": 6, "us": 3}, now=120.0)  # fmt: skip
    assert early.replicas_by_cluster() == {"eu": 6, "us": 3}


def test_failover_replaces_only_unallocated_servers_and_keeps_the_lost_share() -> None:
    lost = unknown("us", since=100.0, allocated=1)
    later = assign(fleet(failover={"enabled": True, "after": "30s"}), [ready("eu"), lost],
                   {"eu": 6, "us": 3}, now=131.0)  # fmt: skip
    assert later.replicas_by_cluster() == {"eu": 8, "us": 3}


def test_without_failover_nothing_is_replaced() -> None:
    lost = unknown("us", since=0.0)
    placement = assign(fleet(), [ready("eu"), lost], {"eu": 6, "us": 3}, now=10_000.0)
    assert placement.replicas_by_cluster() == {"eu": 6, "us": 3}


def test_recovered_cluster_gets_its_share_back() -> None:
    placement = assign(
        fleet(failover={"enabled": True}), [ready("eu"), ready("us")], {"eu": 8, "us": 3}, 500.0
    )
    assert placement.replicas_by_cluster() == {"eu": 6, "us": 3}


def test_unknown_cluster_outside_the_selector_keeps_nothing() -> None:
    selected = fleet(clusterSelector={"matchLabels": {"tier": "prod"}})
    eu = ClusterState("eu", {"tier": "prod"}, Phase.READY)
    placement = assign(selected, [eu, unknown("us")], {"us": 3}, now=0.0)
    assert placement.replicas_by_cluster() == {"eu": 9}


def test_failover_replacements_are_rate_limited() -> None:
    lost = unknown("us", since=100.0)
    rated = fleet(failover={"enabled": True, "after": "30s", "replicasPerSecond": 1})
    at_start = assign(rated, [ready("eu"), lost], {"eu": 6, "us": 3}, now=130.0)
    assert at_start.replicas_by_cluster() == {"eu": 7, "us": 3}
    a_second_later = assign(rated, [ready("eu"), lost], {"eu": 6, "us": 3}, now=131.0)
    assert a_second_later.replicas_by_cluster() == {"eu": 8, "us": 3}
    much_later = assign(rated, [ready("eu"), lost], {"eu": 6, "us": 3}, now=500.0)
    assert much_later.replicas_by_cluster() == {"eu": 9, "us": 3}


def test_a_claim_of_a_cluster_not_ready_takes_only_what_ready_clusters_do_not_hold() -> None:
    """After a hub restart without an assignment record, ``previous`` holds what agents claim:
    an inflated claim of a silent cluster takes nothing from the Ready ones."""
    claims = {"eu": 6, "us": 3, "aa-evil": 9}
    states = [ready("eu"), ready("us"), unknown("aa-evil")]
    placement = assign(fleet(), states, claims, 0.0, Claims(frozenset(claims), 9))
    assert placement.replicas_by_cluster() == {"eu": 6, "us": 3}


def test_a_claim_keeps_what_no_ready_cluster_holds_so_a_restart_moves_nothing() -> None:
    claims = {"eu": 6, "us": 3}
    placement = assign(
        fleet(), [ready("eu"), unknown("us")], claims, 0.0, Claims(frozenset(claims), 9)
    )
    assert placement.replicas_by_cluster() == {"eu": 6, "us": 3}


def test_a_claim_does_not_take_a_fleets_growth() -> None:
    claims = {"eu": 6, "us": 3, "aa-evil": 9}
    states = [ready("eu"), ready("us"), unknown("aa-evil")]
    grown = assign(fleet(12), states, claims, 0.0, Claims(frozenset(claims), 9))
    assert grown.replicas_by_cluster() == {"eu": 8, "us": 4}
    honest = assign(
        fleet(12), [ready("eu"), unknown("us")], claims, 0.0, Claims(frozenset(claims), 9)
    )
    assert honest.replicas_by_cluster() == {"eu": 9, "us": 3}


def test_assigned_shares_of_silent_clusters_come_before_claims() -> None:
    placement = assign(
        fleet(),
        [ready("eu"), unknown("us"), unknown("aa-new")],
        {"eu": 6, "us": 3, "aa-new": 9},
        0.0,
        Claims(frozenset({"aa-new"}), 9),
    )
    assert placement.replicas_by_cluster() == {"eu": 6, "us": 3}
