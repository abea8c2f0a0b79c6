"""Global addresses on Google Cloud: the parameters and their checks, the Config Connector
objects per set and per server port, the NEG annotation on the server's Service, readiness, the
server's global address, and a cluster without Config Connector's CRDs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.core.network import gcp_global, lbports
from agent.core.network import status as nstatus
from agent.kube import cache as kcache
from agent.kube import resources
from agent.kube.events import EventRecorder
from agent.network import crd_gate, hooks, loadbalancer, plugin
from okg.network import conf as nconf
from tests.unit.agent_network.test_aws_nlb import FakeKube

GCP = "GoogleCloud-NLB"
GSS = {"apiVersion": "game.kruise.io/v1alpha1", "kind": "GameServerSet",
       "metadata": {"name": "arena", "namespace": "games", "uid": "set-uid"}}  # fmt: skip
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "arena-3", "uid": "pod-uid"},
       "status": {"phase": "Running", "podIP": "10.0.0.7"}}  # fmt: skip
OWNER = {"kind": "GameServerSet", "name": "arena", "uid": "set-uid"}
ON = (("GlobalAddress", "true"), ("GlobalProjectId", "game-prod"))


def _c(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in pairs]


def _conf(ports: str = "7777/TCP,7778/TCP", *extra: tuple[str, str]) -> nconf.LoadBalancerConf:
    parsed = nconf.parse_network(
        GCP, _c(("AddressNames", "ip-a,ip-b"), ("PortProtocols", ports), *extra)
    )
    assert isinstance(parsed, nconf.LoadBalancerConf)
    return parsed


def test_only_sets_that_ask_get_global_addresses_and_bad_parameters_are_named() -> None:
    assert gcp_global.wanted(_conf("7777/TCP", *ON))
    assert not gcp_global.wanted(_conf("7777/TCP", ("GlobalAddress", "false")))
    assert not gcp_global.wanted(_conf("7777/UDP"))
    assert nconf.validate_network_conf(
        GCP, _c(("AddressNames", "ip-a"), ("PortProtocols", "7777/UDP,7778/TCPUDP,7779/TCP"),
                ("GlobalAddress", "true"))
    ) == [
        (2, "network.networkConf[2] GlobalAddress: true needs GlobalProjectId (the project of"
            " the global load balancer's objects)"),
        (1, "network.networkConf[1] PortProtocols: GlobalAddress=true supports TCP ports only"
            " (Google Cloud has no global load balancer for UDP); UDP on 7777, 7778"),
    ]  # fmt: skip
    assert nconf.validate_network_conf(
        GCP, _c(("AddressNames", "ip-a"), ("PortProtocols", "7777/TCP"),
                ("GlobalAddress", "yes"), ("GlobalProjectId", "Game_Prod"))
    ) == [
        (2, 'network.networkConf[2] GlobalAddress: "yes" is not one of true, false'),
        (3, 'network.networkConf[3] GlobalProjectId: "Game_Prod" is not a Google Cloud project'
            " id (6-30 lowercase letters, digits, hyphens)"),
    ]  # fmt: skip
    # UDP stays allowed without global addresses.
    assert nconf.validate_network_conf(
        GCP, _c(("AddressNames", "ip-a"), ("PortProtocols", "7777/UDP"))
    ) == []  # fmt: skip


def test_the_service_asks_gke_for_a_standalone_neg_per_tcp_port() -> None:
    server = plugin.Server("games", "arena", GSS, POD, network_disabled=False)
    allocation = lbports.Allocation("ip-b", (7000, 7001))
    body = loadbalancer.service_body(_conf("7777/TCP,7778/TCP", *ON), server, allocation)
    exposed = json.loads(body["metadata"]["annotations"]["cloud.google.com/neg"])
    assert exposed == {"exposed_ports": {
        "7000": {"name": gcp_global.neg_name("games", "set-uid", "arena-3", 7000)},
        "7001": {"name": gcp_global.neg_name("games", "set-uid", "arena-3", 7001)},
    }}  # fmt: skip
    plain = loadbalancer.service_body(_conf(), server, allocation)
    assert "cloud.google.com/neg" not in plain["metadata"]["annotations"]


def _svc(neg_status: str | None = None) -> dict[str, Any]:
    notes = {"gamefleet.io/lb-ports": '{"lb":"ip-b","ports":[7000,7001]}'}
    if neg_status is not None:
        notes["cloud.google.com/neg-status"] = neg_status
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "arena-3", "namespace": "games", "uid": "svc-uid",
                         "annotations": notes}}  # fmt: skip


def test_the_sets_health_check_and_a_global_address_per_regional_address() -> None:
    check, *addresses = gcp_global.set_bodies(_conf("7777/TCP", *ON), "games", GSS, OWNER)
    assert check["kind"] == "ComputeHealthCheck"
    assert check["spec"]["location"] == "global"
    assert check["spec"]["tcpHealthCheck"] == {"portSpecification": "USE_SERVING_PORT"}
    assert [a["metadata"]["name"] for a in addresses] == [
        gcp_global.address_object("arena", "ip-a"), gcp_global.address_object("arena", "ip-b")
    ]  # fmt: skip
    for obj in (check, *addresses):
        assert obj["apiVersion"] == "compute.cnrm.cloud.google.com/v1beta1"
        assert obj["metadata"]["ownerReferences"] == [OWNER]
        assert obj["metadata"]["labels"]["game.kruise.io/owner-gss"] == "arena"
        rid = obj["spec"]["resourceID"]
        assert len(rid) <= 63 and rid[0].isalpha() and rid == rid.lower()
    assert {a["spec"]["addressType"] for a in addresses} == {"EXTERNAL"}
    assert gcp_global.server_index(check) == "games/arena"
    assert len({a["spec"]["resourceID"] for a in addresses}) == 2


def test_per_server_port_a_forwarding_rule_proxy_and_backend_on_its_negs() -> None:
    conf = _conf("7777/TCP,7778/TCP", *ON)
    waiting = gcp_global.server_bodies(conf, "games", GSS, _svc(), "ip-b", (7000, 7001))
    assert [o["kind"] for o in waiting] == ["ComputeTargetTCPProxy", "ComputeForwardingRule"] * 2
    status = json.dumps({"network_endpoint_groups": {"7000": "neg-7000", "7001": "neg-7001"},
                         "zones": ["europe-west1-c", "europe-west1-b"]})  # fmt: skip
    found = gcp_global.server_bodies(conf, "games", GSS, _svc(status), "ip-b", (7000, 7001))
    by = {(o["kind"], o["metadata"]["name"]): o for o in found}
    assert len(by) == 6
    backend = by["ComputeBackendService", "arena-3-gx-7000"]["spec"]
    assert backend["loadBalancingScheme"] == "EXTERNAL_MANAGED"
    assert backend["protocol"] == "TCP"
    assert backend["healthChecks"] == [{"healthCheckRef": {"name": "arena-gx"}}]
    assert [b["group"]["networkEndpointGroupRef"]["external"] for b in backend["backend"]] == [
        "projects/game-prod/zones/europe-west1-b/networkEndpointGroups/neg-7000",
        "projects/game-prod/zones/europe-west1-c/networkEndpointGroups/neg-7000",
    ]
    assert {b["balancingMode"] for b in backend["backend"]} == {"CONNECTION"}
    proxy = by["ComputeTargetTCPProxy", "arena-3-gx-7001"]["spec"]
    assert proxy["backendServiceRef"] == {"name": "arena-3-gx-7001"}
    rule = by["ComputeForwardingRule", "arena-3-gx-7001"]["spec"]
    assert rule == rule | {
        "location": "global", "loadBalancingScheme": "EXTERNAL_MANAGED", "ipProtocol": "TCP",
        "portRange": "7001",
        "ipAddress": {"addressRef": {"name": gcp_global.address_object("arena", "ip-b")}},
        "target": {"targetTCPProxyRef": {"name": "arena-3-gx-7001"}},
    }  # fmt: skip
    for obj in found:
        assert obj["metadata"]["ownerReferences"][0]["uid"] == "svc-uid"
        assert obj["metadata"]["labels"][gcp_global.SERVER_LABEL] == "arena-3"
        assert gcp_global.server_index(obj) == "games/arena/arena-3"
    # Only the backends (zones) change in place; immutable fields are never patched.
    before = gcp_global.server_bodies(conf, "games", GSS, _svc(json.dumps(
        {"network_endpoint_groups": {"7000": "neg-7000"}, "zones": ["europe-west1-b"]})),
        "ip-b", (7000, 7001))[0]  # fmt: skip
    after = by["ComputeBackendService", "arena-3-gx-7000"]
    assert gcp_global.spec_patch(before, after) == {"backend": after["spec"]["backend"]}
    assert gcp_global.spec_patch(after, after) == {}


def _ready(generation: int = 1, ok: str = "True",
           address: str = "") -> dict[str, Any]:  # fmt: skip
    status: dict[str, Any] = {"observedGeneration": 1,
                              "conditions": [{"type": "Ready", "status": ok}]}  # fmt: skip
    if address:
        status["observedState"] = {"address": address}
    return {"metadata": {"generation": generation}, "status": status}


def test_the_global_address_once_the_address_and_every_rule_are_made() -> None:
    ports = (nstatus.Port("7777", "TCP", 7000), nstatus.Port("7778", "UDP", 7001))
    external = [nstatus.Address("34.1.2.3", ports)]
    ip = _ready(address="34.120.0.9")
    (found,) = gcp_global.global_addresses(ip, [_ready(), _ready()], external)
    assert found.as_dict() == {
        "ip": "34.120.0.9", "ports": [{"name": "7777", "protocol": "TCP", "port": 7000}]
    }  # fmt: skip
    assert gcp_global.global_addresses(ip, [_ready(), _ready(ok="False")], external) == []
    assert gcp_global.global_addresses(ip, [_ready(), None], external) == []
    assert gcp_global.global_addresses(ip, [_ready(generation=2)], external) == []
    assert gcp_global.global_addresses(_ready(), [_ready()], external) == []
    assert gcp_global.global_addresses(ip, [_ready()], []) == []


async def test_a_set_asking_without_config_connector_is_invalid_naming_the_crds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube = FakeKube({})
    network = hooks.Network(
        kube, kcache.WatchCache(kube, resources.POD), EventRecorder(kube), namespace="ns",
        requeue=lambda key, delay: None,
    )  # fmt: skip
    conf = [("AddressNames", "ip-a"), ("PortProtocols", "7777/TCP"), *ON]
    gss = {
        "apiVersion": "game.kruise.io/v1alpha1",
        "kind": "GameServerSet",
        "metadata": {"name": "gs", "namespace": "ns", "uid": "set-uid", "generation": 1},
        "spec": {"network": {"networkType": GCP, "networkConf": _c(*conf)}},
    }
    assert not await network.check(gss)
    (event,) = [b for m, p, b in kube.calls if m == "POST" and p.endswith("/events")]
    assert event["message"] == (
        "network.networkConf: GlobalAddress=true needs the custom resources"
        " computeaddresses.compute.cnrm.cloud.google.com,"
        " computehealthchecks.compute.cnrm.cloud.google.com,"
        " computebackendservices.compute.cnrm.cloud.google.com,"
        " computetargettcpproxies.compute.cnrm.cloud.google.com,"
        " computeforwardingrules.compute.cnrm.cloud.google.com, which this cluster does not"
        " serve (install Config Connector with its compute resources)"
    )
    kube.served["compute.cnrm.cloud.google.com/v1beta1"] = [
        r.plural for r in (resources.COMPUTE_ADDRESS, resources.COMPUTE_HEALTH_CHECK,
                           resources.COMPUTE_BACKEND_SERVICE, resources.COMPUTE_TCP_PROXY,
                           resources.COMPUTE_FORWARDING_RULE)
    ]  # fmt: skip
    monkeypatch.setattr(crd_gate, "REDISCOVER_SECONDS", 0.0)
    assert await network.check(gss)
    await network.stop()
