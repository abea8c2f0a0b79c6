"""Benchmark of the network plugins on one local cluster; prints one JSON object per figure.

python -m bench.network_bench [--replicas 1000]
    [--plugins Kubernetes-HostPort,Kubernetes-NodePort,AlibabaCloud-SLB]

Per plugin: time from creating an N-replica GameServerSet to N GameServers whose
`networkStatus.currentNetworkState` is Ready (with the milestones: all pods created, all pods
Ready, all GameServers Ready), and the agent's API writes per game server. The agent runs as
its own process (`python -m agent`) scoped to a fresh namespace per plugin; HostPort uses the
range 20000-21000 so it never meets another test's ports. AlibabaCloud-SLB spreads the servers
over 5 load balancers (201 ports each in OKG's default 500-700 less 593), and a stand-in for the
cloud's controller writes each LoadBalancer Service's address as soon as it sees it, so the
figure is gamefleet's and the API server's share, without the cloud's own latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import tempfile
import time
import uuid
from typing import TYPE_CHECKING

from agent.core.network import gcp_global
from agent.kube import cache as kcache
from agent.kube import client as kclient
from agent.kube import crds, ready, resources
from agent.network.gcp_global import KINDS as CNRM_KINDS
from bench import agent_bench
from bench.machine import emit
from okg import vocabulary
from tests.e2e.network import helpers
from tests.localcluster import manager

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

REPO = pathlib.Path(__file__).resolve().parents[1]
HOST_PORT_RANGE = "20000-21000"
CONF = {
    "Kubernetes-HostPort": [{"name": "ContainerPorts", "value": "main:7777/UDP"}],
    "Kubernetes-HostPort-least-used": [
        {"name": "ContainerPorts", "value": "main:7777/UDP"},
        {"name": "AllocatePolicy", "value": "least-used"},
    ],
    "Kubernetes-NodePort": [{"name": "PortProtocols", "value": "7777/UDP"}],
    "AlibabaCloud-SLB": [
        {"name": "SlbIds", "value": ",".join(f"lb-{i}" for i in range(5))},
        {"name": "PortProtocols", "value": "7777/UDP"},
    ],
    "GoogleCloud-NLB": [
        {"name": "AddressNames", "value": "game-ip-a,game-ip-b"},
        {"name": "PortProtocols", "value": "7777/UDP"},
    ],
    "GoogleCloud-NLB-global": [
        {"name": "AddressNames", "value": "game-ip-a,game-ip-b"},
        {"name": "PortProtocols", "value": "7777/TCP"},
        {"name": "GlobalAddress", "value": "true"},
        {"name": "GlobalProjectId", "value": "game-prod"},
    ],
    "AlibabaCloud-AutoNLBs": [
        {"name": "ZoneMaps", "value": "vpc-1@cn-hangzhou-h:vsw-a,cn-hangzhou-i:vsw-b"},
        {"name": "PortProtocols", "value": "7777/UDP"},
    ],
    "AlibabaCloud-Multi-NLBs": [
        {
            "name": "NlbIdNames",
            "value": ",".join(
                f"nlb-{line}{i}/{line}" for i in range(2) for line in ("telecom", "unicom")
            ),
        },
        {"name": "PortProtocols", "value": "7777/UDP"},
    ],
    "AlibabaCloud-SLB-SharedPort": [
        {"name": "SlbIds", "value": ",".join(f"lb-{i}" for i in range(5))},
        {"name": "PortProtocols", "value": "7777/UDP"},
    ],
    "AlibabaCloud-NLB-SharedPort": [
        {"name": "NlbIds", "value": "nlb-0"},
        {"name": "PortProtocols", "value": "7777/UDP"},
    ],
    "HwCloud-ELB": [
        {"name": "ElbIds", "value": ",".join(f"elb-{i}" for i in range(5))},
        {"name": "PortProtocols", "value": "7777/UDP"},
    ],
    "HwCloud-CCE-ELB": [
        {"name": "kubernetes.io/elb.autocreate", "value": '{"type":"public"}'},
        {"name": "PortProtocols", "value": "7777/UDP"},
    ],
    "JdCloud-NLB": [
        {"name": "NlbIds", "value": ",".join(f"nlb-{i}" for i in range(5))},
        {"name": "PortProtocols", "value": "7777/UDP"},
    ],
    "AlibabaCloud-EIP": [{"name": "ReleaseStrategy", "value": "Follow"}],
    "AlibabaCloud-NATGW": [
        {"name": "Ports", "value": "7777"},
        {"name": "Protocol", "value": "udp"},
    ],
    "HwCloud-CCE-EIP": [{"name": "yangtse.io/pod-with-eip", "value": "true"}],
    "JdCloud-EIP": [{"name": "Bandwidth", "value": "10"}],
    "Volcengine-EIP": [{"name": "bandwidth", "value": "5"}],
    "Azure-SLB": [
        {"name": "PipNames", "value": "game-pip-1,game-pip-2"},
        {"name": "PortProtocols", "value": "7777/UDP"},
    ],
}
DEFAULT_PLUGINS = "Kubernetes-HostPort,Kubernetes-NodePort,AlibabaCloud-SLB"
CLOUD_WRITES_IN_FLIGHT = 8
EIP = "47.0.0.2"
POD_NOTES: dict[str, kclient.Obj] = {
    "HwCloud-CCE-EIP": {"yangtse.io/allocated-ipv4-eip": EIP},
    "JdCloud-EIP": {"jdos.jd.com/eip.id": "eip-1", "jdos.jd.com/eip.ip": EIP},
    "Volcengine-EIP": {
        "vke.volcengine.com/allocated-eips": json.dumps([{"EipId": "eip-1", "EipAddress": EIP}])
    },
}
"""What each cloud's CNI writes on a pod once its EIP is bound."""


