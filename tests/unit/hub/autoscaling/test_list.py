"""Agones' List policy: the Counter policy's buffer math over a list, whose count is its number
of values and whose capacity is the list's. State in and state out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gamefleet.v1 import autoscaler_pb2, gameserver_pb2

from hub.core import documents
from hub.core.autoscaling import counter, reports
from hub.core.autoscaling.demand import FleetSnapshot
from hub.core.autoscaling.policy import Policy
from hub.core.autoscaling.validation import counter_key_problems, validate
from okg import capacity as cap

from .scenarios import cluster, fleet

ROOMS = 4


def rooms_policy(size: int | str, low: int = 0, high: int = 1000) -> autoscaler_pb2.ListPolicy:
    doc = {"key": "rooms", "bufferSize": size, "minCapacity": low, "maxCapacity": high}
    return documents.from_document(doc, autoscaler_pb2.ListPolicy)


def declaring(lists: dict[str, Any], counters: dict[str, Any] | None = None) -> Any:
    template = fleet()
    declared = {"lists": lists, "counters": counters or {}}
    notes = {cap.DECLARATION: json.dumps(declared)}
    template.spec.template.game_server_template["metadata"] = {"annotations": notes}
    return template


def game_server(
    values: tuple[str, ...] = (),
    capacity: int = ROOMS,
    where: str = "eu",
    players: int = 0,
) -> gameserver_pb2.GameServer:
    """A server whose "rooms" list holds ``values``, beside a "rooms" counter of ``players``
    (the same name, which the List policy must not read)."""
    found = gameserver_pb2.GameServer(cluster=where)
    found.lists["rooms"].capacity = capacity
    found.lists["rooms"].values.extend(values)
    found.counters["rooms"].count = players
    found.counters["rooms"].capacity = 1000
    return found


def state(*assigned: tuple[str, int]) -> FleetSnapshot:
    template = declaring({"rooms": {"capacity": ROOMS}})
    return FleetSnapshot(template, tuple(cluster(n, assigned=a, region=n) for n, a in assigned))


def decide(
    policy: autoscaler_pb2.ListPolicy, servers: list[gameserver_pb2.GameServer], assigned: int
) -> tuple[int, str]:
    """The List policy's total as the runtime computes it, from the servers' reports."""
    snap = state(("eu", assigned))
    read = counter.counter_servers(servers, "rooms", counter.LIST)
    read = reports.vouched_servers(read, snap, "rooms", counter.LIST)
    template = counter.template_counter(snap.fleet, "rooms", counter.LIST)
    outcome = counter.replicas_for(policy, template, read)
    return outcome.replicas, outcome.limited


def test_a_lists_count_is_its_values_and_its_capacity_the_lists() -> None:
    servers = [game_server(("a", "b", "c")), game_server(()), game_server(players=7)]
    assert counter.counter_servers(servers, "rooms", counter.LIST) == [
        counter.CounterServer("eu", 3, ROOMS, in_use=True),
        counter.CounterServer("eu", 0, ROOMS, in_use=False),
        # Players on the counter of the same name: in use, but none of the list taken.
        counter.CounterServer("eu", 0, ROOMS, in_use=True),
    ]


@pytest.mark.parametrize(
    ("values", "wanted"),
    [
        pytest.param([], 2, id="from-none-6-free-rooms-is-2-servers"),
        pytest.param([4, 4, 3], 5, id="1-free-needs-2-more"),
        pytest.param([2, 0, 0, 0], 2, id="removes-two-idle-keeps-6-free"),
        pytest.param([1] * 5, 5, id="servers-with-values-never-removed"),
    ],
)
def test_a_count_buffer_keeps_that_many_free_list_slots(values: list[int], wanted: int) -> None:
    servers = [game_server(tuple(f"r{i}" for i in range(n))) for n in values]
    assert decide(rooms_policy(6), servers, assigned=len(servers)) == (wanted, "")


def test_a_percent_buffer_keeps_that_share_of_the_lists_capacity_free() -> None:
    # 6 of 8 taken: 50% free needs 12 slots, one server more.
    servers = [game_server(("a", "b", "c", "d")), game_server(("e", "f"))]
    assert decide(rooms_policy("50%", low=1), servers, assigned=2)[0] == 3


def test_min_and_max_capacity_bound_the_lists_total() -> None:
    assert decide(rooms_policy(1, low=20), [], assigned=0) == (5, "minCapacity 20")
    full = [game_server(("a", "b", "c", "d"))] * 2
    assert decide(rooms_policy(8, high=12), full, assigned=2) == (3, "maxCapacity 12")


def test_the_template_declares_the_list() -> None:
    declared = declaring({"rooms": {"capacity": 8, "values": ["lobby"]}}, {"players": {}})
    assert counter.template_counter(declared, "rooms", counter.LIST) == cap.Counter(1, 8)
    with pytest.raises(counter.CounterPolicyError, match=r'"players" is not a list.*: rooms\)'):
        counter.template_counter(declared, "players", counter.LIST)


def test_a_servers_list_counts_within_the_templates_capacity_and_the_clusters_share() -> None:
    snap = state(("eu", 2))
    raised = counter.CounterServer("eu", 900, 1000, in_use=True)
    idle = counter.CounterServer("eu", 0, 1000, in_use=False)
    kept = reports.vouched_servers([raised, idle, idle], snap, "rooms", counter.LIST)
    assert kept == [
        counter.CounterServer("eu", ROOMS, ROOMS, in_use=True),
        counter.CounterServer("eu", 0, ROOMS, in_use=False),
    ]


def autoscaler(policy_doc: dict[str, Any]) -> autoscaler_pb2.FleetAutoscaler:
    doc = {
        "metadata": {"name": "arena", "namespace": "games"},
        "spec": {"fleetName": "arena", "policy": policy_doc},
    }
    return documents.from_document(doc, autoscaler_pb2.FleetAutoscaler)


LIST = {"type": "List", "list": {"key": "rooms", "bufferSize": 6, "maxCapacity": 400}}


def test_a_valid_list_policy_alone_in_a_chain_and_in_a_schedule() -> None:
    assert validate(autoscaler(LIST)) == []
    chained = {
        "type": "Chain",
        "chain": [
            {"id": "evening", "type": "Schedule", "schedule": {"policy": LIST}},
            {"id": "rooms", **LIST},
        ],
    }
    assert validate(autoscaler(chained)) == []
    leaves = Policy.of(autoscaler(chained).spec.policy).applicable(0.0)
    assert [leaf.name for leaf in leaves] == ["Chain[evening]/Schedule/List", "Chain[rooms]/List"]
    assert Policy.of(autoscaler(chained).spec.policy).counted == [(counter.LIST, "rooms")]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"key": ""}, "spec.policy.list.key: is required: a list of the template"),
        ({"bufferSize": 0}, "spec.policy.list.bufferSize: 0 must be at least 1"),
        ({"maxCapacity": 0}, "spec.policy.list.maxCapacity: 0 must be between 1 and"),
        ({"maxCapacity": 2}, "spec.policy.list.maxCapacity: 2 is below bufferSize (6)"),
        ({"minCapacity": 3}, "spec.policy.list.minCapacity: 3 is below bufferSize (6)"),
        ({"bufferSize": "10%"}, "spec.policy.list.minCapacity: must be at least 1 with a perc"),
        # A list holds at most 1,000 values a server: 10**12 is beyond any fleet's.
        ({"maxCapacity": 10**12}, "spec.policy.list.maxCapacity: 1000000000000 must be between"),
    ],
)
def test_each_bad_list_field_is_named(fields: dict[str, Any], message: str) -> None:
    doc = {"type": "List", "list": {**LIST["list"], **fields}}  # type: ignore[dict-item]
    found = [str(p) for p in validate(autoscaler(doc))]
    assert any(p.startswith(message) for p in found), found


def test_a_list_field_under_another_type_is_named() -> None:
    doc = {"type": "Counter", "counter": {"key": "rooms", "bufferSize": 1, "maxCapacity": 9}}
    doc["list"] = LIST["list"]
    assert [str(p) for p in validate(autoscaler(doc))] == [
        "spec.policy.list: is set, but type is Counter"
    ]


def test_the_key_must_be_a_list_of_the_template() -> None:
    declared = cap.Capacity({"rooms": cap.Counter(0, 4)}, {"players": cap.CounterList(8)})
    assert [str(p) for p in counter_key_problems(autoscaler(LIST), declared)] == [
        'spec.policy.list.key: "rooms" is not a list of the template (its lists: players)'
    ]
    with_rooms = cap.Capacity({}, {"rooms": cap.CounterList(4)})
    assert counter_key_problems(autoscaler(LIST), with_rooms) == []
