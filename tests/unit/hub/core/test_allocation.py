"""Allocation choice, state in and state out."""

from __future__ import annotations

import pytest

from hub.core import allocation
from hub.core.allocation import Scheduling, Server
from okg.capacity import Capacity, Counter

READY = ("a", "b")


def names(servers: list[Server]) -> list[str]:
    return [f"{s.cluster}/{s.name}" for s in servers]


@pytest.mark.parametrize(
    ("server", "ok"),
    [
        (Server("a", "gs-0"), True),
        (Server("a", "gs-0", ops_state=""), True),
        (Server("a", "gs-0", state="NotReady"), False),
        (Server("a", "gs-0", ops_state="Allocated"), False),
        (Server("a", "gs-0", ops_state="Maintaining"), False),
        (Server("a", "gs-0", deleting=True), False),
        (Server("a", "gs-0", network_disabled=True), False),
    ],
)
def test_candidates_are_ready_unallocated_and_reachable(server: Server, ok: bool) -> None:
    assert allocation.is_candidate(server) is ok
    assert names(allocation.choose([server], READY)) == (["a/gs-0"] if ok else [])


def test_servers_on_clusters_not_ready_are_skipped() -> None:
    servers = [Server("a", "gs-0"), Server("c", "gs-1")]
    assert names(allocation.choose(servers, READY)) == ["a/gs-0"]


def test_reserved_servers_are_not_candidates() -> None:
    servers = [Server("a", "gs-0"), Server("a", "gs-1")]
    assert names(allocation.choose(servers, READY, reserved=[("a", "gs-0")])) == ["a/gs-1"]


def test_first_matching_selector_wins() -> None:
    servers = [
        Server("a", "gs-0", labels={"map": "dust"}),
        Server("a", "gs-1", labels={"map": "nuke"}),
        Server("a", "gs-2", labels={"map": "nuke", "mode": "ranked"}),
    ]
    chosen = allocation.choose(servers, READY, selectors=[{"map": "inferno"}, {"map": "nuke"}])
    assert names(chosen) == ["a/gs-1", "a/gs-2"]
    chosen = allocation.choose(servers, READY, selectors=[{"map": "nuke", "mode": "ranked"}])
    assert names(chosen) == ["a/gs-2"]
    assert allocation.choose(servers, READY, selectors=[{"map": "inferno"}]) == []


def test_packed_fills_the_busiest_cluster_and_node() -> None:
    servers = [
        Server("a", "gs-0", node="n1"),
        Server("b", "gs-1", node="n1"),
        Server("b", "gs-2", node="n2"),
        Server("b", "gs-3", node="n2", ops_state="Allocated"),
    ]
    chosen = allocation.choose(servers, READY, scheduling=Scheduling.PACKED)
    assert names(chosen) == ["b/gs-2", "b/gs-1", "a/gs-0"]


def test_distributed_spreads_to_the_emptiest_cluster_and_node() -> None:
    servers = [
        Server("a", "gs-0", node="n1"),
        Server("b", "gs-1", node="n1"),
        Server("b", "gs-2", node="n2"),
        Server("b", "gs-3", node="n2", ops_state="Allocated"),
    ]
    chosen = allocation.choose(servers, READY, scheduling=Scheduling.DISTRIBUTED)
    assert names(chosen) == ["a/gs-0", "b/gs-1", "b/gs-2"]


def test_reservations_weigh_like_allocations() -> None:
    servers = [Server("a", "gs-0"), Server("a", "gs-1"), Server("b", "gs-2")]
    packed = allocation.choose(servers, READY, reserved=[("b", "gs-2")])
    assert names(packed) == ["a/gs-0", "a/gs-1"]
    servers.append(Server("b", "gs-3"))
    packed = allocation.choose(servers, READY, reserved=[("b", "gs-2")])
    assert names(packed)[0] == "b/gs-3"


def test_preferred_clusters_come_first_in_their_order() -> None:
    servers = [Server("a", "gs-0"), Server("b", "gs-1"), Server("c", "gs-2")]
    chosen = allocation.choose(servers, ("a", "b", "c"), preferred=["c", "b"])
    assert names(chosen) == ["c/gs-2", "b/gs-1", "a/gs-0"]


