"""The laptop runtime: kind clusters with the same names, labels and kubeconfig layout."""

from __future__ import annotations

import json
import shutil
import subprocess

import yaml

from tests.localcluster import nodes
from tests.localcluster.state import Cluster, cluster_name, region_of, zone_of
from tests.localcluster.versions import pins

# Each kind cluster has its own Docker network, so they can share kind's default pod subnet.
POD_SUBNET = "10.244.0.0/16"


def _kind() -> str:
    exe = shutil.which("kind")
    if exe is None or shutil.which("docker") is None:
        raise RuntimeError("CLUSTER_RUNTIME=kind needs `kind` and `docker` on PATH")
    return exe


def plan(indexes: list[int], nodes_per_cluster: int) -> list[Cluster]:
    return [
        Cluster(
            name=cluster_name(i),
            index=i,
            runtime="kind",
            api_url="",
            region=region_of(i),
            zone_prefix=region_of(i),
            nodes=nodes_per_cluster,
            pod_cidr=POD_SUBNET,
        )
        for i in indexes
    ]


def _config(c: Cluster) -> str:
    workers = [
        {
            "role": "worker",
            "labels": {
                "topology.kubernetes.io/region": c.region,
                "topology.kubernetes.io/zone": zone_of(c.zone_prefix, j),
            },
        }
        for j in range(c.nodes)
    ]
    return json.dumps(
        {
            "kind": "Cluster",
            "apiVersion": "kind.x-k8s.io/v1alpha4",
            "networking": {"podSubnet": POD_SUBNET},
            "nodes": [{"role": "control-plane"}, *workers],
        }
    )


def up(clusters: list[Cluster]) -> None:
    kind = _kind()
    image = pins().get("KIND_NODE_IMAGE", "")
    for c in clusters:
        c.dir.mkdir(parents=True, exist_ok=True)
        config_path = c.dir / "kind.json"  # JSON is valid YAML for kind
        config_path.write_text(_config(c))
        cmd = [kind, "create", "cluster", f"--name={c.name}", f"--kubeconfig={c.kubeconfig}"]
        cmd += [f"--config={config_path}", "--wait=120s"] + ([f"--image={image}"] if image else [])
        subprocess.run(cmd, check=True)
        config = yaml.safe_load(c.kubeconfig.read_text())
        c.api_url = config["clusters"][0]["cluster"]["server"]
        c.save()


def healthy(c: Cluster) -> bool:
    try:
        listed = subprocess.run(
            [_kind(), "get", "clusters"], capture_output=True, text=True, check=True
        ).stdout.split()
        return c.name in listed and nodes.api_ready(c)
    except Exception:
        return False


def down(c: Cluster) -> None:
    subprocess.run([_kind(), "delete", "cluster", f"--name={c.name}"], check=False)
    shutil.rmtree(c.dir, ignore_errors=True)