def network_type(plugin: str) -> str:
    """A benchmarked variant's plugin (`Kubernetes-HostPort-least-used`,
    `GoogleCloud-NLB-global`)."""
    return plugin.removesuffix("-least-used").removesuffix("-global")


def _global(plugin: str) -> bool:
    return plugin.endswith("-global")


async def _answer_each(
    caches: list[kcache.WatchCache],
    wants: Callable[[kclient.Obj], bool],
    answer: Callable[[kclient.Obj], Awaitable[None]],
) -> None:
    """Calls `answer` once per object (uid and generation) `wants`, 8 at a time."""
    answered: set[tuple[str, object]] = set()
    limit = asyncio.Semaphore(CLOUD_WRITES_IN_FLIGHT)

    async def one(obj: kclient.Obj) -> None:
        async with limit:
            try:
                await answer(obj)
            except kclient.ApiError as exc:
                if not exc.not_found:
                    raise

    tasks: set[asyncio.Task[None]] = set()
    while True:
        for cache in caches:
            for obj in list(cache.all()):
                key = (str(obj["metadata"].get("uid")), obj["metadata"].get("generation"))
                if key in answered or not wants(obj):
                    continue
                answered.add(key)
                task = asyncio.create_task(one(obj))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        waits = [asyncio.create_task(c.next_change(5.0)) for c in caches]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for waiting in waits:
            waiting.cancel()


async def _google_cloud(
    kube: kclient.KubeClient, services: kcache.WatchCache, cnrm: list[kcache.WatchCache]
) -> None:
    """As GKE's NEG controller (the NEG status on each Service asking for NEGs) and Config
    Connector (every object Ready, a global address with its IP)."""

    async def neg(svc: kclient.Obj) -> None:
        meta = svc["metadata"]
        asked = json.loads(meta["annotations"][gcp_global.NEG])["exposed_ports"]
        status = {"network_endpoint_groups": {p: v["name"] for p, v in asked.items()},
                  "zones": ["europe-west1-b"]}  # fmt: skip
        await kube.patch(resources.SERVICE, meta["namespace"], meta["name"],
                         {"metadata": {"annotations": {gcp_global.NEG_STATUS:
                                                       json.dumps(status)}}})  # fmt: skip

    def asks(svc: kclient.Obj) -> bool:
        notes = svc["metadata"].get("annotations") or {}
        return gcp_global.NEG in notes and gcp_global.NEG_STATUS not in notes

    kinds = {c.resource.kind: c.resource for c in cnrm}

    async def made(obj: kclient.Obj) -> None:
        meta = obj["metadata"]
        status: kclient.Obj = {
            "observedGeneration": meta.get("generation", 1),
            "conditions": [{"type": "Ready", "status": "True", "reason": "UpToDate"}],
        }
        if obj["kind"] == gcp_global.ADDRESS:
            status["observedState"] = {"address": "34.120.0.9"}
        await kube.patch(kinds[obj["kind"]], meta["namespace"], meta["name"],
                         {"status": status}, subresource="status")  # fmt: skip

    await asyncio.gather(
        _answer_each([services], asks, neg),
        _answer_each(cnrm, lambda o: not gcp_global.ready(o), made),
    )


