"""The hub's /metrics is valid Prometheus exposition (`promtool check metrics`, the pinned
promtool) and holds every series the hub's Grafana board queries."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from gamefleet.v1 import agent_pb2, fleet_pb2

from tests.support import exposition
from tests.support.agent_sim import game_server, set_status

from .fleet_docs import fleet
from .test_metrics import hub  # noqa: F401  (this module's hub serves metrics)

if TYPE_CHECKING:
    from gamefleet.v1 import fleet_pb2_grpc

    from hub.api.server import Hub

    from .conftest import StartAgent


async def test_the_hubs_exposition_is_valid_and_holds_what_its_board_queries(
    hub: Hub,  # noqa: F811
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=3)))
    agent = await start_agent("eu", region="eu-west-1")
    await agent.wait_for(lambda: ("games", "arena") in agent.sets)
    agent.report(
        agent_pb2.StatusDelta(
            sets=[set_status(agent.sets[("games", "arena")], ready=3)],
            game_servers=[game_server("games", "arena", i) for i in range(3)],
        )
    )
    assert hub.metrics_port is not None
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{hub.metrics_port}/metrics") as answer,
    ):
        text = await answer.text()
    checked = exposition.check_metrics(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = exposition.sample_names(text)
    board = exposition.dashboards()["gamefleet-hub.json"]
    queried = set().union(*map(exposition.metric_names, exposition.expressions(board)))
    assert queried <= names, f"not in the hub's exposition: {sorted(queried - names)}"
