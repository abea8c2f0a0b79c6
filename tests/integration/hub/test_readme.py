"""The README's "Use" section runs as written against the demo.

A demo-like setup: a hub with two simulated clusters named as the demo's (`gamefleet-1`,
`gamefleet-2`, regions from the local clusters) holding `examples/arena.yaml` as the demo applies
it, their servers reported Ready. Every `gamefleet` client line of the first block then runs
(with GAMEFLEET_HUB pointed at this hub, the one substitution) and must exit 0; the other lines
must be what the demo gives: its hub address, the local clusters' `env`, their contexts. The
second block (long-running `hub serve` and `agent run`) is parsed with the real parsers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gamefleet.v1 import agent_pb2, fleet_pb2

from agent import run as agent_run
from cli import main as cli_main
from cli import manifests
from examples import demo
from tests.localcluster import state
from tests.support.agent_sim import SimulatedAgent, game_server, set_status
from tests.support.hub_process import GAMEFLEET

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from gamefleet.v1 import fleet_pb2_grpc

    from hub.api.server import Hub

    from .conftest import StartAgent

ROOT = Path(__file__).resolve().parents[3]


def use_blocks() -> list[list[list[str]]]:
    """The ```sh blocks of the README's "Use" section, as argv lists (comments dropped)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Use\n", 1)[1].split("\n## ", 1)[0]
    blocks = []
    for chunk in section.split("```sh\n")[1:]:
        body = chunk.split("```", 1)[0].replace("\\\n", " ")
        blocks.append([argv for line in body.splitlines() if (argv := shlex.split(line, True))])
    return blocks


async def _keep_reporting(agent: SimulatedAgent) -> None:
    """Report every set the hub sends as applied, with its servers Ready (as the demo's agents
    and kwok make them)."""
    reported: dict[tuple[str, str], str] = {}
    while True:
        for key, desired in list(agent.sets.items()):
            if reported.get(key) == desired.hash:
                continue
            replicas = int(desired.spec.fields["replicas"].number_value)
            servers = [game_server(key[0], key[1], i) for i in range(replicas)]
            agent.report(
                agent_pb2.StatusDelta(sets=[set_status(desired, replicas)], game_servers=servers)
            )
            reported[key] = desired.hash
        with contextlib.suppress(TimeoutError):
            await agent.wait_for(
                lambda: any(reported.get(k) != d.hash for k, d in agent.sets.items()), 1.0
            )


async def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@contextlib.asynccontextmanager
async def _demo_like(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> AsyncIterator[None]:
    agents = [await start_agent(state.cluster_name(i), region=state.region_of(i)) for i in range(2)]
    tasks = [asyncio.create_task(_keep_reporting(a)) for a in agents]
    try:
        for fleet in manifests.load_fleets(str(ROOT / "examples" / "arena.yaml")):
            assert fleet.metadata.namespace == demo.NAMESPACE
            await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet))
        ref = fleet_pb2.FleetRef(namespace=demo.NAMESPACE, name="arena")
        async with asyncio.timeout(10):
            while True:
                fleet = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=ref))
                if fleet.status.counts.ready == fleet.spec.replicas:
                    break
                await asyncio.sleep(0.05)
        yield
    finally:
        for task in tasks:
            task.cancel()


async def test_every_line_of_the_use_section_runs_against_the_demo(
    hub: Hub, fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    block = use_blocks()[0]
    env = {**os.environ}
    ran = []
    async with _demo_like(fleets, start_agent):
        for argv in block:
            command, args = argv[0], argv[1:]
            if command == "export":
                pairs = dict(arg.split("=", 1) for arg in args)
                assert pairs.pop("GAMEFLEET_HUB") == demo.HUB
                env["GAMEFLEET_HUB"] = f"127.0.0.1:{hub.port}"
                path = pairs.pop("PATH").replace("$PWD", str(ROOT)).split(":")[0]
                assert (Path(path) / "gamefleet").is_file(), path
                assert not pairs, pairs
            elif command == "gamefleet":
                done = await _run([*GAMEFLEET, *args], env)
                assert (done.returncode, done.stderr) == (0, ""), argv
                ran.append(args[0])
            elif command == "eval":
                inner = shlex.split(args[0].removeprefix("$(").removesuffix(")"))
                assert inner[0] == ".venv/bin/python"
                done = await _run([sys.executable, *inner[1:]], env)
                assert done.returncode == 0, done.stderr
                assert all(line.startswith("export ") for line in done.stdout.splitlines())
            elif command == "kubectl":
                context = args[args.index("--context") + 1]
                assert context in {state.cluster_name(i) for i in range(2)}
                assert args[args.index("-n") + 1] == demo.NAMESPACE
            else:
                raise AssertionError(f"the Use section has a line the test cannot run: {argv}")
    assert {"get", "update", "scale", "cordon", "uncordon", "apply"} <= set(ran)


def test_the_hub_and_agent_lines_parse_as_the_demo_runs_them() -> None:
    block = use_blocks()[1]
    commands = {tuple(argv[1:3]): argv[1:] for argv in block if argv[0] == "gamefleet"}
    serve = cli_main.build_parser().parse_args(commands[("hub", "serve")])
    assert serve.listen == demo.HUB
    register = cli_main.build_parser().parse_args(commands[("register", "cluster")])
    assert register.name == state.cluster_name(0)
    parser = argparse.ArgumentParser()
    agent_run.add_agent_flags(parser)
    agent = parser.parse_args(commands[("agent", "run")][2:])
    assert (agent.hub, agent.cluster, agent.namespace) == (
        demo.HUB,
        state.cluster_name(0),
        demo.NAMESPACE,
    )
    assert Path(agent.kubeconfig) == Path(".local/clusters", state.cluster_name(0), "kubeconfig")
