"""A cluster's report can change only its own share: two clusters, eu honest and us reporting
more than the hub gave it. eu's share is what it is when us reports its whole assigned share
honestly (every server Allocated, or at the template's capacity), for each policy."""

from __future__ import annotations

import json

from gamefleet.v1 import autoscaler_pb2

from hub.core import documents
from hub.core.autoscaling import counter, reports, review
from hub.core.autoscaling.decide import decide
from hub.core.autoscaling.demand import FleetSnapshot, recommend_buffer, recommend_total
from hub.core.autoscaling.limits import Bounds, Limits, Rules
from hub.core.health import Phase
from okg import capacity as cap

from .scenarios import buffer, cluster, fleet, snapshot

AT_ONCE = Limits(up=Rules(), down=Rules())
# The most a set status may carry (agent_limits.set_count).
MILLION = 1_000_000


def two(us_allocated: int, us_idle: int = 0, label: str = "region") -> FleetSnapshot:
    """eu: 5 of its 15 replicas Allocated; us: 15 replicas, ``us_allocated`` reported."""
    return snapshot(
        cluster("eu", allocated=5, assigned=15, idle=10, region="eu"),
        cluster("us", allocated=us_allocated, assigned=15, idle=us_idle, region="us"),
        replicas=30,
    )


def buffer_decision(policy: autoscaler_pb2.BufferPolicy, state: FleetSnapshot) -> dict[str, int]:
    """Each cluster's replicas as the runtime decides them (the limits with min and max)."""
    state = reports.vouched(state)
    bounds = Bounds(policy.min_replicas, policy.max_replicas)
    recommendation = recommend_buffer(policy, state)
    return decide(state, "Buffer", recommendation, [], 0.0, AT_ONCE, bounds).clusters


def test_an_inflated_allocated_count_takes_no_budget_from_another_cluster() -> None:
    policy = buffer(10, high=40, label="region")
    honest = buffer_decision(policy, two(us_allocated=15))
    assert honest == {"eu": 15, "us": 25}
    assert buffer_decision(policy, two(us_allocated=MILLION)) == honest
    # Taken as reported, us's million would be a floor and eu's buffer would be gone.
    assert recommend_buffer(policy, two(us_allocated=MILLION)).clusters["eu"] == 5


def test_an_inflated_count_does_not_grow_a_shared_percent_buffer() -> None:
    policy = buffer("50%", high=10 * MILLION, label="")
    honest = buffer_decision(policy, two(us_allocated=15))
    assert buffer_decision(policy, two(us_allocated=MILLION)) == honest
    assert recommend_buffer(policy, two(us_allocated=MILLION)).clusters["eu"] > honest["eu"]


def test_an_honest_clusters_floor_stays() -> None:
    state = reports.vouched(two(us_allocated=MILLION))
    assert {c.name: (c.allocated, c.idle) for c in state.clusters} == {
        "eu": (5, 10),
        "us": (15, 0),
    }
    assert reports.vouched(two(us_allocated=3, us_idle=MILLION)).clusters[1].idle == 12


def test_a_webhooks_total_and_its_review_see_each_cluster_within_its_share() -> None:
    lying, honest = reports.vouched(two(MILLION, MILLION)), reports.vouched(two(15))
    assert recommend_total(40, lying, "").clusters == recommend_total(40, honest, "").clusters
    status = review.request("uid", lying)["request"]["status"]
    assert (status["allocatedReplicas"], status["readyReplicas"]) == (20, 10)
    # Taken as reported: the million is the floor of any total and eu keeps only its own.
    assert recommend_total(40, two(MILLION), "").clusters["eu"] == 5


SLOTS = 100


def counted(*clusters: tuple[str, int]) -> FleetSnapshot:
    """The fleet's template declaring 100 player slots; each (cluster, assigned)."""
    template = fleet()
    notes = {cap.DECLARATION: json.dumps({"counters": {"players": {"capacity": SLOTS}}})}
    template.spec.template.game_server_template["metadata"] = {"annotations": notes}
    return FleetSnapshot(template, tuple(cluster(n, assigned=a, region=n) for n, a in clusters))


def slots(name: str, players: int = 0, capacity: int = SLOTS) -> counter.CounterServer:
    return counter.CounterServer(name, players, capacity, in_use=players > 0)


def counter_decision(
    state: FleetSnapshot, servers: list[counter.CounterServer]
) -> tuple[int, dict[str, int]]:
    """The Counter policy's total and split as the runtime computes them."""
    doc = {"key": "players", "bufferSize": 200, "maxCapacity": 100_000}
    policy = documents.from_document(doc, autoscaler_pb2.CounterPolicy)
    state = reports.vouched(state)
    servers = reports.vouched_servers(servers, state, "players")
    result = counter.recommend_counter(policy, counter.with_in_use_floors(state, servers), servers)
    return result.total, result.clusters


EU = [slots("eu", players=60), slots("eu"), slots("eu")]


def test_servers_beyond_a_clusters_share_add_no_free_slots() -> None:
    state = counted(("eu", 3), ("us", 2))
    honest = counter_decision(state, [*EU, slots("us"), slots("us")])
    # 500 slots, 60 used: two idle servers go (240 free), eu keeps its player's server.
    assert honest == (3, {"eu": 2, "us": 1})
    many = [*EU, *[slots("us", capacity=10**9)] * 1000]
    assert counter_decision(state, many) == honest
    # Every us server Allocated: at most its 2 are floors, none of the other 998.
    allocated = [*EU, *[counter.CounterServer("us", 0, 10**9, in_use=True)] * 1000]
    assert counter_decision(state, allocated) == counter_decision(
        state, [*EU, *[counter.CounterServer("us", 0, SLOTS, in_use=True)] * 2]
    )


def test_a_server_past_the_templates_capacity_counts_at_the_templates() -> None:
    state = counted(("eu", 3), ("us", 2))
    raised = counter_decision(state, [*EU, slots("us", capacity=500), slots("us", capacity=500)])
    assert raised == counter_decision(state, [*EU, slots("us"), slots("us")])
    # A count past it is full: free slots are never more than the template's.
    assert reports.vouched_servers([slots("us", 900, 1000)], state, "players") == [
        slots("us", SLOTS)
    ]


def test_the_servers_kept_are_those_in_use_then_the_fullest() -> None:
    state = counted(("eu", 2))
    servers = [slots("eu"), slots("eu", 10), slots("eu", 0, 50), slots("eu", 30), slots("us")]
    kept = reports.vouched_servers(servers, state, "players")
    assert kept == [slots("eu", 10), slots("eu", 30)]
    # Without servers in use, the fewest free slots first (assume the emptiest ones gone).
    idle = [slots("eu"), slots("eu", 0, 50), slots("eu", 0, 20)]
    assert reports.vouched_servers(idle, state, "players") == idle[1:]


def test_an_unknown_clusters_report_counts_within_what_it_keeps() -> None:
    state = snapshot(cluster("eu", allocated=9, assigned=4, phase=Phase.UNKNOWN))
    assert reports.vouched(state).allocated() == 4
