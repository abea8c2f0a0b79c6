"""OKG conformance: the sets of the OKG side-by-side comparison (create, in-place update,
scale-down, HostPort, a service quality), and each field, label and annotation OKG writes on
GameServerSets, GameServers and pods, with OKG's types; OKG's metrics on the agent's /metrics.

The reference is OKG's own code (openkruise/kruise-game: apis/v1alpha1, pkg/controllers,
pkg/metrics); deliberate differences are listed in docs/agent-semantics.md."""

from __future__ import annotations

import re
import urllib.request
from typing import TYPE_CHECKING, Any

from agent.core import bodies, wire
from tests.e2e.agent.harness import eventually

if TYPE_CHECKING:
    from tests.e2e.agent.harness import AgentProcess, Namespace
    from tests.e2e.quality.conftest import PodDirs

Obj = dict[str, Any]
IN_PLACE = {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "maxUnavailable": "100%"}}
QUALITY = {
    "name": "healthy",
    "exec": {"command": ["true"]},
    "initialDelaySeconds": 0,
    "periodSeconds": 1,
    "serviceQualityAction": [{"state": True, "updatePriority": 20}],
}
HOST_PORT = {
    "networkType": "Kubernetes-HostPort",
    "networkConf": [{"name": "ContainerPorts", "value": "main:7777/UDP"}],
}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


async def _settled(namespace: Namespace, gss: str, count: int, what: str, check: Any) -> None:
    """Every one of `count` GameServers of `gss` (and its pod) passes `check(gs, pod)`."""
    last: list[str] = []

    async def ok() -> bool:
        servers, pods = await namespace.game_servers(gss), await namespace.pods(gss)
        last[:] = [f"{n}: {_brief(g, pods.get(n) or {})}" for n, g in servers.items()]
        return len(servers) == len(pods) == count and all(
            check(gs, pods[name]) for name, gs in servers.items() if name in pods
        )

    try:
        await eventually(ok, 60.0, f"{gss}: {what}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last {last}") from None


def _brief(gs: Obj, pod: Obj) -> str:
    status = gs.get("status") or {}
    copied = status.get("podStatus") == bodies.without_nulls(pod.get("status"))
    node = (gs["metadata"].get("labels") or {}).get(wire.NODE_NAME)
    return f"{status.get('currentState')} {status.get('updatePriority')!r} {node} {copied}"


def _ready_with_priority(gs: Obj, pod: Obj) -> bool:
    status = gs.get("status") or {}
    qualities = status.get("serviceQualitiesConditions") or [{}]
    return (
        status.get("currentState") == "Ready"
        and bool(qualities[0].get("lastActionTransitionTime"))
        and status.get("updatePriority") == "20"
        and status.get("podStatus") == bodies.without_nulls(pod.get("status"))
        and (gs["metadata"].get("labels") or {}).get(wire.NODE_NAME) is not None
    )


def _check_game_server(gs: Obj, pod: Obj, gss: Obj) -> None:
    """Each field OKG writes on a GameServer, with its type."""
    meta = gs["metadata"]
    labels, notes = meta["labels"], meta["annotations"]
    assert labels[wire.OWNER_GSS] == gss["metadata"]["name"]
    assert labels["app"] == "plain"  # the template's labels
    assert labels[wire.NODE_NAME] == pod["spec"]["nodeName"]
    assert re.fullmatch(r"\d+", notes[wire.TEMPLATE_METADATA_HASH])
    spec = gs["spec"]
    # InitGameServer: opsState None, int priorities 0, networkDisabled false.
    assert spec["opsState"] == "None"
    assert spec["updatePriority"] == 20  # the quality action's int
    assert spec["deletionPriority"] == 0 and isinstance(spec["deletionPriority"], int)
    assert spec["networkDisabled"] is False
    status = gs["status"]
    assert (status["desiredState"], status["currentState"]) == ("Ready", "Ready")
    # Status priorities are IntOrString strings (OKG reads them off the pod labels).
    assert (status["updatePriority"], status["deletionPriority"]) == ("20", "0")
    # podStatus is the pod's whole PodStatus.
    pod_status = status["podStatus"]
    assert pod_status == bodies.without_nulls(pod["status"])
    gates = {c["type"]: c["status"] for c in pod_status["conditions"]}
    assert gates["Ready"] == gates["InPlaceUpdateReady"] == "True"
    assert pod_status["containerStatuses"][0]["image"] == pod["spec"]["containers"][0]["image"]
    assert pod_status["qosClass"] == "BestEffort"
    assert pod_status["hostIPs"] and pod_status["podIP"]
    # No network plugin: OKG leaves the network status empty.
    assert not status.get("networkStatus")
    (quality,) = status["serviceQualitiesConditions"]
    assert (quality["name"], quality["status"], quality["result"]) == ("healthy", "True", "")
    for field in ("lastProbeTime", "lastTransitionTime", "lastActionTransitionTime"):
        assert TIME.match(quality[field]), field
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "PodNormal": "True",
        "NodeNormal": "True",
        "PersistentVolumeNormal": "True",
    }
    assert TIME.match(status["lastTransitionTime"])


