"""Allocation near the players with the real hub and simulated agents: the request names the
players' region or round-trip times per region, the hub picks the cluster (by its "region"
label); the answer carries the server's global address."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import grpc
import pytest
from gamefleet.v1 import agent_pb2, allocation_pb2

from cli import main as cli_main
from tests.support.agent_sim import game_server

from .test_allocation import allocated, allocations, arena, refused, request, serve

if TYPE_CHECKING:
    from hub.api.server import Hub

    from .conftest import StartAgent
    from .test_allocation import Stub

__all__ = ["allocations", "arena"]


@pytest.mark.usefixtures("arena")
async def test_the_cluster_nearest_the_players_is_chosen(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    # Without a hint the hub packs by name: a-1 (us-east-1) would come first.
    us = await start_agent("a-1", region="us-east-1")
    eu = await start_agent("b-1", region="eu-west-1")
    ap = await start_agent("c-1", region="ap-south-1")
    await serve(hub, us, 2, start=0)
    await serve(hub, eu, 2, start=2)
    await serve(hub, ap, 1, start=4)
    assert await allocated(allocations, "m1", players_region="eu-west-1") == "b-1/arena-2"
    latency = {"us-east-1": 95.0, "ap-south-1": 12.5, "eu-west-1": 40.0}
    assert await allocated(allocations, "m2", region_latency_ms=latency) == "c-1/arena-4"
    # The fastest region is full: the next fastest.
    assert await allocated(allocations, "m3", region_latency_ms=latency) == "b-1/arena-3"
    # The caller's own preferred clusters stay first.
    assert (
        await allocated(allocations, "m4", preferred_clusters=["a-1"], players_region="eu-west-1")
        == "a-1/arena-0"
    )
    # The players' region is full: any other cluster still serves the match.
    assert await allocated(allocations, "m5", players_region="eu-west-1") == "a-1/arena-1"


@pytest.mark.usefixtures("arena")
async def test_the_answer_carries_the_global_address(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    eu = await start_agent("eu-1", region="eu-west-1")
    gs = game_server("games", "arena", 0)
    gs.network_status.update({
        "currentNetworkState": "Ready",
        "externalAddresses": [{"ip": "", "endPoint": "game-a.elb.eu-west-1.amazonaws.com",
                               "ports": [{"name": "7777", "protocol": "UDP", "port": 30003}]}],
        "globalAddresses": [{"ip": "75.2.0.1", "endPoint": "a1.awsglobalaccelerator.com",
                             "ports": [{"name": "7777", "protocol": "UDP", "port": 30003}]}],
    })  # fmt: skip
    eu.report(agent_pb2.StatusDelta(game_servers=[gs]))
    await serve(hub, eu, 1, start=1)
    response = await allocations.Allocate(request("m1", players_region="eu-west-1"))
    assert response.game_server.name == "arena-0"
    assert response.global_address == "75.2.0.1:30003"
    plain = await allocations.Allocate(request("m2"))
    assert (plain.game_server.name, plain.global_address) == ("arena-1", "")


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"players_region": "eu west"}, "players_region"),
        ({"region_latency_ms": {"eu-west-1": -1.0}}, 'region_latency_ms["eu-west-1"]'),
        ({"region_latency_ms": {"eu-west-1": float("nan")}}, 'region_latency_ms["eu-west-1"]'),
        ({"region_latency_ms": {"eu-west-1": 1e9}}, 'region_latency_ms["eu-west-1"]'),
        ({"region_latency_ms": {"": 5.0}}, 'region_latency_ms[""]'),
        ({"region_latency_ms": {f"r{i}": 1.0 for i in range(1001)}}, "region_latency_ms"),
    ],
)
@pytest.mark.usefixtures("arena")
async def test_bad_player_fields_are_refused_naming_the_field(
    allocations: Stub, fields: dict[str, object], path: str
) -> None:
    message: allocation_pb2.AllocateRequest = request("m1")
    for name, value in fields.items():
        if isinstance(value, dict):
            getattr(message, name).update(value)
        else:
            setattr(message, name, value)
    error = await refused(allocations, message)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (error.details() or "").startswith(f"{path}:")


@pytest.mark.usefixtures("arena")
async def test_the_cli_passes_the_players_region_and_prints_the_global_address(
    hub: Hub, start_agent: StartAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    us = await start_agent("a-1", region="us-east-1")
    eu = await start_agent("b-1", region="eu-west-1")
    await serve(hub, us, 1, start=0)
    gs = game_server("games", "arena", 1)
    gs.network_status.update({
        "currentNetworkState": "Ready",
        "globalAddresses": [{"ip": "75.2.0.9", "ports": [{"port": 30001}]}],
    })  # fmt: skip
    eu.report(agent_pb2.StatusDelta(game_servers=[gs]))
    await serve(hub, eu, 1, start=2)
    argv = ["allocate", "-n", "games", "arena", "--request-id", "m1", "--hub"]
    argv += [f"127.0.0.1:{hub.port}", "--latency", "eu-west-1=20", "--latency", "us-east-1=90"]
    code = await asyncio.to_thread(cli_main.main, [*argv, "-o", "json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["gameServer"]["cluster"], printed["gameServer"]["name"]) == ("b-1", "arena-1")
    assert printed["globalAddress"] == "75.2.0.9:30001"
    code = await asyncio.to_thread(cli_main.main, [*argv[:-4], "--latency", "eu=fast"])
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        "error: --latency: 'fast' is not a number of milliseconds"
    )
