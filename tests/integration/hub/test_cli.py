"""The gamefleet CLI end to end against a hub process on its embedded store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from gamefleet.v1 import agent_pb2

from tests.e2e.agent.harness import eventually
from tests.support.agent_sim import SimulatedAgent, set_status
from tests.support.hub_process import HubProcess, run_cli

OKG_MANIFEST = """\
apiVersion: game.kruise.io/v1alpha1
kind: GameServerSet
metadata:
  name: minecraft
  namespace: games
spec:
  replicas: 3
  reserveGameServerIds: [1, "4-5"]
  updateStrategy:
    rollingUpdate:
      podUpdatePolicy: InPlaceIfPossible
  gameServerTemplate:
    spec:
      containers:
        - name: minecraft
          image: registry.example/minecraft:1.20
"""

FLEET_MANIFEST = """\
apiVersion: gamefleet.io/v1
kind: Fleet
metadata:
  name: arena
  namespace: games
  labels: {game: arena}
spec:
  replicas: 9
  placement:
    strategy: Weighted
    clusters:
      - {name: eu-1, weight: 2}
      - {name: us-1, weight: 1}
  template:
    gameServerTemplate:
      spec:
        containers:
          - {name: arena, image: arena:1.0}
"""


@pytest.fixture(scope="module")
def hub_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = tmp_path_factory.mktemp("cli") / "hub.db"
    hub = HubProcess(f"sqlite:///{store}").start()
    yield hub.address
    hub.kill()


def cli(hub: str, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    done = run_cli(*args, "--hub", hub, stdin=stdin)
    return done.returncode, done.stdout, done.stderr


def test_apply_a_plain_okg_game_server_set(hub_address: str, tmp_path: Path) -> None:
    manifest = tmp_path / "gss.yaml"
    manifest.write_text(OKG_MANIFEST)
    assert cli(hub_address, "apply", "-f", str(manifest)) == (
        0,
        "fleet/minecraft created\n",
        "",
    )
    assert cli(hub_address, "apply", "-f", str(manifest))[1] == "fleet/minecraft unchanged\n"
    code, out, _ = cli(hub_address, "get", "fleet", "minecraft", "-n", "games", "-o", "yaml")
    assert code == 0
    doc = yaml.safe_load(out)
    assert doc["kind"] == "Fleet"
    assert doc["spec"]["replicas"] == 3
    assert doc["spec"]["template"]["reserveGameServerIds"] == [1, "4-5"]
    assert "replicas" not in doc["spec"]["template"]
    assert doc["metadata"]["generation"] == 1


def test_apply_from_stdin_get_scale_delete(hub_address: str) -> None:
    assert cli(hub_address, "apply", "-f", "-", stdin=FLEET_MANIFEST)[0] == 0
    code, out, _ = cli(hub_address, "get", "fleets", "-n", "games")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split()[:4] == ["NAMESPACE", "NAME", "REPLICAS", "PLACED"]
    assert any(row.split()[:3] == ["games", "arena", "9"] for row in rows)

    assert cli(hub_address, "scale", "fleet", "arena", "-n", "games", "--replicas", "12")[0] == 0
    code, out, _ = cli(hub_address, "get", "fleet", "arena", "-n", "games", "-o", "json")
    assert json.loads(out)["spec"]["replicas"] == 12

    assert cli(hub_address, "delete", "fleet", "arena", "-n", "games")[0] == 0
    code, _, err = cli(hub_address, "get", "fleet", "arena", "-n", "games")
    assert code == 1
    assert err.startswith("error: NOT_FOUND")


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (FLEET_MANIFEST.replace("replicas: 9", "replicas: -3"), "spec.replicas"),
        (FLEET_MANIFEST.replace("weight: 2", "weight: 0"), "spec.placement.clusters[0].weight"),
        (FLEET_MANIFEST.replace("name: arena\n  namespace", "name: Arena!\n  namespace"),
         "metadata.name"),
        (FLEET_MANIFEST.replace("strategy: Weighted", "strategy: Random"),
         "spec.placement.strategy"),
        (FLEET_MANIFEST.replace("template:", "template:\n    bogus: 1"), "spec.template.bogus"),
        ("kind: Deployment\napiVersion: apps/v1\n", "apiVersion/kind"),
        ("spec: [unclosed\n", "not valid YAML"),
    ],
)  # fmt: skip
def test_bad_manifest_exits_1_with_one_line_naming_the_field(
    hub_address: str, manifest: str, expected: str
) -> None:
    code, out, err = cli(hub_address, "apply", "-f", "-", stdin=manifest)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert expected in err
    listed = cli(hub_address, "get", "fleets", "-n", "games", "-o", "json")[1]
    names = [item["metadata"]["name"] for item in _items(listed)]
    assert "Arena!" not in names


def _items(output: str) -> list[dict[str, Any]]:
    if not output.strip():
        return []
    doc = json.loads(output)
    return list(doc["items"]) if "items" in doc else [doc]


def test_get_fleets_fetches_every_page(hub_address: str) -> None:
    names = [f"paged-{index}" for index in range(5)]
    manifest = "---\n".join(
        FLEET_MANIFEST.replace(
            "name: arena\n  namespace: games", f"name: {name}\n  namespace: paging"
        )
        for name in reversed(names)
    )
    assert cli(hub_address, "apply", "-f", "-", stdin=manifest)[0] == 0

    code, out, _ = cli(
        hub_address, "get", "fleets", "-n", "paging", "--chunk-size", "2", "-o", "json"
    )
    assert code == 0
    assert [item["metadata"]["name"] for item in _items(out)] == names
    code, out, _ = cli(hub_address, "get", "fleets", "-A", "--chunk-size", "2")
    assert code == 0
    assert [row.split()[1] for row in out.splitlines()[1:] if row.startswith("paging ")] == names
    code, _, err = cli(hub_address, "get", "fleets", "--chunk-size", "-1")
    assert (code, err.count("\n")) == (1, 1)
    assert "--chunk-size" in err


def test_clusters_register_cordon_and_table(hub_address: str) -> None:
    assert (
        cli(
            hub_address,
            "register",
            "cluster",
            "eu-1",
            "--label",
            "region=eu",
            "--label",
            "cloud=aws",
        )[0]
        == 0
    )
    code, out, _ = cli(hub_address, "get", "clusters")
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.split()[:4] == ["NAME", "STATUS", "REGION", "CLOUD"]
    assert row.split()[:4] == ["eu-1", "Unknown", "eu", "aws"]
    assert cli(hub_address, "cordon", "eu-1")[0] == 0
    assert cli(hub_address, "get", "clusters")[1].splitlines()[1].split()[1] == "Cordoned"
    code, _, err = cli(hub_address, "cordon", "nowhere")
    assert (code, err.split(":")[1].strip()) == (1, "NOT_FOUND")


def test_usage_errors_and_unreachable_hub(hub_address: str) -> None:
    code, _, err = cli(hub_address, "scale", "fleet", "arena", "--replicas", "many")
    assert code == 1 and err.count("\n") == 1 and "--replicas" in err
    done = run_cli("get", "fleets", "--hub", "127.0.0.1:1")
    assert done.returncode == 1
    assert done.stderr.startswith("error: UNAVAILABLE")
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["hub", "serve", "--store", "bogus://x"], "error: --store: "),
        (["hub", "serve", "--store", "sqlite:/tmp/gf-unused.db", "--listen", "nonsense"],
         "error: --listen: expected HOST:PORT"),
        (["agent", "run", "--kubeconfig", "/nonexistent"], "--kubeconfig"),
        (["agent", "run", "--hub", "127.0.0.1:1"], "--cluster"),
        (["agent", "run", "--hub", "127.0.0.1:1", "--cluster", "a", "--heartbeat-interval", "0"],
         "--heartbeat-interval"),
    ],
)  # fmt: skip
def test_bad_serve_and_agent_flags_exit_1_naming_the_flag(args: list[str], expected: str) -> None:
    done = run_cli(*args)
    assert done.returncode == 1
    assert expected in done.stderr.strip().splitlines()[-1]


def test_allocate_errors_exit_1_with_one_line(hub_address: str) -> None:
    code, _, err = cli(hub_address, "allocate", "-n", "games", "nowhere", "--request-id", "m1")
    assert code == 1 and err.count("\n") == 1 and err.startswith("error: NOT_FOUND")
    code, _, err = cli(hub_address, "allocate", "-n", "games", "arena")
    assert code == 1 and err.count("\n") == 1 and "--request-id" in err
    code, _, err = cli(
        hub_address, "allocate", "-n", "games", "arena", "--request-id", "m1", "--selector", "x"
    )
    assert code == 1 and err.count("\n") == 1 and "--selector" in err
    code, _, err = cli(
        hub_address, "allocate", "-n", "games", "arena", "--request-id", "m1", "--label", "a b=c"
    )
    assert code == 1 and err.count("\n") == 1 and 'labels["a b"]' in err


def test_apply_with_n_naming_another_namespace_than_the_manifest_is_refused(
    hub_address: str,
) -> None:
    manifest = FLEET_MANIFEST.replace("name: arena\n", "name: guarded\n")
    code, out, err = cli(hub_address, "apply", "-f", "-", "-n", "demo", stdin=manifest)
    assert (code, out, err.count("\n")) == (1, "", 1)
    assert "metadata.namespace" in err and "'games'" in err and "'demo'" in err
    for namespace in ("demo", "games"):
        code, _, err = cli(hub_address, "get", "fleet", "guarded", "-n", namespace)
        assert code == 1 and "NOT_FOUND" in err
    # The same namespace, or no -n at all, applies.
    assert cli(hub_address, "apply", "-f", "-", "-n", "games", stdin=manifest)[0] == 0
    assert cli(hub_address, "apply", "-f", "-", stdin=manifest)[1] == "fleet/guarded unchanged\n"


async def test_get_shows_the_problem_and_delete_says_what_it_waits_for(hub_address: str) -> None:
    serving = SimulatedAgent(hub_address, "cli-a", namespaces=["waiting"])
    elsewhere = SimulatedAgent(hub_address, "cli-b", namespaces=["demo"])
    await serving.start()
    await elsewhere.start()
    try:

        async def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
            return await asyncio.to_thread(cli, hub_address, *args, stdin=stdin)

        manifest = FLEET_MANIFEST.replace("namespace: games", "namespace: waiting")

        async def both_ready() -> bool:
            out = (await run("get", "clusters"))[1]
            rows = {row.split()[0]: row.split()[1] for row in out.splitlines()[1:]}
            return rows.get("cli-a") == rows.get("cli-b") == "Ready"

        await eventually(both_ready, 20.0, "both simulated clusters Ready")
        assert (await run("apply", "-f", "-", stdin=manifest))[0] == 0
        await serving.wait_for(lambda: serving.replicas("waiting", "arena") == 9)
        desired = serving.sets[("waiting", "arena")]
        serving.report(agent_pb2.StatusDelta(sets=[set_status(desired, ready=9, allocated=2)]))

        async def problem_shown() -> bool:
            out = (await run("get", "fleets", "-n", "waiting", "-o", "wide"))[1]
            header, row = out.splitlines()[:2]
            cells = dict(zip(header.split(), row.split(), strict=True))
            return cells["PROBLEM"] == "NamespaceNotServed" and cells["ALLOCATED"] == "2"

        await eventually(problem_shown, 20.0, "PROBLEM NamespaceNotServed in get fleets")
        code, out, _ = await run("delete", "fleet", "arena", "-n", "waiting")
        assert (code, out) == (
            0,
            "fleet waiting/arena deleting: waiting for cli-a (2 Allocated servers)\n",
        )
        out = (await run("get", "fleets", "-n", "waiting", "-o", "wide"))[1]
        assert out.splitlines()[1].split()[-1] == "WaitingForClusters"
    finally:
        await serving.stop()
        await elsewhere.stop()
