"""Service quality end to end: probes inside game servers drive ops state through the agent."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from aiohttp import web
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agent.kube import client as kclient
from agent.quality import actions
from tests.e2e.agent.harness import AgentProcess, eventually

if TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator

    from tests.e2e.agent.harness import Namespace
    from tests.localcluster.state import Cluster

    from .conftest import PodDirs

Obj = dict[str, Any]
FAST = {"initialDelaySeconds": 0, "periodSeconds": 1}


def exec_quality(name: str, command: list[str], *acts: Obj, **extra: object) -> Obj:
    return {"name": name, "exec": {"command": command}, **FAST, **extra,
            "serviceQualityAction": list(acts)}  # fmt: skip


async def wait_gs(
    namespace: Namespace, name: str, what: str, check: Any, seconds: float = 30.0
) -> Obj:
    found: Obj = {}

    async def ok() -> bool:
        found.clear()
        try:
            found.update(await namespace.get_gs(name))
        except kclient.ApiError as exc:
            if exc.not_found:
                return False
            raise
        return bool(check(found))

    try:
        await eventually(ok, seconds, f"{name}: {what}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last {found.get('spec')} {found.get('status')}") from None
    return found


def condition(gs: Obj, name: str) -> Obj:
    for cond in (gs.get("status") or {}).get("serviceQualitiesConditions") or []:
        if cond.get("name") == name:
            return dict(cond)
    return {}


@pytest.mark.usefixtures("agent")
async def test_scenario_3_probe_success_sets_update_priority(
    namespace: Namespace, pod_dirs: PodDirs
) -> None:
    await pod_dirs.add("gs-0", "gs-1", "gs-2")
    quality = exec_quality("healthy", ["true"], {"state": True, "updatePriority": 20})
    await namespace.create_set("gs", 3, serviceQualities=[quality])
    for name in ("gs-0", "gs-1", "gs-2"):
        gs = await wait_gs(namespace, name, "updatePriority 20",
                           lambda g: g["spec"].get("updatePriority") == 20)  # fmt: skip
        cond = condition(gs, "healthy")
        assert cond["status"] == "True" and cond["result"] == ""
    await namespace.wait_pod_label("gs", "gs-2", "game.kruise.io/gs-update-priority", "20")
    gs = await wait_gs(
        namespace,
        "gs-0",
        "action time",
        lambda g: condition(g, "healthy").get("lastActionTransitionTime"),
    )
    assert {"lastProbeTime", "lastTransitionTime"} <= set(condition(gs, "healthy"))


@pytest.mark.usefixtures("agent")
async def test_output_drives_ops_state_and_scale_down_takes_idle(
    namespace: Namespace, pod_dirs: PodDirs
) -> None:
    pods = ("gs-0", "gs-1", "gs-2")
    await pod_dirs.add(*pods)
    for pod in pods:
        pod_dirs.write(pod, "state", "playing\n")
    quality = exec_quality(
        "idle", ["cat", "state"],
        {"state": True, "result": "idle", "opsState": "WaitToBeDeleted"},
        {"state": True, "result": "playing", "opsState": "None"},
    )  # fmt: skip
    await namespace.create_set("gs", 3, serviceQualities=[quality])
    await namespace.wait_servers("gs", {0, 1, 2})
    await wait_gs(namespace, "gs-0", "result playing",
                  lambda g: condition(g, "idle").get("result") == "playing")  # fmt: skip

    pod_dirs.write("gs-1", "state", "idle\n")
    await wait_gs(namespace, "gs-1", "WaitToBeDeleted",
                  lambda g: g["spec"]["opsState"] == "WaitToBeDeleted")  # fmt: skip
    pod_dirs.write("gs-1", "state", "playing\n")
    await wait_gs(namespace, "gs-1", "None", lambda g: g["spec"]["opsState"] == "None")

    pod_dirs.write("gs-0", "state", "idle\n")
    await wait_gs(namespace, "gs-0", "WaitToBeDeleted",
                  lambda g: g["spec"]["opsState"] == "WaitToBeDeleted")  # fmt: skip
    await namespace.wait_pod_label("gs", "gs-0", "game.kruise.io/gs-opsState", "WaitToBeDeleted")
    await namespace.scale("gs", 2)
    await namespace.wait_servers("gs", {1, 2})


async def test_permanent_action_fires_once_across_restart(
    namespace: Namespace, pod_dirs: PodDirs, kubeconfig: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    await pod_dirs.add("gs-0")
    pod_dirs.write("gs-0", "out", "first")
    quality = exec_quality(
        "boot", ["cat", "out"],
        {"state": True, "annotations": {"boot-result": "{{.Result}}"}}, permanent=True,
    )  # fmt: skip
    await namespace.create_set("gs", 1, serviceQualities=[quality])
    agent = AgentProcess(kubeconfig, namespace.name, tmp_path / "agent-a.log").start()
    try:
        await wait_gs(
            namespace,
            "gs-0",
            "fired with first",
            lambda g: g["metadata"].get("annotations", {}).get("boot-result") == "first",
        )
        agent.stop()
        pod_dirs.write("gs-0", "out", "second")
        agent = AgentProcess(kubeconfig, namespace.name, tmp_path / "agent-b.log").start()
        # The new agent probes "second" and records it without firing again.
        gs = await wait_gs(namespace, "gs-0", "second recorded",
                           lambda g: '"result":"second"' in g["metadata"].get("annotations", {})
                           .get(actions.RECORD_ANNOTATION, ""))  # fmt: skip
        assert gs["metadata"]["annotations"]["boot-result"] == "first"
        assert condition(gs, "boot")["result"] == "second"
    finally:
        agent.stop()


@pytest.mark.usefixtures("agent")
async def test_graceful_delete_released_by_a_quality_action(
    namespace: Namespace, pod_dirs: PodDirs
) -> None:
    hook = {"gs-sync/delete-block": "true"}
    await pod_dirs.add("gs-0", "gs-1")
    pod_dirs.write("gs-0", "state", "busy")
    pod_dirs.write("gs-1", "state", "busy")
    quality = exec_quality(
        "drained", ["cat", "state"],
        {"state": True, "result": "done", "labels": {"gs-sync/delete-block": "false"}},
    )  # fmt: skip
    await namespace.create_set(
        "gs", 2, template_labels=hook, lifecycle={"preDelete": {"labelsHandler": hook}},
        serviceQualities=[quality],
    )  # fmt: skip
    await namespace.wait_servers("gs", {0, 1})
    await wait_gs(
        namespace, "gs-1", "busy", lambda g: condition(g, "drained").get("result") == "busy"
    )
    await namespace.scale("gs", 1)
    await wait_gs(namespace, "gs-1", "PreDelete",
                  lambda g: (g.get("status") or {}).get("currentState") == "PreDelete")  # fmt: skip
    await asyncio.sleep(2)  # still held while the game is busy
    assert "gs-1" in await namespace.pods("gs", terminating=True)
    pod_dirs.write("gs-1", "state", "done")  # the game drained its players
    await namespace.wait_servers("gs", {0})


@contextlib.asynccontextmanager
async def serve(host: str, http_port: int, body: dict[str, str]) -> AsyncIterator[None]:
    async def handle(_: web.Request) -> web.Response:
        return web.Response(text=body["text"], status=int(body.get("status", "200")))

    app = web.Application()
    app.router.add_get("/quality", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, http_port)
    await site.start()
    try:
        yield
    finally:
        await runner.cleanup()


@pytest.mark.usefixtures("agent")
async def test_http_and_tcp_probes_on_the_pod_ip(namespace: Namespace) -> None:
    http = {"name": "http", "httpGet": {"path": "/quality", "port": "game"}, **FAST,
            "serviceQualityAction": [{"state": True, "result": "ready", "updatePriority": 7},
                                     {"state": False, "updatePriority": 1}]}  # fmt: skip
    tcp = {"name": "tcp", "tcpSocket": {"port": 17071}, **FAST, "failureThreshold": 1,
           "serviceQualityAction": [{"state": True, "deletionPriority": 3},
                                    {"state": False, "deletionPriority": 1}]}  # fmt: skip
    template = {
        "metadata": {"labels": {"app": "gs"}},
        "spec": {"containers": [{"name": "main", "image": "game:1",
                                 "ports": [{"name": "game", "containerPort": 17070}]}]},
    }  # fmt: skip
    await namespace.create_set("gs", 1, gameServerTemplate=template, serviceQualities=[http, tcp])
    await namespace.wait_servers("gs", {0})
    pod = (await namespace.pods("gs"))["gs-0"]
    ip = str(pod["status"]["podIP"])
    # Nothing listens yet: the TCP probe fails at once (failureThreshold 1).
    await wait_gs(namespace, "gs-0", "tcp down", lambda g: g["spec"].get("deletionPriority") == 1)
    body = {"text": "ready\n"}
    async with serve(ip, 17070, body):
        await wait_gs(
            namespace, "gs-0", "http ready", lambda g: g["spec"].get("updatePriority") == 7
        )
        server = await asyncio.start_server(lambda r, w: w.close(), ip, 17071)
        async with server:
            await wait_gs(namespace, "gs-0", "tcp up",
                          lambda g: g["spec"].get("deletionPriority") == 3)  # fmt: skip
        body["status"] = "503"
        # Three failures in a row (OKG's default failureThreshold) turn the status to False.
        gs = await wait_gs(namespace, "gs-0", "http failing",
                           lambda g: g["spec"].get("updatePriority") == 1)  # fmt: skip
        assert condition(gs, "http")["status"] == "False"


@contextlib.asynccontextmanager
async def health_server(host: str, port: int) -> AsyncIterator[health_aio.HealthServicer]:
    """The reference grpc.aio health server (grpc_health.v1), on the pod's own IP."""
    servicer = health_aio.HealthServicer()
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    try:
        yield servicer
    finally:
        await server.stop(None)


