"""Kubernetes-HostPort end to end (OKG scenario 11 and gamefleet's persistent allocation), and
what a bad networkConf does."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from agent.core import wire
from agent.kube import resources
from tests.e2e.agent.harness import eventually, until_done

if TYPE_CHECKING:
    from collections.abc import Iterable

    from agent.kube.cache import WatchCache
    from tests.e2e.agent.harness import AgentProcess, Namespace

Obj = dict[str, Any]
HOST_PORT = {"networkType": "Kubernetes-HostPort"}
OWNER = wire.OWNER_GSS


def _network(value: str) -> Obj:
    return {**HOST_PORT, "networkConf": [{"name": "ContainerPorts", "value": value}]}


def _pairs(pods: dict[str, Obj]) -> dict[str, tuple[str, int]]:
    """pod name -> (node, host port) from the pod spec (node affinity pin and hostPort)."""
    found = {}
    for name, pod in pods.items():
        spec = pod["spec"]
        terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        node = terms["nodeSelectorTerms"][0]["matchFields"][0]["values"][0]
        assert spec.get("nodeName") in (None, node)
        found[name] = (node, spec["containers"][0]["ports"][0]["hostPort"])
    return found


async def _network_ready(namespace: Namespace, gss: str, count: int, seconds: float) -> None:
    async def check() -> bool:
        servers = await namespace.game_servers(gss)
        return _ready_count(servers.values()) == count == len(servers)

    await eventually(check, seconds, f"{count} servers of {gss} network Ready")


def _ready_count(servers: Iterable[Obj]) -> int:
    return sum(
        1
        for gs in servers
        if ((gs.get("status") or {}).get("networkStatus") or {}).get("currentNetworkState")
        == "Ready"
    )


async def _many_network_ready(game_servers: WatchCache, gss: str, count: int) -> None:
    """`count` servers of `gss` network Ready, read from a watch: a thousand servers come up in
    about 25 s on an idle machine and take minutes on a loaded one, so the wait fails only when
    nothing moves for two minutes."""

    def of_set() -> list[Obj]:
        return [
            gs for gs in game_servers.all() if gs["metadata"].get("labels", {}).get(OWNER) == gss
        ]

    def progress() -> tuple[int, int]:
        servers = of_set()
        return _ready_count(servers), len(servers)

    await until_done(
        lambda: progress() == (count, count),
        progress,
        120.0,
        f"{count} servers of {gss} network Ready",
        game_servers.next_change,
    )


async def test_scenario_11_host_ports_and_addresses(
    namespace: Namespace, agent: AgentProcess, port_range: str
) -> None:
    low, high = (int(x) for x in port_range.split("-"))
    await namespace.create_set("gs", 3, network=_network("main:7777/TCPUDP"))
    await namespace.wait_servers("gs", {0, 1, 2})
    await _network_ready(namespace, "gs", 3, 30.0)
    pods = await namespace.pods("gs")
    for name, pod in pods.items():
        ports = pod["spec"]["containers"][0]["ports"]
        assert [(p["containerPort"], p["protocol"]) for p in ports] == [
            (7777, "TCP"),
            (7777, "UDP"),
        ]
        host = ports[0]["hostPort"]
        assert ports[1]["hostPort"] == host and low <= host <= high
        notes = pod["metadata"]["annotations"]
        assert notes["game.kruise.io/network-type"] == "Kubernetes-HostPort"
        assert (
            json.loads(notes["game.kruise.io/network-conf"])
            == _network("main:7777/TCPUDP")["networkConf"]
        )
        status = (await namespace.get_gs(name))["status"]["networkStatus"]
        assert status["networkType"] == "Kubernetes-HostPort"
        assert status["desiredNetworkState"] == status["currentNetworkState"] == "Ready"
        assert status["createTime"] and status["lastTransitionTime"]
        assert status["internalAddresses"] == [
            {
                "ip": pod["status"]["podIP"],
                "ports": [
                    {"name": "7777-tcp", "protocol": "TCP", "port": 7777},
                    {"name": "7777-udp", "protocol": "UDP", "port": 7777},
                ],
            }
        ]
        node = await namespace.kube.get(resources.NODE, None, pod["spec"]["nodeName"])
        ip = {a["type"]: a["address"] for a in node["status"]["addresses"]}
        assert status["externalAddresses"] == [
            {
                "ip": ip.get("ExternalIP") or ip["InternalIP"],
                "ports": [
                    {"name": "7777-tcp", "protocol": "TCP", "port": host},
                    {"name": "7777-udp", "protocol": "UDP", "port": host},
                ],
            }
        ]
        # Games read the same status from the pod (downward API).
        assert json.loads(notes["game.kruise.io/network-status"]) == status
    # Three servers on three nodes: the lowest port on each.
    assert sorted(_pairs(pods).values()) == sorted((pods[n]["spec"]["nodeName"], low) for n in pods)


async def test_many_servers_distinct_pairs_survive_restart_and_reuse(
    namespace: Namespace, agent: AgentProcess, port_range: str
) -> None:
    low = int(port_range.split("-")[0])
    async with namespace.watching(resources.GAME_SERVER) as game_servers:
        await namespace.create_set("gs", 1000, network=_network("main:7777/UDP"))
        await _many_network_ready(game_servers, "gs", 1000)
    pairs = _pairs(await namespace.pods("gs"))
    assert len(set(pairs.values())) == 1000, "a (node, port) pair was given twice"
    nodes = {node for node, _ in pairs.values()}
    assert len(nodes) == 3
    # Ports are reused across nodes: 1,000 servers on 3 nodes need only 334 ports.
    assert {port for _, port in pairs.values()} == set(range(low, low + 334))

    # The allocation lives in the cluster: a new agent process continues it.
    agent.stop()
    agent.start()
    async with namespace.watching(resources.GAME_SERVER) as game_servers:
        await namespace.scale("gs", 1003)
        await _many_network_ready(game_servers, "gs", 1003)
    after = _pairs(await namespace.pods("gs"))
    assert {k: v for k, v in after.items() if k in pairs} == pairs
    assert len(set(after.values())) == 1003
    assert {port for _, port in after.values()} == set(range(low, low + 335))

    # A deleted server's (node, port) goes to the next server created.
    freed = after["gs-7"]
    old_uid = (await namespace.pods("gs"))["gs-7"]["metadata"]["uid"]
    await namespace.delete_pod("gs-7")

    seen: dict[str, tuple[str, int]] = {}

    async def reused() -> bool:
        # (kwok may remove a just-recreated pod of the same name once more; the agent then
        # creates it again: wait for a stable replacement.)
        pods = await namespace.pods("gs")
        pod = pods.get("gs-7")
        if len(pods) != 1003 or pod is None or pod["metadata"]["uid"] == old_uid:
            return False
        seen.update(_pairs(pods))
        return len(set(seen.values())) == 1003 and seen["gs-7"] == freed

    await eventually(reused, 60.0, f"gs-7 recreated on {freed}")
    await _network_ready(namespace, "gs", 1003, 60.0)


@pytest.mark.usefixtures("agent")
async def test_bad_network_conf_warns_and_creates_nothing(namespace: Namespace) -> None:
    await namespace.create_set("gs", 2, network=_network("main:abc/TCP"))
    expected = (
        'network.networkConf[0] ContainerPorts: "main:abc/TCP" is not <container>:<port>/<protocol>'
    )

    async def reported() -> bool:
        status = (await namespace.get_set("gs")).get("status") or {}
        conditions = {c["type"]: c for c in status.get("conditions") or []}
        cond = conditions.get("NetworkConfigInvalid")
        events = [
            e
            for e in await namespace.events("gs")
            if e["type"] == "Warning" and e["reason"] == "NetworkConfigInvalid"
        ]
        return (
            cond is not None
            and cond["status"] == "True"
            and expected in cond["message"]
            and any(expected in e["message"] for e in events)
        )

    await eventually(reported, 30.0, "NetworkConfigInvalid condition and event")
    assert await namespace.pods("gs") == {}
    assert await namespace.game_servers("gs") == {}

    # Fixed: the servers come, and the condition goes.
    await namespace.patch_set("gs", {"network": _network("main:7777/TCP")})
    await namespace.wait_servers("gs", {0, 1})
    status = await namespace.wait_status("gs", replicas=2)
    assert "NetworkConfigInvalid" not in {c["type"] for c in status.get("conditions") or []}


@pytest.mark.parametrize("port_range", ["9500-9501"])
@pytest.mark.usefixtures("agent")
async def test_out_of_host_ports_creates_what_fits_and_warns(namespace: Namespace) -> None:
    """2 ports x 3 nodes = 6 servers; the other 2 wait, and the 6 are served meanwhile."""
    await namespace.create_set("gs", 8, network=_network("main:7777/TCP"))
    await _network_ready(namespace, "gs", 6, 60.0)

    async def warned() -> bool:
        return any(
            e["type"] == "Warning" and e["reason"] == "NetworkUnavailable"
            for e in await namespace.events("gs")
        )

    await eventually(warned, 60.0, "a NetworkUnavailable event")
    assert len(await namespace.pods("gs")) == 6
    await namespace.scale("gs", 6)
    await namespace.wait_status("gs", 60.0, replicas=6, readyReplicas=6)


def _doomed_node(namespace: Namespace) -> str:
    return f"pinned-{namespace.name}"[:63]


async def _pinned_to_a_doomed_node(namespace: Namespace, replicas: int) -> dict[str, Obj]:
    """A node only this set may use, and the set's pods pinned to it but waiting (each asks for
    more CPU than the node has)."""
    node_name = _doomed_node(namespace)
    kube = namespace.kube
    await kube.create(
        resources.NODE,
        None,
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": node_name,
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {"pool": namespace.name, "type": "kwok"},
            },
            "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "10"}},
        },
    )

    async def ready() -> bool:
        node = await kube.get(resources.NODE, None, node_name)
        conditions = (node.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    await eventually(ready, 30.0, f"kwok makes {node_name} Ready")
    template = {
        "spec": {
            "nodeSelector": {"pool": namespace.name},
            "containers": [
                {"name": "main", "image": "game:1", "resources": {"requests": {"cpu": "2"}}}
            ],
        }
    }
    await kube.create(
        resources.GAME_SERVER_SET,
        namespace.name,
        {
            "apiVersion": "game.kruise.io/v1alpha1",
            "kind": "GameServerSet",
            "metadata": {"name": "gs", "namespace": namespace.name},
            "spec": {
                "replicas": replicas,
                "network": _network("main:7777/UDP"),
                "gameServerTemplate": template,
            },
        },
    )
    pods: dict[str, Obj] = {}

    async def pinned() -> bool:
        pods.clear()
        pods.update(await namespace.pods("gs"))
        return len(pods) == replicas

    await eventually(pinned, 30.0, f"{replicas} pods created")
    for name, pair in _pairs(pods).items():
        assert pair[0] == node_name
        assert not pods[name]["spec"].get("nodeName"), "the pod should wait: it does not fit"
    return pods


async def _warned_no_node(namespace: Namespace) -> None:
    async def warned() -> bool:
        return any(
            e["type"] == "Warning"
            and e["reason"] == "NetworkUnavailable"
            and "no node has 1 free host ports" in e["message"]
            for e in await namespace.events("gs")
        )

    await eventually(warned, 30.0, "NetworkUnavailable: no node for the set")


@pytest.mark.usefixtures("agent")
async def test_a_server_pinned_to_a_node_that_went_is_not_left_pending(
    namespace: Namespace,
) -> None:
    """A pod waits for its pinned node; the node is deleted: the agent deletes the stranded pod,
    and with no node left for the set's selector, says so instead of pinning a new pod to a node
    that does not exist."""
    try:
        pods = await _pinned_to_a_doomed_node(namespace, 1)
        first = pods["gs-0"]
    finally:
        await namespace.kube.delete(resources.NODE, None, _doomed_node(namespace))

    async def replaced() -> bool:
        pod = (await namespace.pods("gs", terminating=True)).get("gs-0")
        return pod is None or pod["metadata"]["uid"] != first["metadata"]["uid"]

    await eventually(replaced, 30.0, "the stranded pod deleted")
    await _warned_no_node(namespace)
    assert await namespace.pods("gs") == {}


@pytest.mark.usefixtures("agent")
async def test_an_allocated_server_is_never_deleted_for_a_lost_node(
    namespace: Namespace,
) -> None:
    """Player continuity: the same lost node, but gs-1 is Allocated: its pod stays (only gs-0's
    is recreated)."""
    try:
        pods = await _pinned_to_a_doomed_node(namespace, 2)
        await namespace.patch_gs("gs-1", {"opsState": "Allocated"})
        await namespace.wait_pod_label("gs", "gs-1", "game.kruise.io/gs-opsState", "Allocated")
    finally:
        await namespace.kube.delete(resources.NODE, None, _doomed_node(namespace))

    async def replaced() -> bool:
        pod = (await namespace.pods("gs", terminating=True)).get("gs-0")
        return pod is None or pod["metadata"]["uid"] != pods["gs-0"]["metadata"]["uid"]

    await eventually(replaced, 30.0, "gs-0's stranded pod deleted")
    await _warned_no_node(namespace)
    kept = (await namespace.pods("gs")).get("gs-1")
    assert kept is not None and kept["metadata"]["uid"] == pods["gs-1"]["metadata"]["uid"]