CASES = [
    [Server("a", "gs-0"), Server("c", "gs-1")],
    [
        Server("a", "gs-0", node="n1"),
        Server("b", "gs-1", node="n1"),
        Server("b", "gs-2", node="n2"),
        Server("b", "gs-3", node="n2", ops_state="Allocated"),
        Server("a", "gs-4", node="n2", state="NotReady"),
    ],
    [
        Server("a", "gs-0", labels={"map": "dust"}),
        Server("b", "gs-1", labels={"map": "nuke"}),
        Server("b", "gs-2", labels={"map": "nuke"}, ops_state="Allocated"),
        Server("a", "gs-3", labels={"map": "nuke", "mode": "ranked"}),
    ],
]
SELECTORS: list[list[dict[str, str]]] = [[], [{"map": "inferno"}, {"map": "nuke"}], [{"x": "y"}]]


@pytest.mark.parametrize("servers", CASES)
@pytest.mark.parametrize("selectors", SELECTORS)
@pytest.mark.parametrize("scheduling", list(Scheduling))
@pytest.mark.parametrize("preferred", [[], ["b"], ["c", "a"]])
@pytest.mark.parametrize("reserved", [[], [("a", "gs-0")], [("b", "gs-1"), ("b", "gs-2")]])
def test_the_pool_picks_what_choose_orders_first(
    servers: list[Server],
    selectors: list[dict[str, str]],
    scheduling: Scheduling,
    preferred: list[str],
    reserved: list[tuple[str, str]],
) -> None:
    pool = allocation.Pool()
    for server in servers:
        pool.put(Server(server.cluster, server.name, node="stale"))  # replaced below
        pool.put(server)
    ordered = allocation.choose(servers, READY, selectors, scheduling, preferred, reserved)
    best = pool.best(READY, selectors, scheduling, preferred, reserved)
    assert best == (ordered[0] if ordered else None)


def test_the_pool_follows_changes_and_skips_tried_servers() -> None:
    pool = allocation.Pool()
    pool.put(Server("a", "gs-0"))
    pool.put(Server("a", "gs-1"))
    assert pool.best(READY) == Server("a", "gs-0")
    assert pool.best(READY, tried=[("a", "gs-0")]) == Server("a", "gs-1")
    pool.put(Server("a", "gs-0", ops_state="Allocated"))
    assert pool.best(READY) == Server("a", "gs-1")
    pool.remove(("a", "gs-1"))
    assert pool.best(READY) is None
    pool.drop_cluster("a")
    assert len(pool) == 0


def test_the_pool_counts_candidates_and_updating_servers_per_cluster() -> None:
    pool = allocation.Pool()
    pool.put(Server("a", "gs-0"))
    pool.put(Server("a", "gs-1", ops_state="Allocated"))
    pool.put(Server("a", "gs-2", state="Updating"), since=50.0)
    pool.put(Server("b", "gs-0", state="Updating"), since=40.0)
    pool.put(Server("b", "gs-1", deleting=True))
    assert [pool.candidates(c) for c in "ab"] == [1, 0]
    assert [pool.updating(c) for c in "ab"] == [1, 1]
    assert pool.longest_updating() == allocation.UpdatingSince("b", "gs-0", 40.0)
    pool.put(Server("b", "gs-0"))  # done: Ready again, a candidate
    assert (pool.candidates("b"), pool.updating("b")) == (1, 0)
    assert pool.longest_updating() == allocation.UpdatingSince("a", "gs-2", 50.0)
    pool.put(Server("a", "gs-2", state="Updating"), since=60.0)  # a second update
    assert pool.longest_updating() == allocation.UpdatingSince("a", "gs-2", 60.0)
    pool.drop_cluster("a")
    assert (pool.candidates("a"), pool.updating("a"), pool.longest_updating()) == (0, 0, None)


def test_a_pool_counts_servers_holding_players_in_use_and_not_idle() -> None:
    def players(count: int) -> Capacity:
        return Capacity({"players": Counter(count, 8)})

    pool = allocation.Pool()
    pool.put(Server("a", "gs-0", ops_state="Allocated", capacity=players(3)))
    pool.put(Server("a", "gs-1", capacity=players(2)))
    pool.put(Server("a", "gs-2", capacity=players(0)))
    pool.put(Server("a", "gs-3"))
    pool.put(Server("b", "gs-4", state="NotReady", capacity=players(1)))
    assert (pool.in_use("a"), pool.in_use("b")) == (2, 1)
    assert pool.tally() == {"a": (2, 2), "b": (1, 0)}
    pool.put(Server("a", "gs-1", capacity=players(0)))  # its players left
    pool.remove(("b", "gs-4"))
    assert pool.tally() == {"a": (1, 3), "b": (0, 0)}
