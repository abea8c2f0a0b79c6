"""The Helm charts against a real API server: every rendering passes its validation
(`kubectl apply --dry-run=server`), and the agent chart installs with the pinned helm into a
local cluster whose DaemonSet pods then run the agent.

kwok's nodes run no containers, so each agent pod's container runs here as a local process,
made from the pod as the kubelet would make it: its command and arguments (with `$(VAR)`
expanded), its environment (downward API and the ConfigMap), the token of its ServiceAccount
bound to the pod, and the files it mounts (the CRDs of the image). Only the ports move: every
pod would listen on 6000 and 9464 in its own network namespace, so each process gets free
ones on loopback."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agent.kube import resources
from tests.support import charts

from .harness import REPO_ROOT, eventually, kubectl

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Iterator

    from agent.kube import client as kclient

    from .harness import Namespace

Obj = dict[str, Any]
LEASE = resources.Resource("coordination.k8s.io/v1", "leases", "Lease")
# The image's CRDs, at the path the chart's DaemonSet gives --crds.
IMAGE_FILES = {"/etc/gamefleet/crds.yaml": str(REPO_ROOT / "deploy" / "agent" / "crds.yaml")}


RENDERINGS = [
    ("agent", charts.AGENT_CHART, []),
    (
        "agent-with-hub-tls-and-namespace",
        charts.AGENT_CHART,
        [
            "hub.address=hub.example:7401", "hub.cluster=eu-1", "hub.clusterLabels.region=eu",
            "hub.tls.create=true", "hub.tls.ca=CA", "hub.tls.cert=CERT", "hub.tls.key=KEY",
            "watchNamespace=games", "scaler.tls.secretName=scaler-tls",
            "scaler.tls.clientAuth=true", "metrics.tls.secretName=metrics-tls",
        ],
    ),
    ("hub-sqlite", charts.HUB_CHART, ["console.enabled=true"]),
    (
        "hub-etcd-every-option",
        charts.HUB_CHART,
        [
            "store.type=etcd", "replicas=3", "tls.secretName=hub-tls",
            "agents.clientCASecretName=agent-ca", "tokens.create=true",
            "tokens.lines={t0k3n\\,alice}", "console.enabled=true",
        ],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("release", "chart", "sets"), RENDERINGS, ids=[r[0] for r in RENDERINGS])
async def test_the_api_server_accepts_every_rendering(
    kubeconfig: pathlib.Path, namespace: Namespace, release: str, chart: Any, sets: list[str]
) -> None:
    rendered = charts.template(chart, release, namespace.name, sets=sets)
    status, output = await kubectl(
        kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=rendered, timeout=120
    )
    assert status == 0, output
    accepted = [line for line in output.splitlines() if line.endswith("(server dry run)")]
    kinds = {d["kind"] for d in _documents(rendered)}
    assert len(accepted) == len(list(_documents(rendered))), output
    assert {"Service"} <= kinds


async def test_a_rendering_the_api_server_refuses_fails(
    kubeconfig: pathlib.Path, namespace: Namespace
) -> None:
    """The check above can fail: a bad value reaches the API server and is refused."""
    rendered = charts.template(
        charts.AGENT_CHART, "bad", namespace.name, sets=["scaler.port=70000"]
    )
    status, output = await kubectl(
        kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=rendered, timeout=120
    )
    assert status != 0
    assert "containerPort" in output, output


def _documents(text: str) -> Iterator[Obj]:
    import yaml

    return (d for d in yaml.safe_load_all(text) if d)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PodProcess:
    """One pod's agent container as a local process (see the module's docstring)."""

    def __init__(self, pod: Obj, env: dict[str, str], kubeconfig: pathlib.Path, log: pathlib.Path):
        self.pod = pod
        self.name = pod["metadata"]["name"]
        self.scaler_port = _free_port()
        self.metrics_port = _free_port()
        (container,) = pod["spec"]["containers"]
        assert container["command"] == ["gamefleet", "agent", "run"]
        args = [self._local(re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a))
                for a in container["args"]]  # fmt: skip
        command = [sys.executable, "-m", "cli.main", "agent", "run", *args,
                   "--kubeconfig", str(kubeconfig)]  # fmt: skip
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip

    def _local(self, arg: str) -> str:
        flag, _, value = arg.partition("=")
        if flag == "--scaler-port":
            return f"{flag}={self.scaler_port}"
        if flag == "--metrics-listen":
            return f"{flag}=127.0.0.1:{self.metrics_port}"
        return f"{flag}={IMAGE_FILES.get(value, value)}" if value else arg

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _environment(pod: Obj, config_maps: dict[str, Obj]) -> dict[str, str]:
    """The container's environment as the kubelet resolves it."""
    (container,) = pod["spec"]["containers"]
    env = {}
    for entry in container.get("env", []):
        source = entry.get("valueFrom", {})
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"].split(".")
            value: Any = pod
            for part in path:
                value = value[part]
            env[entry["name"]] = str(value)
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            env[entry["name"]] = config_maps[ref["name"]]["data"][ref["key"]]
        else:
            env[entry["name"]] = entry["value"]
    return env


