"""AlibabaCloud-Multi-NLBs: groups of NLBs across lines, the same ports on every NLB of a group,
one Service per line, readiness, parameters."""

from __future__ import annotations

import pytest

from agent.core.network import lbports, multi_nlbs
from okg import vocabulary
from okg.network import conf as nconf
from okg.network import multi_nlbs as multi_nlbs_conf

IDS = "nlb-t0/telecom,nlb-u0/unicom,nlb-t1/telecom,nlb-u1/unicom"


def _c(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in pairs]


def _parse(*pairs: tuple[str, str]) -> multi_nlbs_conf.MultiNlbsConf:
    parsed = nconf.parse_network(multi_nlbs_conf.NETWORK_TYPE, _c(("NlbIdNames", IDS), *pairs))
    assert isinstance(parsed, multi_nlbs_conf.MultiNlbsConf)
    return parsed


def test_groups_are_the_ith_nlb_of_every_line_and_okg_defaults() -> None:
    conf = _parse(("PortProtocols", "7777/UDP"))
    assert conf.lines == ("telecom", "unicom")
    assert conf.groups == (("nlb-t0", "nlb-u0"), ("nlb-t1", "nlb-u1"))
    assert (conf.port_range, conf.blocked) == ((1000, 1502), (1025, 1434, 1068))
    assert (conf.traffic_policy, conf.fixed, conf.balanced) == ("Local", False, False)


def test_the_same_ports_on_every_nlb_of_a_group() -> None:
    table = lbports.LbPortTable()
    # Another set holds 1000 on nlb-u0 only: the group's first common free port is 1001.
    table.observe(("ns", "other"), lbports.Allocation("nlb-u0", (1000,), "uid"))
    conf = _parse(("PortProtocols", "7777/UDP"), ("MinPort", "1000"), ("MaxPort", "1001"))
    first = multi_nlbs.allocate(table, conf, "ns", "gs-0")
    assert first == [lbports.Allocation("nlb-t0", (1001,)), lbports.Allocation("nlb-u0", (1001,))]
    assert table.get(("ns", "gs-0-telecom")) == first[0]
    # Group 0 is full now: the next server goes to group 1.
    second = multi_nlbs.allocate(table, conf, "ns", "gs-1")
    assert [a.lb_id for a in second] == ["nlb-t1", "nlb-u1"]
    # Asked again, a server keeps what it holds.
    assert multi_nlbs.allocate(table, conf, "ns", "gs-0") == first
    third = multi_nlbs.allocate(table, conf, "ns", "gs-2")
    assert [(a.lb_id, a.ports) for a in third] == [("nlb-t1", (1001,)), ("nlb-u1", (1001,))]
    with pytest.raises(lbports.NoCapacityError):
        multi_nlbs.allocate(table, conf, "ns", "gs-3")
    balanced = _parse(("PortProtocols", "7777"), ("AllocatePolicy", "balanced"))
    picked = multi_nlbs.allocate(lbports.LbPortTable(), balanced, "ns", "gs-5")
    assert [a.lb_id for a in picked] == ["nlb-t0", "nlb-u0"]


def test_a_half_recorded_server_is_completed_on_its_group() -> None:
    """After a restart only the telecom Service exists: the unicom one gets the same port."""
    table = lbports.LbPortTable()
    table.observe(("ns", "gs-0-telecom"), lbports.Allocation("nlb-t1", (1003,), "uid-t"))
    conf = _parse(("PortProtocols", "7777/UDP"))
    found = multi_nlbs.allocate(table, conf, "ns", "gs-0")
    assert found == [
        lbports.Allocation("nlb-t1", (1003,), "uid-t"),
        lbports.Allocation("nlb-u1", (1003,)),
    ]


def test_service_per_line_and_readiness() -> None:
    conf = _parse(("PortProtocols", "7777/UDP"), ("LBHealthCheckFlag", "off"), ("Fixed", "true"))
    meta = {"name": "gs-0", "namespace": "ns", "labels": {"game.kruise.io/owner-gss": "gs"},
            "ownerReferences": [{"uid": "set-uid"}]}  # fmt: skip
    selector = {"statefulset.kubernetes.io/pod-name": "gs-0"}
    body = multi_nlbs.service_body(
        conf, meta, "unicom", lbports.Allocation("nlb-u1", (1001,)), selector, disabled=False
    )
    notes = body["metadata"]["annotations"]
    prefix = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
    assert body["metadata"]["name"] == "gs-0-unicom"
    assert notes[f"{prefix}id"] == "nlb-u1"
    assert notes[f"{prefix}health-check-flag"] == "off"
    assert notes["game.kruise.io/lb-belong-index"] == "1"
    assert body["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "gs-0"
    assert body["spec"]["loadBalancerClass"] == "alibabacloud.com/nlb"
    assert body["spec"]["ports"] == [
        {"name": "7777", "port": 1001, "protocol": "UDP", "targetPort": 7777}
    ]
    answered = {**body, "status": {"loadBalancer": {"ingress": [{"hostname": "nlb-u1.example"}]}}}
    _, external, state = multi_nlbs.observed(
        conf, {"telecom": answered, "unicom": answered}, "10.0.0.9", True
    )
    assert state is vocabulary.NetworkState.READY
    assert [a.end_point for a in external] == ["nlb-u1.example/telecom", "nlb-u1.example/unicom"]
    _, _, waiting = multi_nlbs.observed(
        conf, {"telecom": answered, "unicom": body}, "10.0.0.9", True
    )
    assert waiting is vocabulary.NetworkState.NOT_READY
    isolated = multi_nlbs.service_body(
        conf, meta, "unicom", lbports.Allocation("nlb-u1", (1001,)), selector, disabled=True
    )
    assert isolated["spec"]["type"] == "ClusterIP"
    assert "loadBalancerClass" not in isolated["spec"]


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("PortProtocols", "7777")],
         [(-1, "network.networkConf: AlibabaCloud-Multi-NLBs needs NlbIdNames")]),
        ([("NlbIdNames", "nlb-1/telecom,nlb-2/unicom,nlb-3/telecom"), ("PortProtocols", "7777")],
         [(0, 'network.networkConf[0] NlbIdNames: "nlb-1/telecom,nlb-2/unicom,nlb-3/telecom"'
              " does not list the same number of NLBs for every line")]),
        ([("NlbIdNames", "nlb-1"), ("PortProtocols", "7777"), ("AllocatePolicy", "random")],
         [(0, 'network.networkConf[0] NlbIdNames: "nlb-1" is not <nlb-id>/<line>,…'),
          (2, 'network.networkConf[2] AllocatePolicy: "random" is not one of default,'
              " balanced")]),
    ],
)  # fmt: skip
def test_each_bad_parameter_is_named(
    pairs: list[tuple[str, str]], expected: list[tuple[int, str]]
) -> None:
    assert nconf.validate_network_conf(multi_nlbs_conf.NETWORK_TYPE, _c(*pairs)) == expected
