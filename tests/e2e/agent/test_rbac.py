"""The agent with only the permissions `deploy/agent/agent.yaml` grants: a ServiceAccount token
bound to the manifest's ClusterRole and lease Role. It creates servers, writes their status and
conditions and the markPodNotReady readiness condition, watches claims, volumes, nodes and
Services, records events — and the API server refuses none of it."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import yaml

from agent.kube import resources

from .harness import REPO_ROOT, AgentProcess, eventually, kruise_pod_ready

if TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator

    from agent.kube import client as kclient

    from .harness import Namespace

import pytest

Obj = dict[str, Any]
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def _manifest() -> dict[str, Obj]:
    with (REPO_ROOT / "deploy/agent/agent.yaml").open() as f:
        return {d["kind"]: d for d in yaml.safe_load_all(f) if d}


def _with_token(admin: pathlib.Path, token: str, path: pathlib.Path) -> None:
    """Write ``admin`` to ``path`` with every user authenticating by ``token`` instead."""
    config = json.loads(admin.read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    path.write_text(json.dumps(config))


@pytest.fixture
async def agent_account(
    kube: kclient.KubeClient, kubeconfig: pathlib.Path, namespace: Namespace, tmp_path: pathlib.Path
) -> AsyncIterator[pathlib.Path]:
    """A kubeconfig for ServiceAccount `agent` of the test namespace, bound to the manifest's
    ClusterRole (a copy named after the namespace) and lease Role."""
    docs = _manifest()
    bound = f"gamefleet-agent-{namespace.name}"
    subject = [{"kind": "ServiceAccount", "name": "agent", "namespace": namespace.name}]
    await kube.request(
        "POST",
        resources.Resource("v1", "serviceaccounts", "ServiceAccount").collection(namespace.name),
        body={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "agent"}},
    )
    role = {**docs["ClusterRole"], "metadata": {"name": bound}}
    await kube.request("POST", f"{RBAC}/clusterroles", body=role)
    try:
        await kube.request(
            "POST",
            f"{RBAC}/clusterrolebindings",
            body={
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": bound},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": bound},
                "subjects": subject,
            },
        )  # fmt: skip
        lease = {**docs["Role"], "metadata": {"name": "lease", "namespace": namespace.name}}
        await kube.request("POST", f"{RBAC}/namespaces/{namespace.name}/roles", body=lease)
        await kube.request(
            "POST",
            f"{RBAC}/namespaces/{namespace.name}/rolebindings",
            body={
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "lease"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                            "name": "lease"},
                "subjects": subject,
            },
        )  # fmt: skip
        issued = await kube.request(
            "POST",
            f"/api/v1/namespaces/{namespace.name}/serviceaccounts/agent/token",
            body={
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": 3600},
            },
        )
        path = tmp_path / "agent-sa.kubeconfig"
        _with_token(kubeconfig, issued["status"]["token"], path)
        yield path
    finally:
        for kind in ("clusterrolebindings", "clusterroles"):
            await kube.request("DELETE", f"{RBAC}/{kind}/{bound}")


async def test_the_deploy_manifest_grants_what_the_agent_does(
    agent_account: pathlib.Path, namespace: Namespace, tmp_path: pathlib.Path
) -> None:
    log = tmp_path / "agent.log"
    agent = AgentProcess(agent_account, namespace.name, log).start()
    try:
        hook = {"gs-sync/delete-block": "true"}
        await namespace.create_set(
            "gs",
            2,
            template_labels=hook,
            lifecycle={"preDelete": {"labelsHandler": hook, "markPodNotReady": True}},
        )
        await namespace.wait_servers("gs", {0, 1})

        async def conditions_written() -> bool:
            pods = await namespace.pods("gs")
            servers = await namespace.game_servers("gs")
            kinds = {
                c.get("type")
                for gs in servers.values()
                for c in (gs.get("status") or {}).get("conditions") or []
            }
            return {"PodNormal", "NodeNormal", "PersistentVolumeNormal"} <= kinds and all(
                kruise_pod_ready(p) == "True" for p in pods.values()
            )

        await eventually(conditions_written, 30.0, "conditions and KruisePodReady written")
        await namespace.scale("gs", 1)
        await namespace.wait_states("gs", ("gs-1",), "PreDelete")
        await namespace.patch_gs("gs-1", labels={"gs-sync/delete-block": "false"})
        await namespace.wait_servers("gs", {0})
        await namespace.wait_status("gs", currentReplicas=1, readyReplicas=1)
        assert agent.alive
    finally:
        agent.stop()
    text = log.read_text()
    # A refused request logs its status (403) or reason; a log line's milliseconds follow a comma.
    refused = re.search(r"(?<![,\d])403(?!\d)", text) or "forbidden" in text.lower()
    assert not refused, text[-3000:]
    # A log call whose message cannot be formatted prints this instead of the line.
    assert "--- Logging error ---" not in text, text[-3000:]
