"""The web console's server: its live stream follows the API's watches, every page shares one
set of them, it takes the API's tokens, and it changes nothing."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from gamefleet.v1 import agent_pb2, fleet_pb2

from hub.api.server import Hub, HubConfig
from hub.console import feed as console_feed
from hub.console.server import COOKIE, Console
from tests.support.agent_sim import SimulatedAgent, game_server, set_status
from tests.support.hub_process import run_cli

from .conftest import TEST_HEALTH, StartAgent
from .fleet_docs import fleet

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from gamefleet.v1 import fleet_pb2_grpc

    FleetStub = fleet_pb2_grpc.FleetServiceAsyncStub

TOKEN = "s3cret-console-token"
PLACEMENT = {"clusters": [{"name": "eu", "weight": 1}, {"name": "us", "weight": 1}]}


class Stream:
    """The frames of one /api/stream response, by event name."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.seen: list[tuple[str, Any]] = []
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        kind, data = "", ""
        async for raw in self.response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
            elif not line and kind:
                self.seen.append((kind, json.loads(data)))
                self._arrived.set()
                kind, data = "", ""

    async def until(self, kind: str, holds: Any, what: str, timeout: float = 10.0) -> Any:
        """The first frame so far, or to come, of ``kind`` for which ``holds(data)``."""
        checked = 0
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for got, data in self.seen[checked:]:
                        if got == kind and holds(data):
                            return data
                    checked = len(self.seen)
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise AssertionError(f"no {kind} frame with {what}") from None

    async def close(self) -> None:
        self._task.cancel()
        self.response.close()


@pytest.fixture
async def console(hub: Hub) -> AsyncIterator[Console]:
    served = Console(hub, console_feed.Feed(hub, flush_interval=0.05, cluster_interval=0.2))
    await served.start("127.0.0.1:0")
    yield served
    await served.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _url(console: Console, path: str) -> str:
    return f"http://127.0.0.1:{console.port}{path}"


async def _stream(
    http: aiohttp.ClientSession, console: Console, query: str = "", **kwargs: Any
) -> Stream:
    response = await http.get(_url(console, f"/api/stream{query}"), **kwargs)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "text/event-stream"
    return Stream(response)


def _by_name(servers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{s['cluster']}/{s['name']}": s for s in servers}


async def _fleet_of_six(
    fleets: FleetStub, start_agent: StartAgent
) -> tuple[SimulatedAgent, SimulatedAgent]:
    await fleets.ApplyFleet(
        fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=6, placement=PLACEMENT))
    )
    eu = await start_agent("eu", region="eu-west-1")
    us = await start_agent("us", region="us-east-1")
    for agent in (eu, us):
        await agent.wait_for(functools.partial(dict.__contains__, agent.sets, ("games", "arena")))
        servers = [game_server("games", "arena", i) for i in range(3)]
        counts = set_status(agent.sets[("games", "arena")], ready=3)
        agent.report(agent_pb2.StatusDelta(sets=[counts], game_servers=servers))
    return eu, us


async def _servers_listed(stream: Stream, count: int) -> dict[str, dict[str, Any]]:
    servers: dict[str, dict[str, Any]] = {}

    def listed(data: dict[str, Any]) -> bool:
        assert data["fleet"] == ["games", "arena"]
        if data["reset"]:
            servers.clear()
        servers.update(_by_name(data["upsert"]))
        return len(servers) == count

    await stream.until("servers", listed, f"{count} servers of arena")
    return servers


async def test_the_stream_shows_fleets_clusters_and_servers_and_follows_changes(
    console: Console, http: aiohttp.ClientSession, fleets: FleetStub, start_agent: StartAgent
) -> None:
    eu, _ = await _fleet_of_six(fleets, start_agent)
    stream = await _stream(http, console, "?fleet=games/arena")
    try:
        clusters = await stream.until("clusters", lambda d: len(d) == 2, "both clusters")
        assert {c["name"]: (c["region"], c["phase"]) for c in clusters} == {
            "eu": ("eu-west-1", "Ready"),
            "us": ("us-east-1", "Ready"),
        }
        assert all(c["lastHeartbeat"] for c in clusters)
        fleet_frame = await stream.until(
            "fleets",
            lambda d: any(f["counts"]["ready"] == 6 for f in d["upsert"]),
            "arena's 6 Ready servers",
        )
        (arena,) = fleet_frame["upsert"]
        assert {c["cluster"]: c["counts"]["ready"] for c in arena["clusters"]} == {
            "eu": 3,
            "us": 3,
        }
        servers = await _servers_listed(stream, 6)
        assert servers["eu/arena-1"]["state"] == "Ready"

        # An agent reports a change: the open stream carries it.
        eu.report(
            agent_pb2.StatusDelta(
                sets=[set_status(eu.sets[("games", "arena")], ready=2)],
                game_servers=[game_server("games", "arena", 1, state="NotReady")],
            )
        )
        changed = await stream.until(
            "servers",
            lambda d: _by_name(d["upsert"]).get("eu/arena-1", {}).get("state") == "NotReady",
            "eu/arena-1 NotReady",
        )
        assert not changed["reset"]
        assert list(_by_name(changed["upsert"])) == ["eu/arena-1"]
        await stream.until(
            "fleets",
            lambda d: any(f["counts"]["ready"] == 5 for f in d["upsert"]),
            "arena's Ready count down to 5",
        )
    finally:
        await stream.close()