@pytest.mark.usefixtures("agent")
async def test_grpc_probe_on_the_pod_ip(namespace: Namespace) -> None:
    serving = health_pb2.HealthCheckResponse.SERVING
    to_maintaining = {"state": True, "result": "SERVING", "opsState": "Maintaining"}
    to_wtbd = {"state": False, "result": "NOT_SERVING", "opsState": "WaitToBeDeleted"}
    unknown = {"state": False, "result": "SERVICE_UNKNOWN", "labels": {"health-other": "unknown"}}
    health = {"name": "health", "grpc": {"port": 17072, "service": "game"}, **FAST,
              "failureThreshold": 1, "serviceQualityAction": [to_maintaining, to_wtbd]}  # fmt: skip
    other = {"name": "other", "grpc": {"port": 17072, "service": "missing"}, **FAST,
             "failureThreshold": 1, "serviceQualityAction": [unknown]}  # fmt: skip
    template = {"metadata": {"labels": {"app": "gs"}},
                "spec": {"containers": [{"name": "main", "image": "game:1"}]}}  # fmt: skip
    await namespace.create_set(
        "gs", 1, gameServerTemplate=template, serviceQualities=[health, other]
    )
    await namespace.wait_servers("gs", {0})
    ip = str((await namespace.pods("gs"))["gs-0"]["status"]["podIP"])

    # Nothing listens yet: a failure with an empty result, which no action matches.
    gs = await wait_gs(namespace, "gs-0", "health unreachable",
                       lambda g: condition(g, "health").get("status") == "False")  # fmt: skip
    assert condition(gs, "health")["result"] == ""
    assert gs["spec"]["opsState"] == "None"
    async with health_server(ip, 17072) as servicer:
        await servicer.set("game", serving)
        gs = await wait_gs(namespace, "gs-0", "SERVING -> Maintaining",
                           lambda g: g["spec"]["opsState"] == "Maintaining")  # fmt: skip
        assert condition(gs, "health")["status"] == "True"
        assert condition(gs, "health")["result"] == "SERVING"
        gs = await wait_gs(
            namespace,
            "gs-0",
            "unknown service",
            lambda g: g["metadata"].get("labels", {}).get("health-other"),
        )
        assert condition(gs, "other")["result"] == "SERVICE_UNKNOWN"
        assert condition(gs, "other")["status"] == "False"

        await servicer.set("game", health_pb2.HealthCheckResponse.NOT_SERVING)
        gs = await wait_gs(namespace, "gs-0", "NOT_SERVING -> WaitToBeDeleted",
                           lambda g: g["spec"]["opsState"] == "WaitToBeDeleted")  # fmt: skip
        assert condition(gs, "health")["status"] == "False"
        assert condition(gs, "health")["result"] == "NOT_SERVING"
        record = gs["metadata"]["annotations"][actions.RECORD_ANNOTATION]
        assert '"result":"NOT_SERVING"' in record

        await servicer.set("game", serving)
        await wait_gs(namespace, "gs-0", "SERVING again -> Maintaining",
                      lambda g: g["spec"]["opsState"] == "Maintaining")  # fmt: skip


