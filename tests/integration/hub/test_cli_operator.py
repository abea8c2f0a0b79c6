"""An operator's day through the real `gamefleet` CLI, against a hub with simulated agents in
two clusters whose game servers share names (every cluster's `arena` set has an `arena-0`).

Covers the operation guard (a typo'd or un-allocating opsState changes nothing), CLUSTER/NAME
addressing, NOT_FOUND, global flags, --version, the hint when no hub answers, describe with the
hub's events, and `get -w`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from gamefleet.v1 import agent_pb2, gameserver_pb2

from hub.api.server import Hub
from hub.federation.live_servers import ServerFilter
from tests.support.agent_sim import SimulatedAgent, game_server, set_status
from tests.support.hub_process import GAMEFLEET, REPO_ROOT

from .conftest import StartAgent

NAMESPACE = "demo"
FIRST, SECOND = "gamefleet-1", "gamefleet-2"
FLEET = """\
apiVersion: gamefleet.dev/v1
kind: Fleet
metadata: {name: arena, namespace: demo}
spec:
  replicas: 4
  placement:
    clusters: [{name: gamefleet-1}, {name: gamefleet-2}]
  template:
    gameServerTemplate:
      spec:
        containers: [{name: arena, image: arena:1.0}]
"""
WAIT_S = 20.0


@dataclass
class Demo:
    hub: Hub
    first: SimulatedAgent
    second: SimulatedAgent

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.hub.port}"

    async def cli(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        return await gamefleet(*args, "--hub", self.address, stdin=stdin)

    def ops_state(self, cluster: str, name: str) -> str:
        federation = self.hub.gate.federation
        assert federation is not None
        server = federation.game_server(cluster, NAMESPACE, name)
        assert server is not None
        return server.ops_state


async def gamefleet(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run the CLI without blocking the loop the hub and the simulated agents run on."""
    process = await asyncio.create_subprocess_exec(
        *GAMEFLEET,
        *args,
        cwd=REPO_ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(
        process.communicate(stdin.encode() if stdin is not None else None), 60
    )
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not await check():
        assert time.monotonic() < deadline, f"not within {WAIT_S}s: {what}"
        await asyncio.sleep(0.05)


def _report(agent: SimulatedAgent, *servers: gameserver_pb2.GameServer) -> None:
    agent.report(agent_pb2.StatusDelta(game_servers=list(servers)))


@pytest.fixture
async def demo(hub: Hub, start_agent: StartAgent) -> Demo:
    first = await start_agent(FIRST)
    second = await start_agent(SECOND)
    code, _, err = await gamefleet(
        "apply", "-f", "-", "--hub", f"127.0.0.1:{hub.port}", stdin=FLEET
    )
    assert code == 0, err
    for agent in (first, second):
        await agent.wait_for(lambda: (NAMESPACE, "arena") in agent.sets)  # noqa: B023
        desired = agent.sets[(NAMESPACE, "arena")]
        allocated = 1 if agent is first else 0
        agent.report(
            agent_pb2.StatusDelta(sets=[set_status(desired, ready=2, allocated=allocated)])
        )
    _report(
        first,
        game_server(NAMESPACE, "arena", 0),
        game_server(NAMESPACE, "arena", 1, ops_state="Allocated"),
    )
    _report(second, game_server(NAMESPACE, "arena", 0), game_server(NAMESPACE, "arena", 1))
    federation = hub.gate.federation
    assert federation is not None

    async def held() -> bool:
        return len(federation.matching_servers(ServerFilter(namespace=NAMESPACE))) == 4

    await eventually(held, "the hub holds the four reported servers")
    return Demo(hub, first, second)


def _one_line(err: str) -> str:
    assert err.count("\n") == 1, err
    return err


async def test_a_typoed_ops_state_is_refused_and_changes_nothing(demo: Demo) -> None:
    for name in ("arena-1", f"{FIRST}/arena-1"):
        code, out, err = await demo.cli(
            "update", "gameservers", name, "-n", NAMESPACE, "--ops-state", "Maintenance"
        )
        assert (code, out) == (1, "")
        line = _one_line(err)
        assert line.startswith("error: INVALID_ARGUMENT: patch.opsState: ")
        assert '"Maintenance" is not a known opsState' in line and "Maintaining" in line
        assert "--allow-custom-ops-state" in line
    assert demo.first.operations == [] and demo.second.operations == []
    assert demo.ops_state(FIRST, "arena-1") == "Allocated"

    code, out, _ = await demo.cli(
        "update", "gs", f"{SECOND}/arena-1", "-n", NAMESPACE,
        "--ops-state", "Warmup", "--allow-custom-ops-state",
    )  # fmt: skip
    assert (code, out) == (0, f"gameserver/{SECOND}/arena-1 updated\n")
    (operation,) = demo.second.operations
    assert operation.allow_custom_ops_state and operation.patch.ops_state == "Warmup"


async def test_an_allocated_server_leaves_allocated_only_with_force(demo: Demo) -> None:
    code, out, err = await demo.cli(
        "update", "gs", f"{FIRST}/arena-1", "-n", NAMESPACE, "--ops-state", "Maintaining"
    )
    assert (code, out) == (1, "")
    line = _one_line(err)
    assert line.startswith(f"error: {FIRST}/arena-1: is Allocated")
    assert "--force" in line
    assert demo.first.operations == []
    assert demo.ops_state(FIRST, "arena-1") == "Allocated"

    # A selection acts on every match the guard lets through, and names the others.
    code, out, err = await demo.cli(
        "update", "gs", "--fleet", "arena", "-n", NAMESPACE, "--ops-state", "WaitToBeDeleted"
    )
    assert code == 1
    assert sorted(out.splitlines()) == [
        f"gameserver/{FIRST}/arena-0 updated",
        f"gameserver/{SECOND}/arena-0 updated",
        f"gameserver/{SECOND}/arena-1 updated",
    ]
    assert _one_line(err).startswith(f"error: {FIRST}/arena-1: is Allocated")
    assert demo.ops_state(FIRST, "arena-1") == "Allocated"

    code, out, err = await demo.cli(
        "update", "gs", f"{FIRST}/arena-1", "-n", NAMESPACE, "--ops-state", "Maintaining", "--force"
    )
    assert (code, out, err) == (0, f"gameserver/{FIRST}/arena-1 updated\n", "")
    assert [op.allow_unallocate for op in demo.first.operations] == [False, True]
    assert demo.ops_state(FIRST, "arena-1") == "Maintaining"


async def test_the_agent_refuses_what_the_hub_saw_too_late(demo: Demo) -> None:
    """The hub's view lags: the server was allocated in the cluster after its last report."""
    allocated = game_server(NAMESPACE, "arena", 0, ops_state="Allocated")
    demo.second.change_quietly(allocated)
    code, _, err = await demo.cli(
        "update", "gs", f"{SECOND}/arena-0", "-n", NAMESPACE, "--ops-state", "Maintaining"
    )
    assert code == 1
    assert _one_line(err).startswith(f"error: {SECOND}/arena-0: is Allocated")
    code, out, _ = await demo.cli("describe", "gs", f"{SECOND}/arena-0", "-n", NAMESPACE)
    assert code == 0
    assert f"refused by the agent of {SECOND}" in out


async def test_servers_are_addressed_as_cluster_slash_name(demo: Demo) -> None:
    code, out, err = await demo.cli(
        "update", "gs", "arena-0", "-n", NAMESPACE, "--deletion-priority", "5"
    )
    assert (code, out) == (1, "")
    assert _one_line(err) == (
        'error: INVALID_ARGUMENT: names[0]: "arena-0" is in 2 clusters: '
        f"{FIRST}/arena-0, {SECOND}/arena-0; give CLUSTER/NAME or a cluster\n"
    )
    assert demo.first.operations == [] and demo.second.operations == []

    code, out, _ = await demo.cli(
        "update", "gs", f"{SECOND}/arena-0", "-n", NAMESPACE, "--deletion-priority", "5"
    )
    assert (code, out) == (0, f"gameserver/{SECOND}/arena-0 updated\n")
    assert demo.first.operations == [] and len(demo.second.operations) == 1
    code, out, _ = await demo.cli(
        "update", "gs", "arena-0", "--cluster", FIRST, "-n", NAMESPACE, "--deletion-priority", "5"
    )
    assert (code, out) == (0, f"gameserver/{FIRST}/arena-0 updated\n")
    assert len(demo.first.operations) == 1 and len(demo.second.operations) == 1

    code, out, _ = await demo.cli(
        "get", "gameserver", f"{FIRST}/arena-0", "-n", NAMESPACE, "-o", "json"
    )
    assert code == 0
    doc = json.loads(out)
    assert (doc["cluster"], doc["name"]) == (FIRST, "arena-0")
    code, _, err = await demo.cli("get", "gameserver", "arena-0", "-n", NAMESPACE)
    assert code == 1 and f"{FIRST}/arena-0, {SECOND}/arena-0" in _one_line(err)
    code, out, _ = await demo.cli("describe", "gameserver", f"{SECOND}/arena-1", "-n", NAMESPACE)
    assert code == 0
    assert "Cluster:" in out and SECOND in out


async def test_an_unknown_server_is_not_found(demo: Demo) -> None:
    code, _, err = await demo.cli(
        "update", "gs", "arena-9", "-n", NAMESPACE, "--ops-state", "Maintaining"
    )
    assert code == 1
    assert _one_line(err) == (
        "error: NOT_FOUND: names[0]: game server arena-9 not found in namespace demo\n"
    )
    code, _, err = await demo.cli("get", "gs", f"{FIRST}/arena-9", "-n", NAMESPACE)
    assert code == 1 and _one_line(err).startswith("error: NOT_FOUND: name: ")


async def test_global_flags_go_before_the_verb_and_version(demo: Demo) -> None:
    code, out, err = await gamefleet("--hub", demo.address, "-n", NAMESPACE, "get", "fleets")
    assert (code, err) == (0, "")
    assert out.splitlines()[1].split()[:3] == [NAMESPACE, "arena", "4"]
    code, out, _ = await gamefleet(
        "-n", NAMESPACE, "get", "--hub", demo.address, "gs", "-o", "json"
    )
    assert code == 0 and len(json.loads(out)["items"]) == 4
    code, out, _ = await gamefleet("--version")
    assert (code, out) == (0, "gamefleet 0.1.0\n")


async def test_no_hub_answering_gives_a_one_line_hint() -> None:
    code, _, err = await gamefleet("--hub", "127.0.0.1:1", "get", "fleets")
    assert code == 1
    line = _one_line(err)
    assert line.startswith("error: UNAVAILABLE: no hub answers at 127.0.0.1:1")
    assert "--hub" in line and "GAMEFLEET_HUB" in line


async def test_help_lists_each_verbs_kinds() -> None:
    code, out, _ = await gamefleet("get", "--help")
    assert code == 0
    kinds = {line.split()[0] for line in out.splitlines() if line.startswith("    ")}
    assert {"fleets", "gameservers", "clusters"} <= kinds
    assert "game servers in every cluster" in " ".join(out.split())
    code, out, _ = await gamefleet("agent", "run", "--help")
    assert code == 0 and "Run the in-cluster agent" in " ".join(out.split())


async def test_problem_column_is_empty_when_nothing_is_wrong(demo: Demo) -> None:
    code, out, _ = await demo.cli("get", "fleets", "-n", NAMESPACE, "-o", "wide")
    header, row = out.splitlines()
    assert code == 0 and header.split()[-1] == "PROBLEM"
    assert row.split()[-1] == "-"

    await demo.second.cut()

    async def degraded() -> bool:
        out = (await demo.cli("get", "fleets", "-n", NAMESPACE, "-o", "wide"))[1]
        return out.splitlines()[1].split()[-1] == "ClusterUnknown"

    await eventually(degraded, "PROBLEM says ClusterUnknown once gamefleet-2 is silent")


async def test_an_unknown_network_type_lists_the_known_ones(demo: Demo) -> None:
    manifest = FLEET.replace(
        "  template:\n", "  template:\n    network: {networkType: Kubernetes-Hostport}\n"
    )
    code, _, err = await demo.cli("apply", "-f", "-", stdin=manifest)
    assert code == 1
    line = _one_line(err)
    assert "spec.template.network.networkType" in line
    assert "known: Kubernetes-HostPort, Kubernetes-Ingress, Kubernetes-NodePort" in line


async def test_describe_shows_status_clusters_and_events(demo: Demo) -> None:
    code, _, _ = await demo.cli("scale", "fleet", "arena", "-n", NAMESPACE, "--replicas", "6")
    assert code == 0

    async def scaled() -> bool:
        return (
            "replicas 4 → 6" in (await demo.cli("describe", "fleet", "arena", "-n", NAMESPACE))[1]
        )

    await eventually(scaled, "a Scaled event on the fleet")
    code, out, _ = await demo.cli("describe", "fleet", "arena", "-n", NAMESPACE)
    assert code == 0
    for expected in ("Name:", "Namespace:", "Conditions:", "Clusters:", FIRST, SECOND):
        assert expected in out
    events = out[out.index("Events:") :].splitlines()
    assert events[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert [line.split()[:2] for line in events[3:]] == [
        ["Normal", "Created"],
        ["Normal", "Scaled"],
    ]

    await demo.cli("update", "gs", f"{FIRST}/arena-1", "-n", NAMESPACE, "--ops-state", "None")
    await demo.cli(
        "update", "gs", f"{FIRST}/arena-1", "-n", NAMESPACE, "--ops-state", "None", "--force"
    )
    code, out, _ = await demo.cli("describe", "gs", f"{FIRST}/arena-1", "-n", NAMESPACE)
    assert code == 0
    lines = out[out.index("Events:") :].splitlines()[3:]
    assert lines[0].split()[:2] == ["Warning", "UpdateRefused"]
    assert "refused by the hub" in lines[0]
    assert lines[1].split()[:2] == ["Normal", "Updated"]
    assert "opsState Allocated → None, by the API" in lines[1]

    code, out, _ = await demo.cli(
        "allocate", "arena", "-n", NAMESPACE, "--request-id", "match-7", "--prefer", FIRST,
        "-o", "json",
    )  # fmt: skip
    assert code == 0
    allocated = json.loads(out)["gameServer"]
    assert allocated["cluster"] == FIRST
    code, out, _ = await demo.cli("describe", "gs", f"{FIRST}/{allocated['name']}", "-n", NAMESPACE)
    assert "opsState None → Allocated, by allocation request match-7" in out

    assert (await demo.cli("cordon", FIRST))[0] == 0
    code, out, _ = await demo.cli("describe", "cluster", FIRST)
    assert code == 0
    assert "Phase:" in out and "Cordoned" in out
    reasons = [line.split()[1] for line in out[out.index("Events:") :].splitlines()[3:]]
    assert reasons[:1] == ["Registered"] and "AgentConnected" in reasons
    assert reasons[-1] == "Cordoned"
    fleets = out[out.index("Fleets:") : out.index("Events:")]
    assert [row.split()[:3] for row in fleets.splitlines()[3:]] == [[NAMESPACE, "arena", "3"]]


@contextlib.asynccontextmanager
async def watching(*args: str) -> AsyncIterator[Callable[[Callable[[str], bool]], Awaitable[str]]]:
    """Run `gamefleet get ... -w`; yields a function that reads lines until one matches."""
    process = await asyncio.create_subprocess_exec(
        *GAMEFLEET, *args, "-w", cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    stdout = process.stdout

    async def line_where(matches: Callable[[str], bool]) -> str:
        async with asyncio.timeout(WAIT_S):
            while True:
                line = (await stdout.readline()).decode()
                assert line, "the watch ended"
                if matches(line):
                    return line

    try:
        yield line_where
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 15)


async def test_get_fleets_watch_prints_changes(demo: Demo) -> None:
    async with watching("get", "fleets", "-n", NAMESPACE, "--hub", demo.address) as line_where:
        assert (await line_where(lambda line: True)).split()[:2] == ["NAMESPACE", "NAME"]
        await line_where(lambda line: line.split()[1:3] == ["arena", "4"])
        assert (await demo.cli("scale", "fleet", "arena", "-n", NAMESPACE, "--replicas", "7"))[
            0
        ] == 0
        await line_where(lambda line: line.split()[1:3] == ["arena", "7"])


async def test_get_gameservers_watch_prints_changes_as_agents_report_them(demo: Demo) -> None:
    args = ("get", "gs", "-n", NAMESPACE, "--output-watch-events", "--hub", demo.address)
    async with watching(*args) as line_where:
        header = await line_where(lambda line: True)
        assert header.split()[:4] == ["EVENT", "CLUSTER", "NAMESPACE", "NAME"]
        await line_where(lambda line: line.split()[:4] == ["ADDED", SECOND, NAMESPACE, "arena-1"])
        _report(demo.second, game_server(NAMESPACE, "arena", 1, state="NotReady"))
        changed = await line_where(lambda line: line.split()[:2] == ["MODIFIED", SECOND])
        assert changed.split()[3:5] == ["arena-1", "NotReady"]
        gone = gameserver_pb2.GameServer(namespace=NAMESPACE, name="arena-1", deleted=True)
        _report(demo.second, gone)
        await line_where(lambda line: line.split()[:4] == ["DELETED", SECOND, NAMESPACE, "arena-1"])


async def test_get_clusters_watch_prints_changes(demo: Demo) -> None:
    async with watching("get", "clusters", "--hub", demo.address) as line_where:
        await line_where(lambda line: line.split()[:2] == [FIRST, "Ready"])
        assert (await demo.cli("cordon", FIRST))[0] == 0
        await line_where(lambda line: line.split()[:2] == [FIRST, "Cordoned"])
