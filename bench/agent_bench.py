"""Benchmark of the agent on one local cluster; prints one JSON object per figure.

python -m bench.agent_bench [--replicas 1000] [--max-unavailable 100%] [--mode all|ops-state]

Figures: time from creating an N-replica GameServerSet to N Ready GameServers; the agent's CPU
seconds and API writes for one GameServer opsState change in the settled set (the median of
`--ops-state-changes` changes, each None -> Maintaining on another server, each measured over
the same window with the agent's idle CPU over such a window subtracted; CPU from the kernel's
per-thread run time, to the nanosecond); time for an in-place image update of all N (and how
many pods were recreated: must be 0); Kubernetes API writes the agent made per game server
created and per game server updated; the agent's resident memory with N game servers.
`--mode ops-state` stops after the opsState figure. The agent runs as its own process
(`python -m agent`), scoped to a fresh namespace; writes are read from its /metrics.
The local clusters' kwok stage (tests/localcluster/stages.yaml) restarts containers patched in
place on their new image, as a kubelet does (its writes are kwok's, not the agent's, and are not
counted).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import pathlib
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from typing import Any

from agent.controllers import views
from agent.core import wire
from agent.kube import cache as kcache
from agent.kube import client as kclient
from agent.kube import crds, resources
from bench import machine
from bench.machine import emit
from okg import vocabulary
from tests.localcluster import manager

REPO = pathlib.Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _writes(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    found = {}
    for match in re.finditer(r'gamefleet_agent_api_writes\{call="([^"]+)"\} ([0-9.e+]+)', text):
        found[match.group(1)] = float(match.group(2))
    return found


def _start_agent(
    kubeconfig: str, namespace: str, port: int, log: pathlib.Path, *extra: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent", "--kubeconfig", kubeconfig, "--namespace", namespace,
         "--lease-namespace", namespace, "--skip-crds", "--metrics-listen", f"127.0.0.1:{port}",
         "--scaler-port", "0", "--log-level", "WARNING", *extra],
        cwd=REPO, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def _state(gs: kclient.Obj) -> str:  # the GameServer's currentState
    return str((gs.get("status") or {}).get("currentState", ""))


async def _wait(what: str, check: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {seconds}s")
        await asyncio.sleep(0.1)


async def bench(args: argparse.Namespace) -> None:
    clusters, _ = manager.ensure(1, 3)
    kubeconfig = str(clusters[0].kubeconfig)
    kube = await kclient.KubeClient.connect(kubeconfig)
    await crds.install(kube)
    namespace = f"bench-agent-{uuid.uuid4().hex[:6]}"
    await kube.create(
        resources.NAMESPACE,
        None,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
    )
    port = _free_port()
    log = pathlib.Path(tempfile.gettempdir()) / f"{namespace}.log"
    agent = _start_agent(kubeconfig, namespace, port, log)
    n = int(args.replicas)
    params = {"replicas": n, "nodes": 3, "kwok": True}
    game_servers = kcache.WatchCache(kube, resources.GAME_SERVER, namespace=namespace)
    pods = kcache.WatchCache(kube, resources.POD, namespace=namespace)
    watchers = [asyncio.create_task(game_servers.run()), asyncio.create_task(pods.run())]
    try:
        await _wait("agent metrics", lambda: _try(_writes, port) is not None, 30)
        await asyncio.sleep(1.0)  # let the agent win its lease
        idle_rss = machine.rss_mib(agent.pid)
        base = _writes(port)
        body = {
            "apiVersion": vocabulary.API_VERSION,
            "kind": "GameServerSet",
            "metadata": {"name": "bench", "namespace": namespace},
            "spec": {
                "replicas": n,
                "updateStrategy": {
                    "rollingUpdate": {
                        "podUpdatePolicy": "InPlaceIfPossible",
                        "maxUnavailable": args.max_unavailable,
                    }
                },
                "gameServerTemplate": {
                    "spec": {"containers": [{"name": "main", "image": "game:1"}]}
                },
            },
        }
        began = time.monotonic()
        await kube.create(resources.GAME_SERVER_SET, namespace, body)

        def all_ready() -> bool:
            ready = sum(1 for g in game_servers.all() if _state(g) == "Ready")
            return ready == n

        milestones: dict[str, float] = {}

        def progress() -> bool:
            items = _pod_items(pods)
            elapsed = round(time.monotonic() - began, 2)
            if len(items) == n:
                milestones.setdefault("all_pods_created_s", elapsed)
                if all(_pod_ready(p) for _, p in items):
                    milestones.setdefault("all_pods_ready_s", elapsed)
            if len(game_servers) == n:
                milestones.setdefault("all_game_servers_created_s", elapsed)
            return all_ready()

        await _wait("N Ready GameServers", progress, args.timeout)
        took = time.monotonic() - began
        emit("create to all GameServers Ready", took, "s", **params, **milestones)
        emit("GameServers Ready per second", n / took, "1/s", **params)
        await asyncio.sleep(2.0)  # trailing status writes
        after_create = _writes(port)
        created = sum(after_create.values()) - sum(base.values())
        emit("agent API writes per game server created", created / n, "writes", **params,
              breakdown={k: v - base.get(k, 0) for k, v in after_create.items()})  # fmt: skip
        emit(
            "agent RSS",
            machine.rss_mib(agent.pid),
            "MiB",
            **params,
            idle_mib=round(idle_rss, 1),
        )
        if args.ops_state_changes:
            await _ops_state_cpu(kube, namespace, agent.pid, port, pods, args, params)
        if args.mode == "ops-state":
            return
        after_create = _writes(port)

        uids = {k: views.meta(p)["uid"] for k, p in _pod_items(pods)}
        began = time.monotonic()
        await kube.request(
            "PATCH",
            resources.GAME_SERVER_SET.item(namespace, "bench"),
            body={"spec": {"gameServerTemplate": {"spec": {"containers": [
                {"name": "main", "image": "game:2"}]}}}},
            content_type=kclient.MERGE_PATCH,
        )  # fmt: skip

        def all_updated() -> bool:
            """Every pod runs the new image and is Ready again (an in-place update takes it
            out of service first), and every GameServer is Ready."""
            items = _pod_items(pods)
            if len(items) != n:
                return False
            for _, pod in items:
                running = (pod.get("status") or {}).get("containerStatuses") or [{}]
                if running[0].get("image") != "game:2" or not _pod_ready(pod):
                    return False
            return all_ready()

        await _wait("in-place update of every server", all_updated, args.timeout)
        took = time.monotonic() - began
        recreated = sum(1 for k, p in _pod_items(pods) if uids.get(k) != views.meta(p)["uid"])
        update_params = {**params, "max_unavailable": args.max_unavailable}
        emit("in-place image update of all game servers", took, "s", **update_params)
        emit("pods recreated by the in-place update", recreated, "pods", **update_params)
        await _quiet(port)  # the update's last status writes follow the pods' readiness
        after_update = _writes(port)
        updated = sum(after_update.values()) - sum(after_create.values())
        emit("agent API writes per game server updated in place", updated / n, "writes",
              **update_params,
              breakdown={k: v - after_create.get(k, 0) for k, v in after_update.items()
                         if v != after_create.get(k, 0)})  # fmt: skip
        emit("agent RSS after the update", machine.rss_mib(agent.pid), "MiB", **params)
        # A restart must not rewrite what is already right (no periodic full resync).
        await _quiet(port)
        agent.terminate()
        agent.wait(30)
        agent = _start_agent(kubeconfig, namespace, port, log)
        await _wait("restarted agent metrics", lambda: _try(_writes, port) is not None, 30)
        await asyncio.sleep(args.settle)
        restarted = _writes(port)
        lease = sum(v for k, v in restarted.items() if k.endswith("Lease"))
        rewrites = sum(restarted.values()) - lease
        emit("agent API writes after a restart, besides its lease", rewrites, "writes",
              **params, settle_s=args.settle, breakdown=restarted)  # fmt: skip
    finally:
        agent.terminate()
        agent.wait(30)
        for task in watchers:
            task.cancel()
        await kube.request("DELETE", f"/api/v1/namespaces/{namespace}")
        await kube.close()


async def _ops_state_cpu(
    kube: kclient.KubeClient,
    namespace: str,
    pid: int,
    port: int,
    pods: kcache.WatchCache,
    args: argparse.Namespace,
    params: dict[str, Any],
) -> None:
    """The agent's CPU seconds and writes for one GameServer opsState change, net of its idle
    CPU (Lease renewals, watch bookmarks) over the same window."""
    await _quiet(port)
    window = float(args.ops_state_window)
    began = _cpu(pid)
    await asyncio.sleep(window)
    idle = _cpu(pid) - began
    cpu: list[float] = []
    writes: list[float] = []
    latency: list[float] = []
    n = int(args.replicas)
    for i in range(int(args.ops_state_changes)):
        name = f"bench-{(i * 97 + 13) % n}"
        before, cpu0, t0 = _writes(port), _cpu(pid), time.monotonic()
        await kube.request(
            "PATCH",
            resources.GAME_SERVER.item(namespace, name),
            body={"spec": {"opsState": "Maintaining"}},
            content_type=kclient.MERGE_PATCH,
        )

        def labelled(pod_name: str = name) -> bool:
            pod = pods.get((namespace, pod_name))
            return pod is not None and views.labels_of(pod).get(wire.GS_OPS_STATE) == "Maintaining"

        await _wait(f"{name} labelled Maintaining", labelled, 60)
        latency.append(time.monotonic() - t0)
        await asyncio.sleep(max(0.0, t0 + window - time.monotonic()))
        cpu.append(_cpu(pid) - cpu0 - idle)
        after = _writes(port)
        writes.append(
            sum(v - before.get(k, 0) for k, v in after.items() if not k.endswith("Lease"))
        )
        await _quiet(port)
    emit("agent CPU for one GameServer opsState change", statistics.median(cpu), "cpu-s",
         **params, samples=[round(c, 4) for c in cpu], idle_cpu_s=round(idle, 4),
         window_s=window, writes=statistics.median(writes),
         label_latency_s=round(statistics.median(latency), 3),
         scopes=_scopes(port))  # fmt: skip


def _cpu(pid: int) -> float:
    """CPU seconds of every thread of the process, to the nanosecond (the scheduler's
    accounting: /proc ticks are 10 ms, more than one change costs)."""
    total = 0
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def _scopes(port: int) -> dict[str, float]:
    """The agent's reconciles by scope, when it reports them."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    pattern = r'gamefleet_agent_reconcile_scope_total\{scope="([a-z]+)"\} ([0-9.e+]+)'
    return {m.group(1): float(m.group(2)) for m in re.finditer(pattern, text)}


def _pod_items(pods: kcache.WatchCache) -> list[tuple[kcache.Key, kclient.Obj]]:
    return [
        (kcache.key_of(p), p)
        for p in pods.all()
        if wire.OWNER_GSS in views.labels_of(p) and not views.meta(p).get("deletionTimestamp")
    ]


async def _quiet(port: int, seconds: float = 3.0) -> None:
    """Wait until the agent has made no write for `seconds`."""
    last, since = sum(_writes(port).values()), time.monotonic()
    while time.monotonic() - since < seconds:
        await asyncio.sleep(0.5)
        now = sum(_writes(port).values()) - sum(
            v for k, v in _writes(port).items() if k.endswith("Lease")
        )
        if now != last:
            last, since = now, time.monotonic()


def _pod_ready(pod: kclient.Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _try(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except OSError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--max-unavailable", default="100%")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after a restart")
    parser.add_argument("--mode", choices=("all", "ops-state"), default="all")
    parser.add_argument("--ops-state-changes", type=int, default=10, help="0: skip the figure")
    parser.add_argument(
        "--ops-state-window", type=float, default=5.0, help="seconds measured per change"
    )
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