async def _pod_cloud(kube: kclient.KubeClient, plugin: str, pods: kcache.WatchCache) -> None:
    """As each cloud's network controller: the pod's EIP in its annotations, or a PodEIP /
    PodDNAT named like it (created, then its status), once the pod runs."""
    answered: set[str] = set()
    limit = asyncio.Semaphore(CLOUD_WRITES_IN_FLIGHT)

    async def answer(pod: kclient.Obj) -> None:
        meta = pod["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        async with limit:
            if plugin in POD_NOTES:
                await kube.patch(
                    resources.POD, namespace, name, {"metadata": {"annotations": POD_NOTES[plugin]}}
                )
                return
            resource = resources.POD_EIP if plugin == "AlibabaCloud-EIP" else resources.POD_DNAT
            ip = pod["status"]["podIP"]
            status: kclient.Obj = (
                {"eipAddress": EIP, "privateIPAddress": ip}
                if resource is resources.POD_EIP
                else {"entries": [{"externalIP": EIP, "externalPort": "30001", "internalIP": ip,
                                   "internalPort": "7777", "ipProtocol": "udp"}]}
            )  # fmt: skip
            body = {"apiVersion": resource.group_version, "kind": resource.kind,
                    "metadata": {"name": name, "namespace": namespace}, "spec": {}}  # fmt: skip
            await kube.create(resource, namespace, body)
            await kube.patch(resource, namespace, name, {"status": status}, subresource="status")

    tasks: set[asyncio.Task[None]] = set()
    while True:
        for pod in list(pods.all()):
            uid = str(pod["metadata"].get("uid"))
            if uid in answered or not (pod.get("status") or {}).get("podIP"):
                continue
            answered.add(uid)
            task = asyncio.create_task(answer(pod))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await pods.next_change(5.0)


async def _cloud_controller(kube: kclient.KubeClient, services: kcache.WatchCache) -> None:
    """Writes an address to every LoadBalancer Service that has none, as a cloud would."""
    answered: set[str] = set()
    limit = asyncio.Semaphore(CLOUD_WRITES_IN_FLIGHT)

    async def answer(svc: kclient.Obj) -> None:
        meta = svc["metadata"]
        async with limit:
            await kube.patch(
                resources.SERVICE,
                meta["namespace"],
                meta["name"],
                {"status": {"loadBalancer": {"ingress": [{"ip": "47.0.0.1"}]}}},
                subresource="status",
            )

    tasks: set[asyncio.Task[None]] = set()
    while True:
        for svc in list(services.all()):
            uid = str(svc["metadata"].get("uid"))
            if (svc.get("spec") or {}).get("type") == "LoadBalancer" and uid not in answered:
                answered.add(uid)
                task = asyncio.create_task(answer(svc))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        await services.next_change(5.0)


def _global_address(gs: kclient.Obj) -> bool:
    return bool(((gs.get("status") or {}).get("networkStatus") or {}).get("globalAddresses"))


def _net_state(gs: kclient.Obj) -> str:
    return str(((gs.get("status") or {}).get("networkStatus") or {}).get("currentNetworkState"))


async def _one(
    kube: kclient.KubeClient, kubeconfig: str, plugin: str, n: int, timeout: float
) -> None:
    namespace = f"bench-net-{plugin.split('-')[1].lower()}-{uuid.uuid4().hex[:5]}"
    await kube.create(
        resources.NAMESPACE,
        None,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
    )
    port = agent_bench._free_port()
    log = pathlib.Path(tempfile.gettempdir()) / f"{namespace}.log"
    agent = agent_bench._start_agent(
        kubeconfig, namespace, port, log, "--host-port-range", HOST_PORT_RANGE
    )
    game_servers = kcache.WatchCache(kube, resources.GAME_SERVER, namespace=namespace)
    pods = kcache.WatchCache(kube, resources.POD, namespace=namespace)
    services = kcache.WatchCache(kube, resources.SERVICE, namespace=namespace)
    watchers = [
        asyncio.create_task(game_servers.run()),
        asyncio.create_task(pods.run()),
        asyncio.create_task(services.run()),
        asyncio.create_task(_cloud_controller(kube, services)),
    ]
    if plugin in POD_NOTES or plugin in ("AlibabaCloud-EIP", "AlibabaCloud-NATGW"):
        watchers.append(asyncio.create_task(_pod_cloud(kube, plugin, pods)))
    if _global(plugin):
        cnrm = [kcache.WatchCache(kube, r, namespace=namespace) for r in CNRM_KINDS]
        watchers += [asyncio.create_task(c.run()) for c in cnrm]
        watchers.append(asyncio.create_task(_google_cloud(kube, services, cnrm)))
    params = {"plugin": plugin, "replicas": n, "nodes": 3, "kwok": True}
    try:
        await agent_bench._wait(
            "agent metrics", lambda: agent_bench._try(agent_bench._writes, port) is not None, 30
        )
        await asyncio.sleep(1.0)  # let the agent win its lease
        base = agent_bench._writes(port)
        body = {
            "apiVersion": vocabulary.API_VERSION,
            "kind": "GameServerSet",
            "metadata": {"name": "bench", "namespace": namespace},
            "spec": {
                "replicas": n,
                "network": {"networkType": network_type(plugin), "networkConf": CONF[plugin]},
                "gameServerTemplate": {
                    "spec": {"containers": [{"name": "main", "image": "game:1"}]}
                },
            },
        }
        began = time.monotonic()
        await kube.create(resources.GAME_SERVER_SET, namespace, body)
        milestones: dict[str, float] = {}

        def progress() -> bool:
            elapsed = round(time.monotonic() - began, 2)
            items = agent_bench._pod_items(pods)
            if len(items) == n:
                milestones.setdefault("all_pods_created_s", elapsed)
                if all(agent_bench._pod_ready(p) for _, p in items):
                    milestones.setdefault("all_pods_ready_s", elapsed)
            servers = list(game_servers.all())
            if len(servers) == n and all(
                (g.get("status") or {}).get("currentState") == "Ready" for g in servers
            ):
                milestones.setdefault("all_game_servers_ready_s", elapsed)
            network_ready = len(servers) == n and all(_net_state(g) == "Ready" for g in servers)
            if not _global(plugin) or not network_ready:
                return network_ready
            milestones.setdefault("all_network_ready_s", elapsed)
            return all(_global_address(g) for g in servers)

        await agent_bench._wait("N servers with network Ready", progress, timeout)
        took = time.monotonic() - began
        figure = (
            "create to all servers with a global address"
            if _global(plugin)
            else "create to all servers network Ready"
        )
        emit(figure, took, "s", **params, **milestones)
        await asyncio.sleep(2.0)
        after = agent_bench._writes(port)
        writes = sum(after.values()) - sum(base.values())
        emit("agent API writes per game server created", writes / n, "writes", **params,
              breakdown={k: v - base.get(k, 0) for k, v in after.items()})  # fmt: skip
    finally:
        agent.terminate()
        agent.wait(30)
        for task in watchers:
            task.cancel()
        await kube.request("DELETE", f"/api/v1/namespaces/{namespace}")
        await _gone(kube, namespace)


async def _gone(kube: kclient.KubeClient, namespace: str, seconds: float = 600.0) -> None:
    """Wait for the namespace to be deleted (its Services hold node ports the next plugin's
    Services need)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            await kube.request("GET", f"/api/v1/namespaces/{namespace}")
        except kclient.ApiError as exc:
            if exc.not_found:
                return
            raise
        await asyncio.sleep(2.0)


async def bench(args: argparse.Namespace) -> None:
    clusters, _ = manager.ensure(1, 3)
    kubeconfig = str(clusters[0].kubeconfig)
    kube = await kclient.KubeClient.connect(kubeconfig)
    await crds.install(kube)
    cloud_kinds = (resources.POD_EIP, resources.POD_DNAT, *CNRM_KINDS)
    for resource in cloud_kinds:
        await kube.apply(resources.CRD, None, helpers.crd(resource))
    await ready.wait_serving(kube, cloud_kinds, 60.0)
    try:
        for plugin in args.plugins.split(","):
            await _one(kube, kubeconfig, plugin, int(args.replicas), args.timeout)
            await asyncio.sleep(5.0)  # let the cluster settle before the next plugin
    finally:
        await kube.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--plugins", default=DEFAULT_PLUGINS, help=f"of {', '.join(CONF)}")
    parser.add_argument("--timeout", type=float, default=600.0)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
