"""What an agent may send: each check names the field it refuses."""

from __future__ import annotations

from gamefleet.v1 import agent_pb2, gameserver_pb2

from hub.core import agent_limits
from hub.federation.live_servers import LiveServer

LIMITS = agent_limits.DEFAULT_LIMITS


def test_a_valid_hello_and_server_pass() -> None:
    hello = agent_pb2.AgentHello(cluster="eu-1", labels={"region": "eu"}, agent_version="0.1.0")
    hello.held_sets.add(namespace="games", name="arena", hash="h", replicas=3)
    assert agent_limits.hello_refusal(hello, LIMITS) is None
    server = gameserver_pb2.GameServer(namespace="games", name="arena-0", state="Ready")
    assert agent_limits.game_server_refusal(LiveServer.of(server, "eu-1"), 0, LIMITS) is None


def test_refusals_name_the_field_and_its_place() -> None:
    hello = agent_pb2.AgentHello(cluster="eu-1")
    hello.held_sets.add(namespace="games", name="arena", replicas=-1)
    refusal = agent_limits.hello_refusal(hello, LIMITS)
    assert refusal is not None
    assert (refusal.field, refusal.path, refusal.exhausted) == (
        "hello.held_sets.replicas",
        "hello.held_sets[0].replicas",
        False,
    )
    server = gameserver_pb2.GameServer(namespace="games", name="a-1", ops_state="o" * 64)
    refusal = agent_limits.game_server_refusal(LiveServer.of(server, "eu-1"), 7, LIMITS)
    assert refusal is not None
    assert str(refusal) == "status.game_servers[7].ops_state: 64 characters; at most 63"
    assert refusal.exhausted
    server = gameserver_pb2.GameServer(namespace="games", name="a-1", zone="z" * 20_000)
    refusal = agent_limits.game_server_refusal(LiveServer.of(server, "eu-1"), 0, LIMITS)
    assert refusal is not None
    assert str(refusal) == "status.game_servers[0]: 20,016 bytes; at most 16,384 per game server"


def test_a_huge_label_key_is_refused_without_echoing_it() -> None:
    refusal = agent_limits.labels_refusal({"k" * 100_000: "v"}, "hello.labels", 64)
    assert refusal is not None
    assert len(str(refusal)) < 200


def test_an_operation_result_keeps_only_the_servers_asked_about() -> None:
    result = agent_pb2.OperationResult(
        id="op-1",
        updated=["a", "b"],
        conflicts=["c"],
        errors={"a": "x" * 5000, "z": "no"},
        refused={"c": "is Allocated", "y": "is Allocated"},
    )
    kept = agent_limits.within_operation(result, {"a", "c"}, LIMITS)
    assert list(kept.updated) == ["a"]
    assert list(kept.conflicts) == ["c"]
    assert dict(kept.errors) == {"a": "x" * LIMITS.operation_error_chars}
    assert dict(kept.refused) == {"c": "is Allocated"}


def test_sums_saturate_within_int32() -> None:
    assert agent_limits.saturating_sum(2**31 - 10, 2**31 - 10) == 2**31 - 1
    assert agent_limits.saturating_sum(3, 4) == 7


def _server_with(counters: dict[str, tuple[int, int]]) -> gameserver_pb2.GameServer:
    server = gameserver_pb2.GameServer(namespace="games", name="a-1", state="Ready")
    for name, (count, capacity) in counters.items():
        server.counters[name].CopyFrom(gameserver_pb2.CounterStatus(count=count, capacity=capacity))
    return server


def test_counters_and_lists_within_the_models_bounds_pass() -> None:
    server = _server_with({"players": (3, 10)})
    server.lists["ids"].CopyFrom(gameserver_pb2.ListStatus(capacity=2, values=["p1"]))
    assert agent_limits.game_server_refusal(LiveServer.of(server, "eu-1"), 0, LIMITS) is None


def test_counters_beyond_the_models_bounds_are_refused_naming_the_counter() -> None:
    # Capacities are summed across clusters (autoscaling by counter, allocation by room): one
    # agent's inflated or negative counts would move every cluster's share.
    cases = {
        'status.game_servers[4].counters["players"].capacity': _server_with(
            {"players": (0, 2**40)}
        ),
        'status.game_servers[4].counters["players"].count': _server_with({"players": (-1, 10)}),
        'status.game_servers[4].counters["bad name!"]': _server_with({"bad name!": (0, 1)}),
    }
    for path, server in cases.items():
        refusal = agent_limits.game_server_refusal(LiveServer.of(server, "eu-1"), 4, LIMITS)
        assert refusal is not None and refusal.path == path, (path, refusal)
        assert refusal.field == "status.game_servers.counters"
    listed = gameserver_pb2.GameServer(namespace="games", name="a-1")
    listed.lists["ids"].CopyFrom(gameserver_pb2.ListStatus(capacity=1, values=["p1", "p2"]))
    refusal = agent_limits.game_server_refusal(LiveServer.of(listed, "eu-1"), 0, LIMITS)
    assert refusal is not None
    assert (refusal.field, refusal.path) == (
        "status.game_servers.lists",
        'status.game_servers[0].lists["ids"].values',
    )


def test_a_written_server_in_an_operation_result_is_bounded() -> None:
    result = agent_pb2.OperationResult(id="op-1", updated=["a-1"])
    result.written["a-1"].CopyFrom(_server_with({"rooms": (5, 4)}))
    refusal = agent_limits.operation_result_refusal(result, LIMITS)
    assert refusal is not None
    assert str(refusal) == (
        'operation_result.written["a-1"].counters["rooms"].count: 5 must be between 0 and the '
        "capacity"
    )
    result.written["a-1"].CopyFrom(gameserver_pb2.GameServer(zone="z" * 20_000))
    refusal = agent_limits.operation_result_refusal(result, LIMITS)
    assert refusal is not None and refusal.exhausted
    result.written["a-1"].CopyFrom(_server_with({"rooms": (4, 4)}))
    assert agent_limits.operation_result_refusal(result, LIMITS) is None
