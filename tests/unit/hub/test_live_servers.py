"""The hub's compact form of a reported game server: what it reads often, the rest as bytes."""

from __future__ import annotations

import gc
import weakref

from gamefleet import protocol
from gamefleet.v1 import gameserver_pb2

from hub.federation.live_servers import LiveServer


def reported(name: str = "arena-0", **labels: str) -> gameserver_pb2.GameServer:
    server = gameserver_pb2.GameServer(
        namespace="games",
        name=name,
        fleet="arena",
        state="Ready",
        ops_state="None",
        node="node-1",
        labels={"game.kruise.io/owner-gss": "arena", **labels},
        allocation_request_id="m-1",
    )
    server.network_status.update({"currentNetworkState": "Ready"})
    return server


def test_decodes_to_the_reported_server_with_its_cluster() -> None:
    held = LiveServer.of(reported(), "eu-1")
    server = held.decode()
    expected = reported()
    expected.cluster = "eu-1"
    assert server == expected
    assert (held.cluster, held.name, held.fleet, held.allocation_request_id) == (
        "eu-1", "arena-0", "arena", "m-1",
    )  # fmt: skip
    assert (held.view.state, held.view.ops_state, held.view.node) == ("Ready", "None", "node-1")
    assert held.decode() is not server  # each caller gets its own message


def test_the_status_hash_is_the_agents_whatever_cluster_field_arrived() -> None:
    bare = reported()
    assert LiveServer.of(bare, "eu-1").status_hash() == protocol.status_hash(bare)
    stamped = reported()
    stamped.cluster = "elsewhere"
    held = LiveServer.of(stamped, "eu-1")
    assert held.status_hash() == protocol.status_hash(bare)
    assert held.decode().cluster == "eu-1"


def test_equal_label_sets_are_shared_and_released_with_their_last_server() -> None:
    first = LiveServer.of(reported("arena-0", team="red"), "eu-1")
    second = LiveServer.of(reported("arena-1", team="red"), "eu-1")
    other = LiveServer.of(reported("arena-2", team="blue"), "eu-1")
    assert first.labels is second.labels
    assert first.labels is not other.labels
    assert dict(first.labels) == {"game.kruise.io/owner-gss": "arena", "team": "red"}
    red = weakref.ref(first.labels)
    del first, second
    gc.collect()
    assert red() is None
    assert LiveServer.of(reported("arena-3", team="blue"), "eu-1").labels is other.labels