def _check_pod(pod: Obj, gss: Obj) -> None:
    """The labels and annotations OKG tools read on the pod."""
    labels, notes = pod["metadata"]["labels"], pod["metadata"]["annotations"]
    assert labels[wire.OWNER_GSS] == gss["metadata"]["name"]
    assert labels[wire.GS_STATE] == "Ready"
    assert labels[wire.GS_OPS_STATE] == "None"
    assert labels[wire.GS_UPDATE_PRIORITY] == "20"
    assert labels[wire.GS_DELETE_PRIORITY] == "0"
    assert labels[wire.NETWORK_DISABLED] == "false"
    assert TIME.match(notes[wire.STATE_LAST_CHANGED])
    assert TIME.match(notes[wire.OPS_STATE_LAST_CHANGED])
    assert wire.UPDATING_CONTAINERS not in notes  # only while PreUpdate / Updating
    assert {"conditionType": "InPlaceUpdateReady"} in pod["spec"]["readinessGates"]


def _check_set(gss: Obj, replicas: int) -> None:
    status = gss["status"]
    assert status["observedGeneration"] == gss["metadata"]["generation"]
    for field in ("replicas", "readyReplicas", "availableReplicas", "currentReplicas",
                  "updatedReplicas", "updatedReadyReplicas"):  # fmt: skip
        assert status[field] == replicas, field
    for field in ("maintainingReplicas", "waitToBeDeletedReplicas", "preDeleteReplicas"):
        assert status[field] == 0, field
    assert status["labelSelector"] == f"{wire.OWNER_GSS}=plain"


def _scrape(agent: AgentProcess) -> dict[str, float]:
    """`name{labels}` -> value of every OKG sample on the agent's /metrics."""
    url = f"http://127.0.0.1:{agent.metrics_port}/metrics"
    try:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        if line.startswith("okg_"):
            sample, value = line.rsplit(" ", 1)
            found[_sample(sample)] = float(value)
    return found


def _sample(text: str) -> str:
    """`name{labels}` with its labels in name order (the exposition may order them)."""
    name, _, labels = text.partition("{")
    pairs = sorted(re.findall(r'(\w+)="([^"]*)"', labels))
    return name + ("{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}" if pairs else "")


