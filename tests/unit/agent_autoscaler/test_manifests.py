"""The deployment manifest and the KEDA example agree with each other and with the scaler."""

from __future__ import annotations

import pathlib
from typing import Any

import yaml

from agent.autoscaler import server, service
from agent.core import autoscale

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _docs(path: str) -> dict[str, dict[str, Any]]:
    with (ROOT / path).open() as f:
        return {f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(f) if d}


def test_every_agent_replica_is_behind_the_scaler_service() -> None:
    docs = _docs("deploy/agent/agent.yaml")
    daemon_set = docs["DaemonSet/gamefleet-agent"]
    pod = daemon_set["spec"]["template"]
    [container] = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["scaler"] == server.DEFAULT_PORT
    assert f"--scaler-port={server.DEFAULT_PORT}" in container["args"]
    probe = container["readinessProbe"]["grpc"]
    assert probe == {"port": server.DEFAULT_PORT, "service": service.SERVICE_NAME}

    svc = docs["Service/gamefleet-agent-scaler"]
    assert svc["metadata"]["namespace"] == daemon_set["metadata"]["namespace"]
    assert svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    [port] = svc["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (server.DEFAULT_PORT, "scaler")


def test_the_keda_example_addresses_the_service_and_a_set() -> None:
    [scaled] = _docs("examples/keda-scaledobject.yaml").values()
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("game.kruise.io/v1alpha1", "GameServerSet")
    # The scaler finds the set by the ScaledObject's own name.
    assert target["name"] == scaled["metadata"]["name"]
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "external"
    assert trigger["metricType"] == "AverageValue"
    metadata = trigger["metadata"]
    assert metadata["scalerAddress"] == (
        f"gamefleet-agent-scaler.gamefleet-system:{server.DEFAULT_PORT}"
    )
    keys = {autoscale.MIN_AVAILABLE, autoscale.MAX_AVAILABLE, autoscale.SCALE_DOWN_THRESHOLD}
    assert set(metadata) <= {"scalerAddress", *keys}
    autoscale.validate(autoscale.ScalerConfig.from_metadata(metadata))
