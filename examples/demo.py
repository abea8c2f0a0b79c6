"""The demo: a hub on its embedded store, two local clusters with agents, a fleet coming up.

    make demo        # start (or reuse) everything, apply examples/arena.yaml, watch it come up
    make demo-down   # stop what the demo started and remove what it made (namespace, store)

Everything it starts keeps running in the background (pids and logs in .local/demo/), so the
fleet can be explored with the CLI and kubectl afterwards; `make demo` ends by printing how.
`make demo-down` stops the local clusters only if `make demo` started them (clusters that were
already up, from `make clusters` or a test session, keep running: `make clusters-down`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from gamefleet.v1 import cluster_pb2, cluster_pb2_grpc, fleet_pb2, fleet_pb2_grpc

from agent.kube import client as kclient
from agent.kube import resources
from cli import manifests
from tests.localcluster import manager, state
from tests.localcluster.versions import pins

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".local" / "demo"
# Names of the clusters `make demo` started (not those it found running): demo-down stops these.
STARTED = STATE / "started-clusters"
HUB = "127.0.0.1:7400"
NAMESPACE = "demo"
GAMEFLEET = [sys.executable, "-m", "cli.main"]


def _spawn(name: str, args: list[str]) -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    pid_file = STATE / f"{name}.pid"
    if pid_file.exists() and _alive(int(pid_file.read_text())):
        print(f"{name}: already running (pid {pid_file.read_text().strip()})")
        return
    with (STATE / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            [*GAMEFLEET, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    pid_file.write_text(str(process.pid))
    print(f"{name}: started (pid {process.pid}, log {STATE / (name + '.log')})")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def up() -> None:
    clusters, started = manager.ensure(count=2, nodes=3)
    STATE.mkdir(parents=True, exist_ok=True)
    STARTED.write_text("".join(f"{name}\n" for name in sorted({*_started(), *started})))
    _spawn("hub", ["hub", "serve", "--store", f"sqlite:{STATE / 'hub.db'}", "--listen", HUB])
    for cluster in clusters:
        _spawn(
            f"agent-{cluster.name}",
            ["agent", "run", "--kubeconfig", str(cluster.kubeconfig), "--namespace", NAMESPACE,
             "--id", f"demo-{cluster.name}", "--hub", HUB, "--cluster", cluster.name,
             "--cluster-label", f"region={cluster.region}", "--scaler-port", "0"],
        )  # fmt: skip
    asyncio.run(_watch([c.name for c in clusters]))
    print(_how_to_use(clusters))


def _started() -> list[str]:
    return STARTED.read_text().split() if STARTED.is_file() else []


def _how_to_use(clusters: list[state.Cluster]) -> str:
    """What to type next: the CLI on PATH and pointed at the hub, kubectl for each cluster."""
    lines = [
        "",
        f"The fleet is up. The hub ({HUB}) and the agents keep running; logs in {STATE}/.",
        "",
        'The gamefleet CLI (README, "Use"):',
        f'  export PATH="$PWD/.venv/bin:$PATH" GAMEFLEET_HUB={HUB}',
        "  gamefleet get clusters",
        f"  gamefleet get fleets -n {NAMESPACE} -o wide",
        f"  gamefleet get gameservers -n {NAMESPACE}",
        f"  gamefleet scale fleet arena -n {NAMESPACE} --replicas 12",
        "",
        f"kubectl {pins()['KUBERNETES_VERSION']}, built for the local clusters:",
        *(f"  {c.name}: kubeconfig {c.kubeconfig}" for c in clusters),
        '  eval "$(.venv/bin/python -m tests.localcluster env)"   # that is:',
        *(f"    {line}" for line in manager.env_lines()),
        f"  kubectl --context {clusters[0].name} get gss,gs,pods -n {NAMESPACE}",
        "",
        f"Stop: make demo-down  (the hub, the agents, namespace {NAMESPACE}, the hub's store; the",
        "clusters too if make demo started them, else they keep running: make clusters-down)",
    ]
    return "\n".join(lines)


async def _watch(clusters: list[str], timeout: float = 180.0) -> None:
    async with grpc.aio.insecure_channel(HUB) as channel:
        cluster_stub: cluster_pb2_grpc.ClusterServiceAsyncStub = (
            cluster_pb2_grpc.ClusterServiceStub(channel)
        )
        fleet_stub: fleet_pb2_grpc.FleetServiceAsyncStub = fleet_pb2_grpc.FleetServiceStub(channel)
        await channel.channel_ready()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listed = await cluster_stub.ListClusters(cluster_pb2.ListClustersRequest())
            ready = {c.metadata.name for c in listed.clusters if c.status.phase == "Ready"}
            if set(clusters) <= ready:
                break
            await asyncio.sleep(1)
        for fleet in manifests.load_fleets(str(ROOT / "examples" / "arena.yaml")):
            await fleet_stub.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet))
            print(f"fleet/{fleet.metadata.name} applied")
        ref = fleet_pb2.FleetRef(namespace=NAMESPACE, name="arena")
        started = time.monotonic()
        while time.monotonic() < deadline:
            fleet = await fleet_stub.GetFleet(fleet_pb2.GetFleetRequest(ref=ref))
            _print_table(fleet, time.monotonic() - started)
            if fleet.status.counts.ready == fleet.spec.replicas:
                break
            await asyncio.sleep(1)


def _print_table(fleet: fleet_pb2.Fleet, elapsed: float) -> None:
    rows = [("CLUSTER", "PHASE", "DESIRED", "CURRENT", "READY", "UPDATED", "ALLOCATED")]
    for cluster in fleet.status.clusters:
        counts = cluster.counts
        rows.append((cluster.cluster, cluster.cluster_phase, str(cluster.desired_replicas),
                     str(counts.replicas), str(counts.ready), str(counts.updated),
                     str(counts.allocated)))  # fmt: skip
    total = fleet.status.counts
    rows.append(("total", "", str(fleet.spec.replicas), str(total.replicas), str(total.ready),
                 str(total.updated), str(total.allocated)))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    clear = "\033[2J\033[H" if sys.stdout.isatty() else "\n"
    lines = ["   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    print(f"{clear}fleet demo/arena — {elapsed:4.0f}s\n" + "\n".join(lines), flush=True)


def down() -> None:
    """Stop the hub and agents, remove what the demo made (its namespace in each cluster, the
    hub's store), then stop the clusters `make demo` started; clusters it found running (from
    `make clusters` or a test session) keep running."""
    for pid_file in sorted(STATE.glob("*.pid")):
        pid = int(pid_file.read_text())
        if _alive(pid):
            os.killpg(pid, signal.SIGTERM)
            print(f"{pid_file.stem}: stopped (pid {pid})")
        pid_file.unlink()
    running = [c for c in state.load_all() if manager.runtime(c.runtime).healthy(c)]
    asyncio.run(_remove_namespaces(running))
    for path in STATE.glob("hub.db*"):
        path.unlink()
    mine = _started()
    stopped = manager.down(mine) if mine else []
    STARTED.unlink(missing_ok=True)
    if stopped:
        print(f"{', '.join(stopped)}: stopped (make demo started them)")
    kept = [c.name for c in running if c.name not in stopped]
    if kept:
        print(
            f"{', '.join(kept)}: left running (up before make demo; make clusters-down stops them)"
        )


async def _remove_namespaces(clusters: list[state.Cluster], timeout: float = 60.0) -> None:
    for cluster in clusters:
        kube = await kclient.KubeClient.connect(str(cluster.kubeconfig))
        try:
            await kube.delete(resources.NAMESPACE, None, NAMESPACE)
        except kclient.ApiError as exc:
            if not exc.not_found:
                raise
        try:
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        await kube.get(resources.NAMESPACE, None, NAMESPACE)
                    except kclient.ApiError as exc:
                        if exc.not_found:
                            break
                        raise
                    await asyncio.sleep(0.5)
            print(f"{cluster.name}: namespace {NAMESPACE} removed")
        finally:
            await kube.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["up", "down"])
    args = parser.parse_args()
    up() if args.action == "up" else down()


if __name__ == "__main__":
    main()
