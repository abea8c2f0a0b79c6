"""The Helm charts: they lint, `deploy/` is their rendering, and every value turns into flags
the hub's and the agent's own parsers take (paths the pod mounts, ports it opens)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
import yaml

from agent import run as agent_run
from cli import main as cli_main
from tests.localcluster.versions import pins
from tests.support import charts

Obj = dict[str, Any]

AGENT_OPTIONS = [
    "hub.address=hub.example:7401",
    "hub.cluster=eu-1",
    "hub.clusterLabels.region=eu-west-1",
    "hub.tls.create=true",
    "hub.tls.ca=CA",
    "hub.tls.cert=CERT",
    "hub.tls.key=KEY",
    "watchNamespace=games",
    "scaler.tls.secretName=scaler-tls",
    "scaler.tls.clientAuth=true",
    "metrics.tls.secretName=metrics-tls",
    "metrics.tls.clientAuth=true",
    "metrics.podMonitor.enabled=true",
]
HUB_OPTIONS = [
    "store.type=etcd",
    "replicas=3",
    "tls.secretName=hub-tls",
    "agents.clientCASecretName=agent-ca",
    "tokens.create=true",
    "tokens.lines={t0k3n\\,alice}",
    "console.enabled=true",
    "metrics.serviceMonitor.enabled=true",
]


def _objects(text: str) -> dict[str, Obj]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(text) if d}


def _container(workload: Obj) -> Obj:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def _mounted(workload: Obj, path: str) -> str:
    """The volume holding ``path`` in the pod (AssertionError when none does)."""
    for mount in _container(workload).get("volumeMounts", []):
        if path.startswith(mount["mountPath"] + "/"):
            return mount["name"]  # type: ignore[no-any-return]
    raise AssertionError(f"{path} is on no volume the pod mounts")


def _agent_args(container: Obj) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    agent_run.add_agent_flags(parser)
    return parser.parse_args(container["args"])


@pytest.mark.parametrize("rendering", charts.RENDERINGS, ids=lambda r: r.output)
def test_deploy_is_the_charts_rendering(rendering: charts.Rendering) -> None:
    committed = (charts.ROOT / rendering.output).read_text()
    assert committed == charts.render(rendering), (
        f"{rendering.output} differs from {rendering.chart.name}'s rendering: edit the chart, "
        "then run `make deploy`"
    )


def test_the_agent_charts_crds_are_deploys() -> None:
    link = charts.AGENT_CHART / "crds" / "crds.yaml"
    assert link.is_symlink()
    assert link.resolve() == charts.ROOT / "deploy" / "agent" / "crds.yaml"


@pytest.mark.parametrize(
    ("chart", "sets"),
    [
        (charts.AGENT_CHART, []),
        (charts.AGENT_CHART, AGENT_OPTIONS),
        (charts.HUB_CHART, []),
        (charts.HUB_CHART, HUB_OPTIONS),
    ],
    ids=["agent", "agent-every-option", "hub", "hub-etcd-every-option"],
)
def test_the_charts_lint(chart: Any, sets: list[str]) -> None:
    args = ["lint", "--strict", str(chart), "--kube-version", pins()["KUBERNETES_VERSION"]]
    for item in sets:
        args += ["--set", item]
    result = charts.helm(*args, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_agent_values_become_agent_flags() -> None:
    objects = _objects(charts.template(charts.AGENT_CHART, "edge", "gf", sets=AGENT_OPTIONS))
    daemon_set = objects["DaemonSet/edge-gamefleet-agent"]
    container = _container(daemon_set)
    args = _agent_args(container)
    assert args.namespace == "games"
    assert args.lease_name == "edge-gamefleet-agent"
    assert objects["Role/edge-gamefleet-agent-lease"]["rules"][1]["resourceNames"] == [
        "edge-gamefleet-agent"
    ]
    assert args.cluster_label == ["region=eu-west-1"]
    assert (args.hub, args.cluster) == ("$(GAMEFLEET_HUB)", "$(GAMEFLEET_CLUSTER)")
    assert objects["ConfigMap/edge-gamefleet-agent"]["data"] == {
        "hub": "hub.example:7401",
        "cluster": "eu-1",
    }
    secret = objects["Secret/edge-gamefleet-agent-hub-link"]
    assert set(secret["data"]) == {"ca.crt", "tls.crt", "tls.key"}
    volumes = {v["name"]: v for v in daemon_set["spec"]["template"]["spec"]["volumes"]}
    for path in (args.hub_ca_file, args.hub_cert_file, args.hub_key_file):
        assert volumes[_mounted(daemon_set, str(path))]["secret"]["secretName"] == (
            "edge-gamefleet-agent-hub-link"
        )
    for path, secret_name in (
        (args.scaler_tls_cert, "scaler-tls"),
        (args.scaler_client_ca, "scaler-tls"),
        (args.metrics_tls_cert, "metrics-tls"),
        (args.metrics_client_ca, "metrics-tls"),
    ):
        assert volumes[_mounted(daemon_set, str(path))]["secret"]["secretName"] == secret_name
    # The kubelet's gRPC probe cannot speak TLS: the scaler's port is probed instead.
    assert container["readinessProbe"] == {"tcpSocket": {"port": 6000}, "periodSeconds": 5}
    annotations = daemon_set["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scheme"] == "https"
    assert (
        objects["PodMonitor/edge-gamefleet-agent"]["spec"]["podMetricsEndpoints"][0]["scheme"]
        == "https"
    )


def test_the_agent_without_a_hub_has_no_hub_flags() -> None:
    objects = _objects(charts.template(charts.AGENT_CHART, "gamefleet-agent", "gf"))
    container = _container(objects["DaemonSet/gamefleet-agent"])
    args = _agent_args(container)
    assert args.hub is None and args.namespace is None
    assert "volumeMounts" not in container
    assert not any(key.startswith("ConfigMap/") for key in objects)
    assert container["readinessProbe"]["grpc"] == {
        "port": 6000,
        "service": "externalscaler.ExternalScaler",
    }


def test_the_agent_chart_refuses_a_hub_without_a_cluster_name() -> None:
    with pytest.raises(RuntimeError, match=r"hub\.cluster: .* is required with hub\.address"):
        charts.template(charts.AGENT_CHART, "a", "gf", sets=["hub.address=hub:7401"])


def test_hub_values_become_hub_flags() -> None:
    objects = _objects(charts.template(charts.HUB_CHART, "gamefleet-hub", "gf", sets=HUB_OPTIONS))
    deployment = objects["Deployment/gamefleet-hub"]
    assert deployment["spec"]["replicas"] == 3
    assert not any(key.startswith("StatefulSet/") for key in objects)
    container = _container(deployment)
    args = cli_main.build_parser().parse_args(container["args"])
    assert args.store == "etcd://etcd-0.etcd:2379,etcd-1.etcd:2379,etcd-2.etcd:2379/gamefleet/"
    assert args.advertise == "$(POD_IP):7400"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    for path, secret_name in (
        (args.tls_cert, "hub-tls"),
        (args.tls_key, "hub-tls"),
        (args.client_ca, "agent-ca"),
        (args.token_file, "gamefleet-hub-tokens"),
    ):
        assert volumes[_mounted(deployment, str(path))]["secret"]["secretName"] == secret_name
    assert args.token_file.name == "tokens"
    tokens = objects["Secret/gamefleet-hub-tokens"]["stringData"]["tokens"]
    assert tokens.split() == ["t0k3n,alice"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["agents"] == int(args.agent_listen.rpartition(":")[2])
    assert ports["console"] == int(args.console_listen.rpartition(":")[2])
    assert ports["metrics"] == int(args.metrics_listen.rpartition(":")[2])
    service_ports = {p["name"] for p in objects["Service/gamefleet-hub"]["spec"]["ports"]}
    assert service_ports == {"grpc", "agents", "metrics", "console"}
    monitor = objects["ServiceMonitor/gamefleet-hub"]
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def test_the_sqlite_hub_is_one_replica_with_a_volume() -> None:
    objects = _objects(charts.template(charts.HUB_CHART, "gamefleet-hub", "gf"))
    stateful_set = objects["StatefulSet/gamefleet-hub"]
    assert stateful_set["spec"]["replicas"] == 1
    args = cli_main.build_parser().parse_args(_container(stateful_set)["args"])
    assert args.store == "sqlite:///var/lib/gamefleet/hub.db"
    assert _mounted(stateful_set, "/var/lib/gamefleet/hub.db") == "data"
    assert args.console_listen is None and args.token_file is None


def test_the_hub_chart_refuses_an_unknown_store() -> None:
    with pytest.raises(RuntimeError, match=r'store\.type: "mysql" is neither sqlite nor etcd'):
        charts.template(charts.HUB_CHART, "h", "gf", sets=["store.type=mysql"])
