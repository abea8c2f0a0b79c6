"""Kubernetes-HostPort with OKG v1.1's least-used allocation end to end: no node picked by the
agent, the host ports fewest pods hold (reused beyond the range's size), the scheduler placing
pods with the same port on different nodes, the node's address reported once scheduled."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.e2e.network.conftest import NetworkAgent
from tests.e2e.network.helpers import wait_network

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Iterator

    from tests.e2e.agent.harness import Namespace

RANGE = "29998-29999"
"""Two host ports (outside every other test's ranges): the third server reuses one."""


@pytest.fixture
def two_port_agent(
    kubeconfig: pathlib.Path, namespace: Namespace, tmp_path: pathlib.Path
) -> Iterator[NetworkAgent]:
    process = NetworkAgent(
        kubeconfig, namespace.name, tmp_path / "agent.log", port_range=RANGE
    ).start()
    yield process
    process.stop()


@pytest.mark.usefixtures("two_port_agent")
async def test_least_used_ports_unpinned_and_spread_by_the_scheduler(namespace: Namespace) -> None:
    network = {
        "networkType": "Kubernetes-HostPort",
        "networkConf": [
            {"name": "ContainerPorts", "value": "main:7777/UDP"},
            {"name": "AllocatePolicy", "value": "least-used"},
        ],
    }
    await namespace.create_set("gs", 3, network=network)
    await namespace.wait_servers("gs", {0, 1, 2})
    pods = await namespace.pods("gs")
    ports = {}
    for name, pod in pods.items():
        assert "affinity" not in pod["spec"], "the agent picks no node"
        (port,) = pod["spec"]["containers"][0]["ports"]
        ports[name] = port["hostPort"]
        record = json.loads(pod["metadata"]["annotations"]["gamefleet.io/host-ports"])
        assert record == {"node": "", "ports": [port["hostPort"]]}
    assert sorted(ports.values()) == [29998, 29998, 29999], "the least used, then reused"
    nodes = {pods[n]["spec"]["nodeName"] for n, p in ports.items() if p == 29998}
    assert len(nodes) == 2, "the scheduler keeps pods with the same host port apart"
    for name in pods:
        status = await wait_network(namespace, name, "Ready", "Ready")
        assert status["externalAddresses"][0]["ports"][0]["port"] == ports[name]
        assert status["externalAddresses"][0]["ip"]
