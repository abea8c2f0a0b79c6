"""Both hub manifests serve metrics alike: flag, container port, Service port, annotations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cli import main

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "hub"


def _objects(path: Path) -> dict[str, Any]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(path.read_text()) if doc}


@pytest.mark.parametrize(
    ("manifest", "workload"),
    [("hub.yaml", "StatefulSet"), ("ha/hub-ha.yaml", "Deployment")],
)
def test_the_hub_serves_metrics_on_the_named_port_it_announces(
    manifest: str, workload: str
) -> None:
    objects = _objects(DEPLOY / manifest)
    template = objects[workload]["spec"]["template"]
    (container,) = template["spec"]["containers"]
    args = main.build_parser().parse_args(container["args"])
    port = int(args.metrics_listen.rpartition(":")[2])

    assert {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"] == port
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"
    service = objects["Service"]
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert service_ports["metrics"]["targetPort"] == "metrics"
    # A ServiceMonitor finds the Service by its labels.
    assert service["metadata"]["labels"]["app.kubernetes.io/name"] == "gamefleet-hub"
