"""Cluster drain, make-before-break: the others' shares rise, then the drained one falls."""

from __future__ import annotations

from gamefleet.v1 import gameserver_pb2

from hub.core import conditions, drain
from hub.core.assignment import ClusterState, plan
from hub.core.health import Phase

from .test_assignment import fleet


def draining(
    name: str, allocated: int = 0, *, reachable: bool = True, since: float | None = None
) -> ClusterState:
    return ClusterState(
        name,
        {},
        Phase.CORDONED,
        unknown_since=since,
        allocated=allocated,
        draining=True,
        reachable=reachable,
    )


def settled(name: str, replicas: int) -> ClusterState:
    """A Ready cluster whose servers of the fleet are all Ready."""
    return ClusterState(name, {}, Phase.READY, ready=replicas)


def test_first_the_other_clusters_share_rises_and_the_drained_one_keeps_its_own() -> None:
    # us ran 3, 1 of them Allocated: its 2 idle servers go to eu first.
    step = plan(fleet(), [settled("eu", 6), draining("us", 1)], {"eu": 6, "us": 3}, now=0.0)
    assert step.placement.replicas_by_cluster() == {"eu": 8, "us": 3}
    assert step.drains == {"us": drain.DrainProgress(to_move=2, moved=0, share=3)}


def test_progress_counts_the_ready_servers_made_up_elsewhere() -> None:
    step = plan(fleet(), [settled("eu", 7), draining("us", 1)], {"eu": 8, "us": 3}, now=0.0)
    assert step.placement.replicas_by_cluster() == {"eu": 8, "us": 3}
    assert step.drains["us"] == drain.DrainProgress(to_move=2, moved=1, share=3)


def test_once_made_up_the_drained_share_falls_to_its_allocated_servers() -> None:
    step = plan(fleet(), [settled("eu", 8), draining("us", 1)], {"eu": 8, "us": 3}, now=0.0)
    assert step.placement.replicas_by_cluster() == {"eu": 8, "us": 1}
    assert step.drains["us"] == drain.DrainProgress(to_move=0, moved=0, share=1)


def test_a_lowered_share_stays_lowered_and_follows_games_that_end() -> None:
    # Its Allocated server's game ended: first made up in eu, then gone from us, to 0.
    rising = plan(fleet(), [settled("eu", 8), draining("us", 0)], {"eu": 8, "us": 1}, now=0.0)
    assert rising.placement.replicas_by_cluster() == {"eu": 9, "us": 1}
    done = plan(fleet(), [settled("eu", 9), draining("us", 0)], {"eu": 9, "us": 1}, now=0.0)
    assert done.placement.replicas_by_cluster() == {"eu": 9}
    assert done.drains["us"].share == 0


def test_never_lowered_below_its_allocated_servers() -> None:
    step = plan(fleet(), [settled("eu", 9), draining("us", 3)], {"eu": 6, "us": 3}, now=0.0)
    assert step.placement.replicas_by_cluster() == {"eu": 6, "us": 3}
    assert step.drains["us"] == drain.DrainProgress(to_move=0, moved=0, share=3)


def test_nothing_lowered_while_no_other_cluster_can_take_the_idle_servers() -> None:
    alone = plan(fleet(), [draining("us", 1)], {"us": 3}, now=0.0)
    assert alone.placement.replicas_by_cluster() == {"us": 3}
    capped = fleet(clusters=[{"name": "eu", "max": 6}])
    full = plan(capped, [settled("eu", 6), draining("us", 1)], {"eu": 6, "us": 3}, now=0.0)
    assert full.placement.replicas_by_cluster() == {"eu": 6, "us": 3}
    assert full.drains["us"].to_move == 2


def test_an_unknown_draining_cluster_keeps_its_share_until_it_is_back() -> None:
    # Failover is off: the drain, the user's explicit act, still raises eu at once.
    silent = draining("us", 1, reachable=False, since=0.0)
    step = plan(fleet(), [settled("eu", 8), silent], {"eu": 8, "us": 3}, now=10_000.0)
    assert step.placement.replicas_by_cluster() == {"eu": 8, "us": 3}
    assert step.drains["us"] == drain.DrainProgress(to_move=2, moved=2, share=3)
    back = plan(fleet(), [settled("eu", 8), draining("us", 1)], {"eu": 8, "us": 3}, now=10_001.0)
    assert back.placement.replicas_by_cluster() == {"eu": 8, "us": 1}


def test_a_cordoned_cluster_that_is_not_draining_keeps_its_share() -> None:
    cordoned = ClusterState("us", {}, Phase.CORDONED, allocated=1)
    step = plan(fleet(), [settled("eu", 6), cordoned], {"eu": 6, "us": 3}, now=0.0)
    assert step.placement.replicas_by_cluster() == {"eu": 6, "us": 3}
    assert step.drains == {}


def test_two_draining_clusters_move_together() -> None:
    three = fleet(clusters=[{"name": "eu"}, {"name": "us"}, {"name": "ap"}])
    clusters = [settled("eu", 3), draining("us", 1), draining("ap", 0)]
    step = plan(three, clusters, {"eu": 3, "us": 3, "ap": 3}, now=0.0)
    assert step.placement.replicas_by_cluster() == {"eu": 8, "us": 3, "ap": 3}
    assert step.drains["ap"].to_move == 3 and step.drains["us"].to_move == 2


def counts(replicas: int, allocated: int) -> gameserver_pb2.GameServerCounts:
    return gameserver_pb2.GameServerCounts(replicas=replicas, allocated=allocated)


def test_the_cluster_summary_and_its_drained_condition() -> None:
    moving = drain.cluster_drain([drain.DrainProgress(5, 2, 6)], [counts(6, 1)])
    assert (moving.to_move, moving.moved, moving.idle, moving.allocated) == (5, 2, 5, 1)
    assert drain.drained(moving, reachable=True).status == conditions.FALSE
    removing = drain.cluster_drain([drain.DrainProgress(0, 0, 1)], [counts(6, 1)])
    assert drain.drained(removing, True).reason == "RemovingIdleServers"
    waiting = drain.cluster_drain([drain.DrainProgress(0, 0, 1)], [counts(1, 1)])
    assert (drain.drained(waiting, True).status, waiting.allocated) == (conditions.TRUE, 1)
    assert drain.drained(drain.cluster_drain([], []), True).reason == "Empty"
    assert drain.drained(waiting, reachable=False).status == conditions.UNKNOWN


def test_a_draining_share_is_not_cut_when_the_cluster_holding_its_servers_goes_silent() -> None:
    # eu holds the 8 raised, Unknown; us's share stays whole, nothing is lowered anywhere.
    silent = ClusterState("eu", {}, Phase.UNKNOWN, unknown_since=0.0)
    step = plan(fleet(), [silent, draining("us", 1)], {"eu": 8, "us": 3}, now=1.0)
    assert step.placement.replicas_by_cluster() == {"eu": 8, "us": 3}
    assert step.drains["us"].share == 3


def test_a_fleet_scaled_down_while_draining_counts_only_the_allocated_servers() -> None:
    step = plan(fleet(4), [settled("eu", 3), draining("us", 1)], {"eu": 6, "us": 3}, now=0.0)
    assert step.placement.replicas_by_cluster() == {"eu": 3, "us": 1}
