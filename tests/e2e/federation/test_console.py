"""The web console in a real browser (headless Chromium): a fleet on both local clusters, with
real agents, rendered; a server's change shown live without a reload; the error state once the
hub is gone. Screenshots go to the test's directory, or to docs/ with
GAMEFLEET_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from gamefleet.v1 import fleet_pb2, gameserver_pb2

from tests.e2e.agent.harness import eventually
from tests.support.browser import browser, screenshot_dir

if TYPE_CHECKING:
    import pathlib

    from .world import World


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


HUB_ARGS = ("--console-listen", f"127.0.0.1:{_free_port()}")
SERVERS = "#servers tbody tr[data-server]"


async def _fleet_up(world: World, replicas: int) -> None:
    ref = fleet_pb2.FleetRef(namespace=world.namespace, name="arena")
    async with world.channel() as channel:
        fleets = world.fleets(channel)
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=world.fleet(replicas)))

        async def ready() -> bool:
            fleet = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=ref))
            return fleet.status.counts.ready == replicas

        await eventually(ready, 180.0, f"{replicas} Ready servers of arena at the hub")


async def test_the_console_shows_the_clusters_fleet_live_and_the_hub_gone(
    world: World, tmp_path: pathlib.Path
) -> None:
    shots = screenshot_dir(tmp_path)
    await _fleet_up(world, 6)
    first, second = world.members
    url = f"http://127.0.0.1:{world.hub.console_port}/#fleet={world.namespace}/arena"
    async with browser() as page:
        await page.navigate(url)
        await page.wait_for(
            f"document.querySelectorAll('{SERVERS}').length === 6 && "
            f"[...document.querySelectorAll('{SERVERS} .state')]"
            ".every(e => e.textContent === 'Ready')",
            60.0,
            "6 Ready servers in the page",
        )
        await page.wait_for("document.body.dataset.connection === 'live'", 10.0, "live")
        rows = await page.evaluate(
            "[...document.querySelectorAll('#fleets tbody tr[data-cluster]')]"
            ".map(r => [...r.cells].map(c => c.textContent))"
        )
        # Fleet arena per region and cluster: 4 and 2 Ready servers (weights 2:1).
        assert sorted((r[1], r[2], r[4]) for r in rows) == sorted(
            [(first.region, first.name, "4"), (second.region, second.name, "2")]
        )
        clusters = await page.evaluate(
            "[...document.querySelectorAll('#clusters tbody tr')]"
            ".map(r => [r.cells[0].textContent, r.cells[2].textContent, r.cells[3].textContent])"
        )
        assert {name: health for name, health, _ in clusters} == {
            first.name: "Ready",
            second.name: "Ready",
        }
        assert all(beat.endswith("ago") for _, _, beat in clusters)
        await page.screenshot(shots / "console.png")

        # A server changes: a targeted operation through the hub; the open page shows it.
        await page.evaluate("window.sameDocument = true")
        async with world.channel() as channel:
            await world.game_servers(channel).UpdateGameServers(
                gameserver_pb2.UpdateGameServersRequest(
                    namespace=world.namespace,
                    cluster=first.name,
                    names=["arena-0"],
                    patch=gameserver_pb2.GameServerPatch(ops_state="Maintaining"),
                )
            )
        row = f"#servers tr[data-server='{first.name}/arena-0']"
        await page.wait_for(
            f'!!document.querySelector("{row} td.ops-Maintaining")',
            30.0,
            "arena-0 shown Maintaining",
        )
        assert await page.evaluate("window.sameDocument === true"), "the page reloaded"
        await page.screenshot(shots / "console-fleet.png")

        # The hub goes away: the page says so, and keeps what it last showed.
        world.hub.kill()
        await page.wait_for(
            "document.body.dataset.connection !== 'live' && "
            "!document.getElementById('banner').hidden",
            30.0,
            "the error state",
        )
        banner = await page.evaluate("document.getElementById('banner').textContent")
        assert "hub" in banner and ("Lost" in banner or "unreachable" in banner), banner
        assert await page.evaluate(f"document.querySelectorAll('{SERVERS}').length") == 6
        await page.screenshot(shots / "console-hub-gone.png")
