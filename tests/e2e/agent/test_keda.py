"""Real KEDA drives a GameServerSet through the agent's external scaler, as OKG users run it:
KEDA's operator and metrics adapter (built from KEDA's Go module at the pinned version, run as
local processes; tests/support/keda.py), a ScaledObject pointed at the agent, the HPA KEDA
makes, and kube-controller-manager's HPA controller writing the set's scale subresource.

The set is one the hub does not manage (created directly), as the agent's scaler refuses
hub-managed ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from agent.kube import client as kclient
from agent.kube import ready, resources
from tests.support import keda as keda_support

from .harness import AgentProcess, eventually, kubectl

if TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator

    from .harness import Namespace

SCALED_OBJECT = resources.Resource("keda.sh/v1alpha1", "scaledobjects", "ScaledObject")
HPA = resources.Resource("autoscaling/v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler")
SERVICE = resources.Resource("v1", "services", "Service")
API_SERVICES = "/apis/apiregistration.k8s.io/v1/apiservices"
# The HPA controller syncs every 15 s; KEDA polls every 2 s here; a loaded machine is slow.
SCALED_WITHIN_S = 180.0


@pytest.fixture
async def keda(
    kube: kclient.KubeClient,
    kubeconfig: pathlib.Path,
    namespace: Namespace,
    tmp_path: pathlib.Path,
) -> AsyncIterator[keda_support.Keda]:
    status, output = await kubectl(
        kubeconfig, "apply", "--server-side", "-f", str(keda_support.crds()), timeout=120
    )
    assert status == 0, output
    await ready.wait_serving(kube, [SCALED_OBJECT])
    running = keda_support.Keda(kubeconfig, namespace.name, tmp_path / "keda")
    running.workdir.mkdir()
    running.start()
    service, api_service = running.wiring()
    try:
        await kube.create(SERVICE, namespace.name, service)
        await kube.request("POST", API_SERVICES, body=api_service)

        async def served() -> bool:
            assert not (dead := running.alive()), dead
            try:
                await kube.request("GET", "/apis/external.metrics.k8s.io/v1beta1")
            except kclient.ApiError:
                return False
            return True

        await eventually(served, 120.0, "external.metrics.k8s.io served by KEDA's adapter")
        yield running
    finally:
        # An APIService whose server is gone breaks discovery (and namespace deletion).
        try:
            await kube.request("DELETE", f"{API_SERVICES}/{keda_support.API_SERVICE}")
        except kclient.ApiError as exc:
            if not exc.not_found:
                raise
        running.stop()


def _scaled_object(name: str, namespace: str, scaler: str, **metadata: str) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "game.kruise.io/v1alpha1",
                "kind": "GameServerSet",
                "name": name,
            },
            "pollingInterval": 2,
            "minReplicaCount": 1,
            "maxReplicaCount": 10,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleUp": {
                            "stabilizationWindowSeconds": 0,
                            "policies": [{"type": "Pods", "value": 10, "periodSeconds": 1}],
                        }
                    }
                }
            },
            "triggers": [
                {
                    "type": "external",
                    "metricType": "AverageValue",
                    "metadata": {"scalerAddress": scaler, **metadata},
                }
            ],
        },
    }


def _replicas_writer(gss: dict[str, Any]) -> tuple[str, str] | None:
    """(manager, subresource) of the managedFields entry that owns spec.replicas."""
    for entry in gss["metadata"].get("managedFields") or []:
        spec = (entry.get("fieldsV1") or {}).get("f:spec") or {}
        if "f:replicas" in spec:
            return entry["manager"], entry.get("subresource", "")
    return None


async def test_keda_scales_a_set_through_the_agents_external_scaler(
    kube: kclient.KubeClient,
    kubeconfig: pathlib.Path,
    namespace: Namespace,
    keda: keda_support.Keda,
    tmp_path: pathlib.Path,
) -> None:
    port = keda_support.free_port()
    agent = AgentProcess(kubeconfig, namespace.name, tmp_path / "agent.log", scaler_port=port)
    agent.start()
    try:
        await namespace.create_set("minecraft", 1)
        await namespace.wait_servers("minecraft", {0})
        scaled = _scaled_object("minecraft", namespace.name, f"127.0.0.1:{port}", minAvailable="3")
        await kube.create(SCALED_OBJECT, namespace.name, scaled)

        async def replicas(wanted: int) -> bool:
            assert not (dead := keda.alive()), dead
            gss = await namespace.get_set("minecraft")
            return bool(gss["spec"]["replicas"] == wanted)

        # minAvailable 3 with 1 idle server: KEDA's HPA asks for 3.
        await eventually(lambda: replicas(3), SCALED_WITHIN_S, "KEDA scaling the set to 3")
        hpa = await kube.get(HPA, namespace.name, "keda-hpa-minecraft")
        (metric,) = hpa["spec"]["metrics"]
        assert metric["type"] == "External"
        assert metric["external"]["metric"]["name"] == "s0-gssReplicas"
        assert metric["external"]["target"] == {"type": "AverageValue", "averageValue": "1"}
        gss = await namespace.get_set("minecraft")
        # The HPA controller wrote replicas, through the scale subresource.
        assert _replicas_writer(gss) == ("kube-controller-manager", "scale")
        await namespace.wait_servers("minecraft", {0, 1, 2})

        # Two servers are taken by players: 1 idle left, so 2 more are needed (5).
        for name in ("minecraft-0", "minecraft-1"):
            await namespace.patch_gs(name, spec={"opsState": "Allocated"})
        await eventually(lambda: replicas(5), SCALED_WITHIN_S, "KEDA scaling the set to 5")
        await namespace.wait_servers("minecraft", {0, 1, 2, 3, 4})
        status = (await kube.get(SCALED_OBJECT, namespace.name, "minecraft"))["status"]
        conditions = {c["type"]: c["status"] for c in status["conditions"]}
        assert conditions["Ready"] == "True" and conditions["Active"] == "True"
    finally:
        agent.stop()
