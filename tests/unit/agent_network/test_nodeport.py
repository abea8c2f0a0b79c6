"""The NodePort Service shape: ports per protocol, selector swap, owner (pod or set)."""

from __future__ import annotations

from agent.network import nodeport, plugin
from okg.network import conf as nconf

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "gs-3", "uid": "pod-uid"}}
GSS = {"apiVersion": "game.kruise.io/v1alpha1", "metadata": {"name": "gs", "uid": "set-uid"}}


def _server(disabled: bool) -> plugin.Server:
    return plugin.Server("ns", "gs", GSS, POD, network_disabled=disabled)


def _conf(value: str, fixed: bool = False) -> nconf.NodePortConf:
    conf = [{"name": "PortProtocols", "value": value}, {"name": "Fixed", "value": str(fixed)}]
    parsed = nconf.parse_network("Kubernetes-NodePort", conf)
    assert isinstance(parsed, nconf.NodePortConf)
    return parsed


def test_service_per_server() -> None:
    body = nodeport.service_body(_conf("8080/TCP,9000/TCPUDP"), _server(False))
    assert body["metadata"]["name"] == "gs-3"
    assert body["metadata"]["labels"] == {"game.kruise.io/owner-gss": "gs"}
    assert body["metadata"]["ownerReferences"][0]["uid"] == "pod-uid"
    assert body["spec"]["type"] == "NodePort"
    assert body["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": "gs-3"}
    assert body["spec"]["ports"] == [
        {"name": "8080", "port": 8080, "protocol": "TCP", "targetPort": 8080},
        {"name": "9000-tcp", "port": 9000, "protocol": "TCP", "targetPort": 9000},
        {"name": "9000-udp", "port": 9000, "protocol": "UDP", "targetPort": 9000},
    ]


def test_network_disabled_swaps_the_selector_key() -> None:
    body = nodeport.service_body(_conf("8080/TCP"), _server(True))
    assert body["spec"]["selector"] == {"game.kruise.io/svc-selector-disabled": "gs-3"}


def test_fixed_service_is_owned_by_the_set() -> None:
    body = nodeport.service_body(_conf("8080/TCP", fixed=True), _server(False))
    owner = body["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"]) == ("GameServerSet", "set-uid")