async def test_okg_conformance_of_a_set_through_its_life(
    namespace: Namespace, agent: AgentProcess, pod_dirs: PodDirs
) -> None:
    await pod_dirs.add("plain-0", "plain-1", "plain-2")
    await namespace.create_set("plain", 3, updateStrategy=IN_PLACE, serviceQualities=[QUALITY])
    await _settled(namespace, "plain", 3, "Ready, updatePriority 20", _ready_with_priority)
    gss = await namespace.get_set("plain")
    servers, pods = await namespace.game_servers("plain"), await namespace.pods("plain")
    for name, gs in servers.items():
        _check_game_server(gs, pods[name], gss)
        _check_pod(pods[name], gss)
    await namespace.wait_status("plain", replicas=3, readyReplicas=3, updatedReadyReplicas=3)
    _check_set(await namespace.get_set("plain"), 3)

    # OKG's metrics, names and labels as pkg/metrics defines them.
    ns = namespace.name
    wanted = {
        'okg_gameservers_state_count{state="Ready"}': 3.0,
        f'okg_gameservers_opsState_count{{opsState="None",gssName="plain",namespace="{ns}"}}': 3.0,
        f'okg_gameserversets_replicas_count{{gsStatus="ready",gssName="plain",gssNs="{ns}"}}': 3.0,
        f'okg_gameserver_update_priority{{gsName="plain-0",gsNs="{ns}"}}': 20.0,
        f'okg_gameserver_deletion_priority{{gsName="plain-0",gsNs="{ns}"}}': 0.0,
        "okg_gameservers_total": 3.0,
    }
    wanted = {_sample(k): v for k, v in wanted.items()}
    seen: dict[str, float] = {}

    async def scraped() -> bool:
        seen.clear()
        seen.update(_scrape(agent))
        return all(seen.get(k) == v for k, v in wanted.items())

    try:
        await eventually(scraped, 30.0, "OKG metrics")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last {sorted(seen.items())}") from None
    ready = 'okg_gameserver_ready_duration_seconds{gsName="plain-0",gsNs="%s",gssName="plain"}'
    assert seen[_sample(ready % ns)] > 0

    # In-place update: the same pods on the new image, every field as before.
    before = {n: p["metadata"]["uid"] for n, p in pods.items()}
    template = gss["spec"]["gameServerTemplate"]
    template["spec"]["containers"][0]["image"] = "game:2"
    await namespace.patch_set("plain", {"gameServerTemplate": template})

    def updated(gs: Obj, pod: Obj) -> bool:
        running = ((pod.get("status") or {}).get("containerStatuses") or [{}])[0]
        return running.get("image") == "game:2" and _ready_with_priority(gs, pod)

    await _settled(namespace, "plain", 3, "updated in place", updated)
    gss = await namespace.get_set("plain")
    servers, pods = await namespace.game_servers("plain"), await namespace.pods("plain")
    assert {n: p["metadata"]["uid"] for n, p in pods.items()} == before
    for name, gs in servers.items():
        _check_game_server(gs, pods[name], gss)
        _check_pod(pods[name], gss)

    # Scale-down: the highest ordinal goes, with its GameServer.
    await namespace.scale("plain", 2)
    await namespace.wait_servers("plain", {0, 1})
    await _settled(namespace, "plain", 2, "two servers", _ready_with_priority)
    await namespace.wait_status("plain", replicas=2, readyReplicas=2, updatedReadyReplicas=2)
    _check_set(await namespace.get_set("plain"), 2)


async def test_okg_conformance_of_a_host_port_set(
    namespace: Namespace, agent: AgentProcess
) -> None:
    await namespace.create_set("hp", 2, network=HOST_PORT)

    def network_ready(gs: Obj, pod: Obj) -> bool:
        status = gs.get("status") or {}
        network = status.get("networkStatus") or {}
        copied = status.get("podStatus") == bodies.without_nulls(pod.get("status"))
        return network.get("currentNetworkState") == "Ready" and copied

    await _settled(namespace, "hp", 2, "network Ready", network_ready)
    servers, pods = await namespace.game_servers("hp"), await namespace.pods("hp")
    for name, gs in servers.items():
        network = gs["status"]["networkStatus"]
        assert network["networkType"] == "Kubernetes-HostPort"
        assert network["desiredNetworkState"] == "Ready"
        assert TIME.match(network["createTime"]) and TIME.match(network["lastTransitionTime"])
        (inner,) = network["internalAddresses"]
        (outer,) = network["externalAddresses"]
        assert inner["ip"] == pods[name]["status"]["podIP"]
        assert inner["ports"] == [{"name": "main-7777", "protocol": "UDP", "port": 7777}]
        (port,) = outer["ports"]
        assert port["name"] == "main-7777" and isinstance(port["port"], int)
        host = pods[name]["spec"]["containers"][0]["ports"][0]["hostPort"]
        assert port["port"] == host
        notes = pods[name]["metadata"]["annotations"]
        assert notes[wire.NETWORK_TYPE] == "Kubernetes-HostPort"
        assert wire.NETWORK_STATUS in notes and wire.NETWORK_CONF in notes
