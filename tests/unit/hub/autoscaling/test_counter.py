"""The Counter policy (Agones' semantics, gamefleet's player continuity), state in and state
out: free capacity of one counter kept across the fleet by adding or removing servers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gamefleet.v1 import autoscaler_pb2, gameserver_pb2

from hub.core import documents
from hub.core.autoscaling import counter as policy
from hub.core.autoscaling.validation import counter_key_problems, validate
from okg import capacity as cap

from .scenarios import cluster, fleet, snapshot

SLOTS = cap.Counter(0, 100)


def counter(size: int | str, low: int = 0, high: int = 100_000) -> autoscaler_pb2.CounterPolicy:
    doc = {"key": "players", "bufferSize": size, "minCapacity": low, "maxCapacity": high}
    return documents.from_document(doc, autoscaler_pb2.CounterPolicy)


def server(count: int = 0, capacity: int = 100, cluster: str = "eu") -> policy.CounterServer:
    return policy.CounterServer(cluster, count, capacity, in_use=count > 0)


def replicas(
    size: int | str,
    servers: list[policy.CounterServer],
    low: int = 0,
    high: int = 100_000,
    template: cap.Counter = SLOTS,
) -> tuple[int, str]:
    outcome = policy.replicas_for(counter(size, low, high), template, servers)
    return outcome.replicas, outcome.limited


@pytest.mark.parametrize(
    ("servers", "wanted"),
    [
        pytest.param([], 2, id="from-none-200-free-is-2-servers"),
        pytest.param([server(100), server(100), server(50)], 5, id="50-free-needs-2-more"),
        pytest.param([server(100), server(0), server(0)], 3, id="at-the-buffer"),
        pytest.param([server(30), server(0), server(0), server(0), server(0)], 3, id="removes-2"),
        pytest.param([server(1)] * 6, 6, id="in-use-servers-never-removed"),
    ],
)
def test_a_count_buffer_keeps_that_many_free_slots(
    servers: list[policy.CounterServer], wanted: int
) -> None:
    assert replicas(200, servers) == (wanted, "")


def test_a_removal_never_takes_the_free_slots_below_the_buffer() -> None:
    # 470 free; each idle server holds 100: three removals would leave 170.
    servers = [server(30), *[server(0)] * 4]
    assert replicas(200, servers)[0] == 3
    # A smaller idle server is kept rather than a larger one assumed gone.
    mixed = [server(30), server(0, 50), server(0, 150), server(0, 100)]
    assert replicas(200, mixed)[0] == 3


@pytest.mark.parametrize(
    ("counts", "wanted"),
    [
        pytest.param([100, 0], 2, id="100-of-200-is-50%-free"),
        pytest.param([100, 50], 3, id="150-used-needs-300"),
        pytest.param([10, 0, 0, 0], 1, id="10-used-needs-20-so-1-server"),
    ],
)
def test_a_percent_buffer_keeps_that_share_of_the_capacity_free(
    counts: list[int], wanted: int
) -> None:
    assert replicas("50%", [server(c) for c in counts], low=1)[0] == wanted


def test_a_new_server_brings_its_template_capacity_less_its_starting_count() -> None:
    # Each new server starts with 10 of 100 taken: 90 free each.
    assert replicas(200, [], template=cap.Counter(10, 100)) == (3, "")
    # 50%: each new server adds 100 capacity and 10 count; 150 used of 200 → 2 more.
    assert replicas("50%", [server(100), server(50)], low=1, template=cap.Counter(10, 100))[0] == 4


def test_min_and_max_capacity_bound_the_total() -> None:
    assert replicas(10, [], low=500) == (5, "minCapacity 500")
    assert replicas(200, [server(100), server(100)], high=300) == (3, "maxCapacity 300")
    # Above maxCapacity, idle servers go until it holds, then as the buffer allows.
    assert replicas(100, [server(0)] * 6, high=300) == (1, "")
    assert replicas(10, [server(0)] * 6, low=400)[0] == 4
    # Only servers in use are left above maxCapacity: nothing more to remove.
    assert replicas(10, [server(1)] * 4, high=300) == (4, "maxCapacity 300 (the rest is in use)")


def test_a_template_whose_servers_add_no_free_slot_cannot_scale_up() -> None:
    with pytest.raises(policy.CounterPolicyError, match="adds no free capacity"):
        replicas(200, [], template=cap.Counter(100, 100))


def with_counters(counters: dict[str, Any] | None) -> Any:
    template = fleet()
    if counters is not None:
        notes = {cap.DECLARATION: json.dumps({"counters": counters})}
        template.spec.template.game_server_template["metadata"] = {"annotations": notes}
    return template


def test_the_template_declares_the_counter() -> None:
    declared = with_counters({"players": {"capacity": 64, "count": 4}})
    assert policy.template_counter(declared, "players") == cap.Counter(4, 64)
    with pytest.raises(policy.CounterPolicyError, match=r'"rooms" is not a counter.*players'):
        policy.template_counter(declared, "rooms")
    with pytest.raises(policy.CounterPolicyError, match="declares no counters"):
        policy.template_counter(with_counters(None), "players")


def game_server(
    counters: dict[str, tuple[int, int]], ops: str = "None", deleted: bool = False
) -> gameserver_pb2.GameServer:
    found = gameserver_pb2.GameServer(cluster="eu", ops_state=ops, deleted=deleted)
    for name, (count, capacity) in counters.items():
        found.counters[name].count = count
        found.counters[name].capacity = capacity
    return found


def test_the_servers_as_the_policy_reads_them() -> None:
    servers = [
        game_server({"players": (0, 8)}),
        game_server({"players": (0, 8), "rooms": (1, 2)}),  # players on another counter
        game_server({"players": (0, 8)}, ops="Allocated"),
        game_server({"players": (3, 8)}, deleted=True),
        game_server({}),
    ]
    assert policy.counter_servers(servers, "players") == [
        policy.CounterServer("eu", 0, 8, in_use=False),
        policy.CounterServer("eu", 0, 8, in_use=True),
        policy.CounterServer("eu", 0, 8, in_use=True),
        policy.CounterServer("eu", 0, 0, in_use=False),
    ]


def test_over_clusters_servers_in_use_stay_where_they_are() -> None:
    state = snapshot(cluster("eu", allocated=1, assigned=4), cluster("us", assigned=4))
    state = type(state)(with_counters({"players": {"capacity": 100}}), state.clusters)
    servers = [server(90, cluster="eu"), *[server(0, cluster="eu")] * 3]
    servers += [server(80, cluster="us"), server(70, cluster="us"), server(0, cluster="us")]
    floored = policy.with_in_use_floors(state, servers)
    assert {c.name: c.allocated for c in floored.clusters} == {"eu": 1, "us": 2}
    result = policy.recommend_counter(counter(250), floored, servers)
    # 700 slots, 240 used, 460 free: two idle servers go (260 free), 5 servers stay.
    assert result.total == 5
    assert result.clusters["us"] >= 2
    assert sum(result.clusters.values()) == 5
    assert "players: 240/700 used, 460 free, buffer 250: 7-2 servers" in result.detail


def autoscaler(policy_doc: dict[str, Any]) -> autoscaler_pb2.FleetAutoscaler:
    doc = {
        "metadata": {"name": "arena", "namespace": "games"},
        "spec": {"fleetName": "arena", "policy": policy_doc},
    }
    return documents.from_document(doc, autoscaler_pb2.FleetAutoscaler)


COUNTER = {"type": "Counter", "counter": {"key": "players", "bufferSize": 200, "maxCapacity": 5000}}


def test_a_valid_counter_policy() -> None:
    assert validate(autoscaler(COUNTER)) == []
    chained = {"type": "Chain", "chain": [{"id": "slots", **COUNTER}]}
    assert validate(autoscaler(chained)) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"key": ""}, "spec.policy.counter.key: is required"),
        ({"key": "-x"}, 'spec.policy.counter.key: "-x": must be 1-63'),
        ({"bufferSize": 0}, "spec.policy.counter.bufferSize: 0 must be at least 1"),
        ({"bufferSize": "100%"}, 'spec.policy.counter.bufferSize: "100%" must be a percentage'),
        ({"maxCapacity": 0}, "spec.policy.counter.maxCapacity: 0 must be between 1 and"),
        ({"maxCapacity": 100}, "spec.policy.counter.maxCapacity: 100 is below bufferSize (200)"),
        ({"minCapacity": 6000}, "spec.policy.counter.maxCapacity: 5000 is below minCapacity"),
        ({"minCapacity": 100}, "spec.policy.counter.minCapacity: 100 is below bufferSize (200)"),
        ({"minCapacity": -1}, "spec.policy.counter.minCapacity: -1 is negative"),
        ({"bufferSize": "10%"}, "spec.policy.counter.minCapacity: must be at least 1 with a perc"),
    ],
)
def test_each_bad_counter_field_is_named(fields: dict[str, Any], message: str) -> None:
    doc = {"type": "Counter", "counter": {**COUNTER["counter"], **fields}}  # type: ignore[dict-item]
    found = [str(p) for p in validate(autoscaler(doc))]
    assert any(p.startswith(message) for p in found), found


def test_the_key_must_be_a_counter_of_the_template() -> None:
    declared = cap.Capacity({"rooms": cap.Counter(0, 4)})
    chained = {
        "type": "Chain",
        "chain": [
            {"id": "slots", **COUNTER},
            {
                "id": "evening",
                "type": "Schedule",
                "schedule": {"policy": COUNTER},
            },
        ],
    }
    assert [str(p) for p in counter_key_problems(autoscaler(chained), declared)] == [
        'spec.policy.chain[0].counter.key: "players" is not a counter of the template'
        " (its counters: rooms)",
        'spec.policy.chain[1].schedule.policy.counter.key: "players" is not a counter of the'
        " template (its counters: rooms)",
    ]
    assert counter_key_problems(autoscaler(COUNTER), None)[0].path == "spec.policy.counter.key"
    players = cap.Capacity({"players": cap.Counter(0, 4)})
    assert counter_key_problems(autoscaler(COUNTER), players) == []
