"""Which rule each method falls under, and the per-message cluster check."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from hub.api import auth, errors
from hub.api.startup import StartError


@pytest.mark.parametrize(
    ("method", "rule"),
    [
        ("/gamefleet.v1.AgentService/Connect", auth.Rule.AGENT),
        ("/gamefleet.v1.FleetService/GetFleet", auth.Rule.USER),
        ("/gamefleet.v1.ClusterService/ListClusters", auth.Rule.USER),
        ("/gamefleet.v1.AllocationService/Allocate", auth.Rule.USER),
        ("/gamefleet.v1.AgentServiceX/Connect", auth.Rule.USER),
        ("/grpc.health.v1.Health/Check", auth.Rule.OPEN),
        ("/grpc.health.v1.Health/Watch", auth.Rule.OPEN),
        ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", auth.Rule.OPEN),
        ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", auth.Rule.OPEN),
        ("/grpc.healthz/Check", auth.Rule.USER),
    ],
)
def test_rule_for(method: str, rule: auth.Rule) -> None:
    assert auth.rule_for(method) is rule


@pytest.mark.parametrize(("identity", "claimed"), [("a", "a"), (None, "a"), (None, "")])
def test_check_cluster_passes(identity: str | None, claimed: str) -> None:
    auth.check_cluster(identity, claimed, "hello.cluster")


@pytest.mark.parametrize("claimed", ["b", "", "A"])
def test_check_cluster_refuses_another_cluster(claimed: str) -> None:
    with pytest.raises(errors.AbortError) as caught:
        auth.check_cluster("a", claimed, "hello.cluster")
    assert caught.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert caught.value.details.startswith("hello.cluster: ")


def test_add_ports_refuses_a_bad_mix(tmp_path: Path) -> None:
    server = grpc.aio.server()
    cert, ca = tmp_path / "hub.crt", tmp_path / "ca.crt"
    with pytest.raises(StartError, match="tls_cert and tls_key go together") as caught:
        auth.add_ports(server, "127.0.0.1:0", tls_cert=cert)
    assert caught.value.setting == "tls_key"
    with pytest.raises(StartError, match="client_ca and agent_listen go together") as caught:
        auth.add_ports(server, "127.0.0.1:0", client_ca=ca)
    assert caught.value.setting == "agent_listen"
    with pytest.raises(StartError, match="client_ca: needs tls_cert"):
        auth.add_ports(server, "127.0.0.1:0", client_ca=ca, agent_listen="127.0.0.1:0")
