"""Benchmark of service-quality probing on one local cluster; prints one JSON object per figure.

python -m bench.quality_bench [--replicas 1000] [--kinds exec,http,tcp,grpc] [--window 30]

Per probe type: N game servers, each probed every 3 s (`periodSeconds: 3`, initial delay 0),
with OKG-style actions (`idle` -> WaitToBeDeleted, `playing` -> None). Figures: the agent's CPU
(user + system, in cores) and its Kubernetes API requests per second in steady state, probes run
per second, condition writes per second; time from a probe's output changing to the GameServer's
new opsState (several samples). The agent runs as its own process scoped to a fresh namespace;
counts come from its /metrics (`gamefleet_agent_quality`), CPU from /proc.

- exec: one kwok `Exec` per pod runs `cat state` on this machine in a directory of that pod's
  own; the benchmark rewrites the file.
- http: one aiohttp server on 0.0.0.0 answers every pod IP (127.x addresses reach it); the body
  for a pod is looked up by the address the connection arrived at.
- grpc: one grpc.aio health server (grpc_health.v1) per pod, bound to the pod's IP as soon as
  the pod has one (a gRPC handler cannot tell which address a call arrived at); `SERVING` ->
  None, `NOT_SERVING` -> WaitToBeDeleted, `failureThreshold: 1` so a change takes one probe as
  with http. A pod probed before its server is bound reports a failure first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import pathlib
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agent.kube import client as kclient
from agent.kube import crds, resources
from bench import agent_bench, machine
from bench.agent_bench import _free_port
from bench.machine import emit
from tests.localcluster import manager

REPO = pathlib.Path(__file__).resolve().parents[1]
EXEC = resources.Resource("kwok.x-k8s.io/v1alpha1", "execs", "Exec")
NAMESPACE = resources.NAMESPACE
HTTP_PORT = 17090
GRPC_PORT = HTTP_PORT + 2


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    found = {}
    for match in re.finditer(r'gamefleet_agent_quality\{what="([^"]+)"\} ([0-9.e+]+)', text):
        found[match.group(1)] = float(match.group(2))
    for match in re.finditer(r'gamefleet_agent_api_writes\{call="([^"]+)"\} ([0-9.e+]+)', text):
        found["writes"] = found.get("writes", 0.0) + float(match.group(2))
    return found


async def _close(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def _list_gs(kube: kclient.KubeClient, namespace: str) -> list[kclient.Obj]:
    listed = await kube.request("GET", resources.GAME_SERVER.collection(namespace))
    return list(listed.get("items") or [])


def _failing(gs: kclient.Obj) -> bool:
    conds = (gs.get("status") or {}).get("serviceQualitiesConditions") or []
    return any(c.get("status") == "False" for c in conds)


class HealthServers:
    """A grpc.aio health server on each pod IP of a namespace, started as the IPs appear."""

    def __init__(self, kube: kclient.KubeClient, namespace: str, n: int) -> None:
        self.kube = kube
        self.namespace = namespace
        self.n = n
        self.servers: dict[str, tuple[grpc.aio.Server, health_aio.HealthServicer]] = {}

    async def bind_all(self) -> None:
        """Poll the pods until every one of the n has a server on its IP."""
        while len(self.servers) < self.n:
            listed = await self.kube.request("GET", resources.POD.collection(self.namespace))
            for pod in listed.get("items") or []:
                ip = str((pod.get("status") or {}).get("podIP") or "")
                if ip and ip not in self.servers:
                    servicer = health_aio.HealthServicer()  # "" is SERVING from the start
                    server = grpc.aio.server()
                    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
                    server.add_insecure_port(f"{ip}:{GRPC_PORT}")
                    await server.start()
                    self.servers[ip] = (server, servicer)
            await asyncio.sleep(1.0)

    async def set(self, ip: str, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else (
            health_pb2.HealthCheckResponse.NOT_SERVING
        )  # fmt: skip
        await self.servers[ip][1].set("", status)

    async def stop(self) -> None:
        await asyncio.gather(*(server.stop(None) for server, _ in self.servers.values()))


def _result(gs: kclient.Obj) -> str | None:
    for cond in (gs.get("status") or {}).get("serviceQualitiesConditions") or []:
        if cond.get("name") == "idle":
            return str(cond.get("result"))
    return None


async def run_kind(kind: str, args: argparse.Namespace, kubeconfig: str) -> None:
    kube = await kclient.KubeClient.connect(kubeconfig)
    await crds.install(kube)
    n = int(args.replicas)
    namespace = f"bench-quality-{kind}-{uuid.uuid4().hex[:5]}"
    await kube.create(NAMESPACE, None, {"apiVersion": "v1", "kind": "Namespace",
                                        "metadata": {"name": namespace}})  # fmt: skip
    root = pathlib.Path(tempfile.mkdtemp(prefix=f"{namespace}-"))
    bodies: dict[str, str] = {}
    names = [f"bench-{i}" for i in range(n)]
    runner: web.AppRunner | None = None
    tcp_server: asyncio.Server | None = None
    health: HealthServers | None = None
    binding: asyncio.Task[None] | None = None
    agent: subprocess.Popen[bytes] | None = None
    params: dict[str, Any] = {"replicas": n, "probe": kind, "period_s": 3, "nodes": 3, "kwok": True}
    actions = [
        {"state": True, "result": "idle", "opsState": "WaitToBeDeleted"},
        {"state": True, "result": "playing", "opsState": "None"},
    ]
    reported = "SERVING" if kind == "grpc" else None  # the result every GameServer must show
    try:
        if kind == "exec":
            sem = asyncio.Semaphore(32)

            async def add_exec(name: str) -> None:
                (root / name).mkdir()
                (root / name / "state").write_text("playing")
                async with sem:
                    await kube.create(EXEC, namespace, {
                        "apiVersion": EXEC.api_version, "kind": "Exec", "metadata": {"name": name},
                        "spec": {"execs": [{"local": {"workDir": str(root / name)}}]}})  # fmt: skip

            await asyncio.gather(*(add_exec(name) for name in names))
            probe: dict[str, Any] = {"exec": {"command": ["cat", "state"]}}
        elif kind == "tcp":
            tcp_server = await asyncio.start_server(_close, "0.0.0.0", HTTP_PORT + 1)
            probe = {"tcpSocket": {"port": HTTP_PORT + 1}}
        elif kind == "grpc":
            health = HealthServers(kube, namespace, n)
            probe = {"grpc": {"port": GRPC_PORT}, "failureThreshold": 1}
            params["failure_threshold"] = 1
            actions = [
                {"state": False, "result": "NOT_SERVING", "opsState": "WaitToBeDeleted"},
                {"state": True, "result": "SERVING", "opsState": "None"},
            ]
        elif kind == "http":

            async def handle(request: web.Request) -> web.Response:
                sock = request.transport.get_extra_info("sockname") if request.transport else None
                return web.Response(text=bodies.get(str(sock[0]) if sock else "", "playing"))

            app = web.Application()
            app.router.add_get("/quality", handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "0.0.0.0", HTTP_PORT).start()
            probe = {"httpGet": {"path": "/quality", "port": HTTP_PORT}}
        else:
            raise ValueError(f"unknown probe kind {kind!r}")
        quality = {
            "name": "idle", **probe, "initialDelaySeconds": 0, "periodSeconds": 3,
            "serviceQualityAction": actions,
        }  # fmt: skip
        port = _free_port()
        log = root / "agent.log"
        agent = agent_bench._start_agent(kubeconfig, namespace, port, log)
        await kube.create(resources.GAME_SERVER_SET, namespace, {
            "apiVersion": "game.kruise.io/v1alpha1", "kind": "GameServerSet",
            "metadata": {"name": "bench", "namespace": namespace},
            "spec": {"replicas": n, "serviceQualities": [quality],
                     "gameServerTemplate": {"spec": {"containers": [
                         {"name": "main", "image": "game:1"}]}}}})  # fmt: skip
        began = time.monotonic()
        if health is not None:
            binding = asyncio.create_task(health.bind_all())
        while True:
            items = await _list_gs(kube, namespace)
            results = [_result(g) for g in items]
            done = sum(1 for r in results if r is not None and reported in (None, r))
            if done == n:
                break
            if binding is not None and binding.done():
                binding.result()  # raises what stopped the servers from binding
            if time.monotonic() - began > args.timeout:
                raise TimeoutError(f"{done}/{n} GameServers report an outcome")
            await asyncio.sleep(2.0)
        emit("create to every GameServer reporting its probe", time.monotonic() - began, "s",
              **params)  # fmt: skip
        await asyncio.sleep(5.0)  # let the first writes settle
        m0, c0, t0 = _metrics(port), machine.cpu_seconds(agent.pid), time.monotonic()
        await asyncio.sleep(args.window)
        m1, c1, t1 = _metrics(port), machine.cpu_seconds(agent.pid), time.monotonic()
        span = t1 - t0

        def rate(key: str) -> float:
            return (m1.get(key, 0.0) - m0.get(key, 0.0)) / span

        window = {**params, "window_s": round(span, 1), "targets": m1.get("targets")}
        if kind == "grpc":
            window["grpc_channels"] = m1.get("grpc_channels")
        emit("agent CPU, steady probing", (c1 - c0) / span, "cores", **window)
        emit("agent API requests per second", rate("api_requests"), "1/s", **window)
        emit("agent API writes per second", rate("writes"), "1/s", **window)
        emit("probes run per second", rate("probes"), "1/s", **window,
              wanted=round(n / 3, 1))  # fmt: skip
        emit("condition writes per second", rate("reports"), "1/s", **window)
        items = await _list_gs(kube, namespace)
        failing = sum(1 for g in items if _failing(g))
        emit("GameServers whose probe reports failure", failing, "servers", **window)

        samples: list[float] = []
        missed = 0
        for i in range(args.samples if kind != "tcp" else 0):
            name = names[(i * 97) % n]
            for wanted, text in (("WaitToBeDeleted", "idle"), ("None", "playing")):
                if kind == "exec":
                    tmp = root / name / "state.tmp"
                    tmp.write_text(text)
                    tmp.replace(root / name / "state")
                elif health is not None:
                    pod = await kube.get(resources.POD, namespace, name)
                    await health.set(str(pod["status"]["podIP"]), text == "playing")
                else:
                    pod = await kube.get(resources.POD, namespace, name)
                    bodies[str(pod["status"]["podIP"])] = text
                start = time.monotonic()
                while True:
                    gs = await kube.get(resources.GAME_SERVER, namespace, name)
                    if gs["spec"].get("opsState") == wanted:
                        samples.append(time.monotonic() - start)
                        break
                    if time.monotonic() - start > 60:
                        missed += 1
                        break
                    await asyncio.sleep(0.05)
        if not samples:
            return  # tcp: no output to change
        emit("probe output change to GameServer opsState", statistics.median(samples), "s",
              **params, samples=len(samples), missed_after_60s=missed, min_s=round(min(samples), 2),
              max_s=round(max(samples), 2))  # fmt: skip
    finally:
        if agent is not None:
            agent.terminate()
            try:
                agent.wait(15)
            except subprocess.TimeoutExpired:
                agent.kill()
        if runner is not None:
            await runner.cleanup()
        if tcp_server is not None:
            tcp_server.close()
        if binding is not None:
            binding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await binding
        if health is not None:
            await health.stop()
        with contextlib.suppress(kclient.ApiError):
            await kube.request("DELETE", f"/api/v1/namespaces/{namespace}")
        await kube.close()
        shutil.rmtree(root, ignore_errors=True)


async def bench(args: argparse.Namespace) -> None:
    clusters, _ = manager.ensure(1, 3)
    kubeconfig = str(clusters[0].kubeconfig)
    for kind in args.kinds.split(","):
        await run_kind(kind.strip(), args, kubeconfig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--replicas", type=int, default=1000)
    kinds = "comma-separated: exec, http, tcp, grpc"
    parser.add_argument("--kinds", default="exec,http", help=kinds)
    parser.add_argument("--window", type=float, default=30.0, help="steady-state seconds")
    parser.add_argument("--samples", type=int, default=5, help="latency samples (x2 each)")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