async def test_a_replica_probes_only_its_own_node(
    namespace: Namespace,
    pod_dirs: PodDirs,
    kubeconfig: pathlib.Path,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    local_cluster: Cluster,
) -> None:
    names = [f"gs-{i}" for i in range(6)]
    await pod_dirs.add(*names)
    quality = exec_quality("healthy", ["true"], {"state": True, "updatePriority": 20})
    spread = {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "gs"}},
    }
    template = {"metadata": {"labels": {"app": "gs"}},
                "spec": {"containers": [{"name": "main", "image": "game:1"}],
                         "topologySpreadConstraints": [spread]}}  # fmt: skip
    await namespace.create_set("gs", 6, gameServerTemplate=template, serviceQualities=[quality])
    node = f"{local_cluster.name}-node-0"
    monkeypatch.setenv("NODE_NAME", node)  # as the DaemonSet sets it
    agent = AgentProcess(kubeconfig, namespace.name, tmp_path / "agent.log").start()
    try:
        await namespace.wait_servers("gs", set(range(6)), 90.0)
        pods = await namespace.pods("gs")
        mine = {n for n, p in pods.items() if p["spec"].get("nodeName") == node}
        assert mine and mine != set(names), "spread over the zones (one per node)"
        for name in mine:
            await wait_gs(
                namespace, name, "probed", lambda g: g["spec"].get("updatePriority") == 20
            )
        await asyncio.sleep(2.0)  # two more periods: nothing on the other nodes
        for name in set(names) - mine:
            gs = await namespace.get_gs(name)
            assert not condition(gs, "healthy"), name
            assert gs["spec"].get("updatePriority") == 0
    finally:
        agent.stop()


@pytest.mark.usefixtures("agent")
async def test_an_invalid_template_is_a_warning_event(
    namespace: Namespace, pod_dirs: PodDirs
) -> None:
    await pod_dirs.add("gs-0")
    quality = exec_quality(
        "healthy", ["true"], {"state": True, "opsState": "{{.Nope}}", "updatePriority": 5}
    )
    await namespace.create_set("gs", 1, serviceQualities=[quality])

    async def warned() -> bool:
        events = await namespace.events("gs-0")
        return any(e.get("reason") == "ServiceQualityTemplate" for e in events)

    await eventually(warned, 30.0, "a ServiceQualityTemplate event")
    gs = await namespace.get_gs("gs-0")
    assert gs["spec"]["opsState"] == "None" and gs["spec"]["updatePriority"] == 0
    assert condition(gs, "healthy")["status"] == "True"