async def _pod_kubeconfig(
    kube: kclient.KubeClient, admin: pathlib.Path, pod: Obj, path: pathlib.Path
) -> pathlib.Path:
    """A kubeconfig holding the token of the pod's ServiceAccount, bound to the pod."""
    meta = pod["metadata"]
    issued = await kube.request(
        "POST",
        f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/"
        f"{pod['spec']['serviceAccountName']}/token",
        body={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": 3600,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                                   "uid": meta["uid"]},
            },
        },
    )  # fmt: skip
    return _with_token(admin, issued["status"]["token"], path)


def _with_token(admin: pathlib.Path, token: str, path: pathlib.Path) -> pathlib.Path:
    config = json.loads(admin.read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    path.write_text(json.dumps(config))
    return path


async def test_the_agent_chart_installs_and_its_pods_run_the_agent(
    kube: kclient.KubeClient,
    kubeconfig: pathlib.Path,
    namespace: Namespace,
    tmp_path: pathlib.Path,
) -> None:
    release = f"gf-{uuid.uuid4().hex[:6]}"
    fullname = f"{release}-gamefleet-agent"
    helm = ["--kubeconfig", str(kubeconfig), "--namespace", namespace.name]
    installed = charts.helm(
        "install", release, str(charts.AGENT_CHART), *helm,
        "--set", f"watchNamespace={namespace.name}", "--wait", "--timeout", "180s",
        check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    processes: list[PodProcess] = []
    try:
        selector = f"app.kubernetes.io/instance={release}"
        listed = await kube.request(
            "GET", resources.POD.collection(namespace.name), params={"labelSelector": selector}
        )
        pods = listed["items"]
        nodes = await kube.request("GET", "/api/v1/nodes")
        # A DaemonSet: one agent pod per node, each with the chart's ServiceAccount.
        assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(
            n["metadata"]["name"] for n in nodes["items"]
        )
        assert {p["spec"]["serviceAccountName"] for p in pods} == {fullname}
        for pod in pods:
            token = await _pod_kubeconfig(
                kube, kubeconfig, pod, tmp_path / f"{pod['metadata']['name']}.kubeconfig"
            )
            env = _environment(pod, {})
            processes.append(
                PodProcess(pod, env, token, tmp_path / f"{pod['metadata']['name']}.log")
            )

        # One pod leads, through the Lease the chart's Role grants.
        async def led() -> bool:
            lease = await namespace.find(LEASE, fullname)
            holder = ((lease or {}).get("spec") or {}).get("holderIdentity")
            return holder in {p.name for p in processes}

        await eventually(led, 90.0, f"a pod holding Lease {fullname}")
        # The leader reconciles a set created with kubectl-like calls, as OKG users do.
        await namespace.create_set("gs", 2)
        await namespace.wait_servers("gs", {0, 1})
        # Every pod serves KEDA's scaler once its caches have listed (its readiness probe).
        for process in processes:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{process.scaler_port}") as channel:
                health = health_pb2_grpc.HealthStub(channel)

                async def serving(health: Any = health) -> bool:
                    try:
                        answer = await health.Check(
                            health_pb2.HealthCheckRequest(service="externalscaler.ExternalScaler"),
                            timeout=2,
                        )
                    except grpc.aio.AioRpcError:
                        return False
                    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

                await eventually(serving, 60.0, f"{process.name}'s scaler serving")
        assert all(p.process.poll() is None for p in processes), "an agent pod's process exited"
    finally:
        for process in processes:
            process.stop()
        uninstalled = charts.helm("uninstall", release, *helm, "--wait", check=False)
    assert uninstalled.returncode == 0, uninstalled.stderr
    gone = await kube.request(
        "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        params={"labelSelector": f"app.kubernetes.io/instance={release}"},
    )  # fmt: skip
    assert gone["items"] == []