async def test_every_page_shares_one_set_of_watches(
    hub: Hub,
    console: Console,
    http: aiohttp.ClientSession,
    fleets: FleetStub,
    start_agent: StartAgent,
) -> None:
    await _fleet_of_six(fleets, start_agent)
    federation = hub.gate.federation
    assert federation is not None
    watchers = federation._server_broadcast._watchers
    status_watchers = federation._broadcast._watchers
    # The fleet autoscalers watch fleet status too.
    before = len(status_watchers)
    assert not watchers
    streams = [await _stream(http, console, "?fleet=games/arena") for _ in range(10)]
    try:
        for stream in streams:
            await _servers_listed(stream, 6)
        # One WatchGameServers and one WatchFleets for the ten pages.
        assert (len(watchers), len(status_watchers) - before) == (1, 1)
    finally:
        for stream in streams:
            await stream.close()

    for _ in range(500):  # up to 10 s: the streams' handlers end as their connections close
        if not (console.feed.pages or watchers or len(status_watchers) > before):
            break
        await asyncio.sleep(0.02)
    assert not console.feed.pages
    assert (len(watchers), len(status_watchers)) == (0, before)


async def test_a_page_that_cannot_keep_up_is_let_go() -> None:
    page = console_feed.Page(None)
    for _ in range(console_feed.QUEUE_FRAMES + 1):
        page.send(b"event: x\ndata: {}\n\n")
    assert page.dropped
    assert page.frames.get_nowait() is None
    assert page.frames.empty()


async def test_the_console_changes_nothing(console: Console, http: aiohttp.ClientSession) -> None:
    for method in ("PUT", "PATCH", "POST"):
        for path in ("/", "/api/stream", "/static/console.js"):
            async with http.request(method, _url(console, path)) as answer:
                assert answer.status == 405, (method, path)


async def test_a_bad_fleet_is_refused_naming_the_parameter(
    console: Console, http: aiohttp.ClientSession
) -> None:
    async with http.get(_url(console, "/api/stream?fleet=arena")) as answer:
        assert answer.status == 400
        assert (await answer.json())["error"] == "fleet: 'arena' is not NAMESPACE/NAME"
    async with http.get(_url(console, "/api/stream?fleet=games/Not_A_Name")) as answer:
        assert answer.status == 400
        assert (await answer.json())["error"].startswith("fleet: ")


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[Console]:
    """A hub with a token file (in clear text: insecure) and its console."""
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{TOKEN},alice\n")
    hub = Hub(
        HubConfig(
            store_url=f"sqlite:///{tmp_path / 'hub.db'}",
            listen="127.0.0.1:0",
            token_file=tokens,
            insecure=True,
            health=TEST_HEALTH,
        )
    )
    await hub.start()
    served = Console(hub)
    await served.start("127.0.0.1:0")
    yield served
    await served.stop()
    await hub.stop(grace=0)


async def test_the_console_takes_the_apis_tokens(
    guarded: Console, http: aiohttp.ClientSession
) -> None:
    # The page itself holds no data: a browser without a token gets its sign-in form.
    async with http.get(_url(guarded, "/")) as answer:
        assert answer.status == 200
        assert 'id="sign-in"' in await answer.text()
    for headers, reason in (
        ({}, "missing bearer token"),
        ({"Authorization": "Bearer wrong"}, "invalid bearer token"),
    ):
        for path in ("/api/stream", "/api/session"):
            async with http.get(_url(guarded, path), headers=headers) as answer:
                assert answer.status == 401, path
                assert (await answer.json())["error"] == reason
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with http.get(_url(guarded, "/api/session"), headers=bearer) as answer:
        assert await answer.json() == {"auth": True, "user": "alice"}
    stream = await _stream(http, guarded, headers=bearer)
    await stream.until("status", lambda d: d["ok"], "status ok")
    await stream.close()

    # A browser signs in once; the cookie then carries the token (EventSource sends no headers).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.post(
            _url(guarded, "/api/session"), headers={"Authorization": "Bearer wrong"}
        ) as answer:
            assert answer.status == 401
        assert not list(browser.cookie_jar)
        async with browser.post(_url(guarded, "/api/session"), headers=bearer) as answer:
            assert answer.status == 200
            cookie = answer.cookies[COOKIE]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
        stream = await _stream(browser, guarded)
        await stream.until("status", lambda d: d["ok"], "status ok")
        await stream.close()
        async with browser.delete(_url(guarded, "/api/session")) as answer:
            assert answer.status == 200
        async with browser.get(_url(guarded, "/api/stream")) as answer:
            assert answer.status == 401


def test_the_console_flag_wants_a_free_host_and_port(tmp_path: Path) -> None:
    result = run_cli("hub", "serve", "--store", f"sqlite:{tmp_path / 'a.db'}",
                     "--listen", "127.0.0.1:0", "--console-listen", "nonsense")  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: gamefleet hub serve: argument --console-listen: expected HOST:PORT with a port "
        "from 0 to 65535, got 'nonsense'"
    ]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        listen = f"127.0.0.1:{port}"
        result = run_cli("hub", "serve", "--store", f"sqlite:{tmp_path / 'b.db'}",
                         "--listen", "127.0.0.1:0", "--console-listen", listen)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: --console-listen: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
