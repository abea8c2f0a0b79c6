"""Global addresses: which sets ask for them, the accelerator per NLB, its readiness, the
server's global address in the network status, and a cluster without the controller's CRD."""

from __future__ import annotations

from typing import Any

import pytest

from agent.core.network import global_accel
from agent.core.network import status as nstatus
from agent.kube import cache as kcache
from agent.kube import resources
from agent.kube.events import EventRecorder
from agent.network import crd_gate, hooks
from okg import vocabulary
from okg.network import conf as nconf
from tests.unit.agent_network.test_aws_nlb import FakeKube

NLB_A = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/game-a/0123456789abcdef"
)
NLB_B = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/game-b/fedcba9876543210"
)
OWNER = {"kind": "GameServerSet", "name": "arena", "uid": "set-uid"}


def _conf(*extra: tuple[str, str]) -> nconf.LoadBalancerConf:
    pairs = [("NlbARNs", f"{NLB_A},{NLB_B}"), ("NlbVPCId", "vpc-1"),
             ("PortProtocols", "7777/UDP,8080/TCPUDP"), *extra]  # fmt: skip
    parsed = nconf.parse_network(
        "AmazonWebServices-NLB", [{"name": n, "value": v} for n, v in pairs]
    )
    assert isinstance(parsed, nconf.LoadBalancerConf)
    return parsed


def test_only_sets_that_ask_get_an_accelerator() -> None:
    assert global_accel.wanted(_conf(("GlobalAccelerator", "true")))
    assert not global_accel.wanted(_conf(("GlobalAccelerator", "false")))
    assert not global_accel.wanted(_conf())
    bad = [
        {"name": "NlbARNs", "value": NLB_A},
        {"name": "NlbVPCId", "value": "vpc-1"},
        {"name": "PortProtocols", "value": "7777"},
        {"name": "GlobalAccelerator", "value": "on"},
    ]
    assert nconf.validate_network_conf("AmazonWebServices-NLB", bad) == [
        (3, 'network.networkConf[3] GlobalAccelerator: "on" is not one of true, false')
    ]  # fmt: skip
    assert not global_accel.wanted(
        nconf.parse_network("Kubernetes-NodePort", [{"name": "PortProtocols", "value": "7777"}])
    )


def test_one_accelerator_per_nlb_over_the_sets_ports() -> None:
    conf = _conf(("GlobalAccelerator", "true"), ("MinPort", "30001"), ("MaxPort", "30020"))
    body = global_accel.body(conf, "games", "arena", OWNER, NLB_B)
    assert body["apiVersion"] == "aga.k8s.aws/v1beta1"
    assert body["metadata"]["name"] == global_accel.object_name("arena", NLB_B)
    assert body["metadata"]["name"] != global_accel.object_name("arena", NLB_A)
    assert body["metadata"]["labels"]["game.kruise.io/owner-gss"] == "arena"
    spec = body["spec"]
    assert len(spec["name"]) <= 64 and spec["name"].startswith("gf-arena-")
    endpoint = [{"endpoints": [{"type": "EndpointID", "endpointID": NLB_B}]}]
    assert spec["listeners"] == [
        {"protocol": proto, "portRanges": [{"fromPort": 30001, "toPort": 30020}],
         "clientAffinity": "NONE", "endpointGroups": endpoint}
        for proto in ("TCP", "UDP")
    ]  # fmt: skip
    assert global_accel.spec_patch(body, body) == {}
    assert global_accel.aws_name("a", "x" * 200, NLB_A) != global_accel.aws_name(
        "b", "x" * 200, NLB_A
    )
    assert len(global_accel.aws_name("a", "x" * 200, NLB_A)) <= 64


def _deployed(generation: int = 1, observed: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "status": {
            "observedGeneration": observed,
            "dnsName": "a1234567890abcdef.awsglobalaccelerator.com",
            "ipSets": [{"ipAddresses": ["75.2.0.1", "99.83.0.1"], "ipAddressFamily": "IPv4"}],
        },
    }


def test_the_global_address_once_the_accelerator_is_deployed() -> None:
    ports = (nstatus.Port("7777", "UDP", 30003),)
    external = [nstatus.Address("", ports, "game-a-0123.elb.eu-west-1.amazonaws.com")]
    (found,) = global_accel.global_addresses(_deployed(), external)
    assert found.as_dict() == {
        "ip": "75.2.0.1",
        "endPoint": "a1234567890abcdef.awsglobalaccelerator.com",
        "ports": [{"name": "7777", "protocol": "UDP", "port": 30003}],
    }
    assert global_accel.global_addresses(_deployed(generation=2), external) == []
    assert global_accel.global_addresses(None, external) == []
    assert global_accel.global_addresses(_deployed(), []) == []
    status = nstatus.network_status(
        "AmazonWebServices-NLB", [], external, vocabulary.NetworkState.READY,
        vocabulary.NetworkState.READY, None, "2026-01-01T00:00:00Z", [found],
    )  # fmt: skip
    assert status["globalAddresses"] == [found.as_dict()]
    plain = nstatus.network_status(
        "AmazonWebServices-NLB", [], external, vocabulary.NetworkState.READY,
        vocabulary.NetworkState.READY, None, "2026-01-01T00:00:00Z",
    )  # fmt: skip
    assert "globalAddresses" not in plain


async def test_a_set_asking_without_the_crd_is_invalid_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube = FakeKube({
        "elbv2.services.k8s.aws/v1alpha1": ["targetgroups", "listeners"],
        "elbv2.k8s.aws/v1beta1": ["targetgroupbindings"],
    })  # fmt: skip
    network = hooks.Network(
        kube, kcache.WatchCache(kube, resources.POD), EventRecorder(kube), namespace="ns",
        requeue=lambda key, delay: None,
    )  # fmt: skip
    conf = [("NlbARNs", NLB_A), ("NlbVPCId", "vpc-1"), ("PortProtocols", "7777"),
            ("GlobalAccelerator", "true")]  # fmt: skip
    gss = {
        "apiVersion": "game.kruise.io/v1alpha1",
        "kind": "GameServerSet",
        "metadata": {"name": "gs", "namespace": "ns", "uid": "set-uid", "generation": 1},
        "spec": {"network": {"networkType": "AmazonWebServices-NLB",
                             "networkConf": [{"name": n, "value": v} for n, v in conf]}},
    }  # fmt: skip
    assert not await network.check(gss)
    (event,) = [b for m, p, b in kube.calls if m == "POST" and p.endswith("/events")]
    assert event["message"].startswith(
        "network.networkConf: GlobalAccelerator=true needs the custom resources"
        " globalaccelerators.aga.k8s.aws"
    )
    kube.served["aga.k8s.aws/v1beta1"] = ["globalaccelerators"]
    monkeypatch.setattr(crd_gate, "REDISCOVER_SECONDS", 0.0)
    assert await network.check(gss)
    await network.stop()
