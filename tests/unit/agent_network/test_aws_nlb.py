"""AmazonWebServices-NLB: names, bodies, the DNS name, keeping objects, the readiness rule, and
what a cluster without the AWS controllers' CRDs does to a set."""

from __future__ import annotations

import asyncio
import re
import types
from typing import TYPE_CHECKING, Any

import pytest

from agent.core.network import aws_nlb as core
from agent.core.network import lbports
from agent.kube import cache as kcache
from agent.kube import client as kclient
from agent.kube import resources
from agent.kube.events import EventRecorder
from agent.network import aws_nlb, hooks, plugin
from okg import vocabulary
from okg.network import conf as nconf

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

Obj = dict[str, Any]
AWS = "AmazonWebServices-NLB"
NLB = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/game-a/0123456789abcdef"
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "gs-3", "namespace": "ns", "uid": "pod-uid"},
    "status": {"phase": "Running", "podIP": "10.0.0.7"},
}
GSS = {"apiVersion": "game.kruise.io/v1alpha1", "metadata": {"name": "gs", "uid": "set-uid"}}
OWNER = {"apiVersion": "v1", "kind": "Pod", "name": "gs-3", "uid": "pod-uid", "controller": True}
CONF = [
    ("NlbARNs", NLB),
    ("NlbVPCId", "vpc-0a1b"),
    ("PortProtocols", "7777/UDP,8080/TCPUDP"),
    ("NlbHealthCheck", "healthCheckEnabled:true,healthCheckIntervalSeconds:10,healthCheckPath:/hc"),
    ("Annotations", "team:arena"),
]


def _conf(*pairs: tuple[str, str]) -> nconf.LoadBalancerConf:
    parsed = nconf.parse_network(AWS, [{"name": n, "value": v} for n, v in pairs or CONF])
    assert isinstance(parsed, nconf.LoadBalancerConf)
    return parsed


def _where(owner: Mapping[str, Any] = OWNER, ports: tuple[int, ...] = (30001, 30002)) -> Any:
    return core.placement(
        _conf(),
        lbports.Allocation(NLB, ports),
        namespace="ns",
        set_name="gs",
        server="gs-3",
        owner=owner,
    )


# Names and bodies.


def test_protocols_are_aws_protocols() -> None:
    assert [core.aws_protocol(p) for p in nconf.Protocol] == ["TCP", "UDP", "TCP_UDP"]


def test_target_group_names_are_short_deterministic_and_change_with_what_aws_cannot() -> None:
    base: dict[str, Any] = {
        "lb_arn": NLB, "nlb_port": 30001, "owner_uid": "pod-uid", "vpc_id": "vpc-1",
        "protocol": "UDP", "port": 7777,
    }  # fmt: skip
    name = core.target_group_name(**base)
    assert re.fullmatch(r"gf-[0-9a-f]{29}", name)
    assert len(name) == core.TARGET_GROUP_NAME_MAX
    assert core.target_group_name(**base) == name
    changes = {
        "lb_arn": "arn:other", "nlb_port": 30002, "owner_uid": "new-pod-uid", "vpc_id": "vpc-2",
        "protocol": "TCP", "port": 7778,
    }  # fmt: skip
    others = {core.target_group_name(**(base | {k: v})) for k, v in changes.items()}
    assert len(others) == 6 and name not in others


def test_health_check_fields_are_typed_for_the_target_group() -> None:
    assert core.health_check(_conf()) == {
        "healthCheckEnabled": True,
        "healthCheckIntervalSeconds": 10,
        "healthCheckPath": "/hc",
    }
    assert core.health_check(_conf(*CONF[:3])) == {}


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        (NLB, "game-a-0123456789abcdef.elb.eu-west-1.amazonaws.com"),
        ("arn:aws-cn:elasticloadbalancing:cn-north-1:1:loadbalancer/net/g/ab12",
         "g-ab12.elb.cn-north-1.amazonaws.com.cn"),
        ("arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/g/ab12", ""),
        ("arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/net/g", ""),
        ("arn:aws:ec2:eu-west-1:1:loadbalancer/net/g/ab12", ""),
        ("nlb-1", ""),
    ],
    ids=["aws", "china", "application LB", "no id", "not elasticloadbalancing", "not an ARN"],
)  # fmt: skip
def test_endpoint_is_the_nlb_dns_name_from_its_arn(arn: str, expected: str) -> None:
    assert core.endpoint(arn) == expected


def test_target_group_listener_and_binding_of_each_port() -> None:
    where = _where()
    assert where.names() == ["gs-3-30001", "gs-3-30002"]
    udp, both = where.listens
    group = core.target_group_body(where, both)
    assert group["apiVersion"] == "elbv2.services.k8s.aws/v1alpha1"
    assert group["kind"] == "TargetGroup"
    assert group["metadata"] == {
        "name": "gs-3-30002",
        "namespace": "ns",
        "labels": {"game.kruise.io/owner-gss": "gs", "statefulset.kubernetes.io/pod-name": "gs-3"},
        "ownerReferences": [OWNER],
    }
    spec = group["spec"]
    assert spec["name"] == core.target_group_name(
        NLB, 30002, "pod-uid", "vpc-0a1b", "TCP_UDP", 8080
    )
    assert (spec["protocol"], spec["port"], spec["targetType"], spec["vpcID"]) == (
        "TCP_UDP", 8080, "ip", "vpc-0a1b",
    )  # fmt: skip
    assert spec["healthCheckIntervalSeconds"] == 10
    assert {"key": "managed-by", "value": "gamefleet.io"} in spec["tags"]
    listener = core.listener_body(where, udp)
    assert listener["kind"] == "Listener"
    assert listener["metadata"]["name"] == "gs-3-30001"
    assert {k: v for k, v in listener["spec"].items() if k != "tags"} == {
        "loadBalancerARN": NLB,
        "port": 30001,
        "protocol": "UDP",
        "defaultActions": [{"type": "forward", "targetGroupRef": {"from": {"name": "gs-3-30001"}}}],
    }
    binding = core.binding_body(where, udp, "arn:tg")
    assert binding["apiVersion"] == "elbv2.k8s.aws/v1beta1"
    assert binding["kind"] == "TargetGroupBinding"
    assert binding["spec"] == {
        "targetGroupARN": "arn:tg",
        "targetType": "ip",
        "serviceRef": {"name": "gs-3", "port": 30001},
    }


def test_service_is_cluster_ip_with_the_record_and_isolation_swaps_its_selector() -> None:
    server = plugin.Server("ns", "gs", GSS, POD, network_disabled=False)
    body = aws_nlb.service_body(_conf(), server, lbports.Allocation(NLB, (30001, 30002)))
    notes = body["metadata"]["annotations"]
    assert lbports.read_record(notes, None) == lbports.Allocation(NLB, (30001, 30002))
    assert (notes["gamefleet.io/nlb-arn"], notes["team"]) == (NLB, "arena")
    assert body["spec"]["type"] == "ClusterIP"
    assert body["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": "gs-3"}
    ports = [(p["name"], p["port"], p["protocol"], p["targetPort"]) for p in body["spec"]["ports"]]
    assert ports == [
        ("7777", 30001, "UDP", 7777), ("8080-tcp", 30002, "TCP", 8080),
        ("8080-udp", 30002, "UDP", 8080),
    ]  # fmt: skip
    isolated = plugin.Server("ns", "gs", GSS, POD, network_disabled=True)
    body = aws_nlb.service_body(_conf(), isolated, lbports.Allocation(NLB, (30001, 30002)))
    assert body["spec"]["selector"] == {"game.kruise.io/svc-selector-disabled": "gs-3"}
    assert body["spec"]["ports"][0]["port"] == 30001


# Keeping the objects.


ACTION = {"type": "forward", "targetGroupRef": {"from": {"name": "gs-3-30001"}}}


def _seen(wanted: Obj, spec: Obj | None = None, owner: str = "pod-uid") -> Obj:
    """`wanted` as the API server returns it: ACK's defaults filled in, `spec` changes applied."""
    return {
        "kind": wanted["kind"],
        "metadata": {**wanted["metadata"], "ownerReferences": [{"uid": owner}], "uid": "u1"},
        "spec": {**wanted["spec"], "ipAddressType": "ipv4", **(spec or {})},
    }


def test_an_object_as_wanted_needs_nothing_whatever_ack_filled_in() -> None:
    where = _where()
    for wanted in (
        core.target_group_body(where, where.listens[0]),
        core.listener_body(where, where.listens[0]),
        core.binding_body(where, where.listens[0], "arn:tg"),
    ):
        assert core.change(_seen(wanted), wanted) == core.Change()


@pytest.mark.parametrize(
    ("kind", "spec", "owner", "expected"),
    [
        ("TargetGroup", {"healthCheckIntervalSeconds": 30}, "pod-uid",
         core.Change(spec={"healthCheckIntervalSeconds": 10})),
        ("TargetGroup", {"vpcID": "vpc-old"}, "pod-uid", core.Change(replace=True)),
        ("TargetGroup", {}, "earlier-pod", core.Change(replace=True)),
        ("Listener", {"port": 30009}, "pod-uid", core.Change(spec={"port": 30001})),
        ("Listener", {"loadBalancerARN": "arn:other"}, "pod-uid", core.Change(replace=True)),
        ("Listener", {"defaultActions": [{**ACTION, "targetGroupARN": "arn:tg"}]}, "pod-uid",
         core.Change()),
        ("Listener", {"defaultActions": [{"type": "forward", "targetGroupARN": "arn:tg"}]},
         "pod-uid", core.Change(spec={"defaultActions": [ACTION]})),
        ("TargetGroupBinding", {"targetGroupARN": "arn:old"}, "pod-uid", core.Change(replace=True)),
        ("TargetGroupBinding", {"serviceRef": {"name": "gs-3", "port": 1}}, "pod-uid",
         core.Change(replace=True)),
    ],
    ids=["health check patched", "vpc replaced", "earlier owner replaced", "listener port patched",
         "listener moved", "resolved action kept", "action of another group patched",
         "binding of an old group", "binding of another port"],
)  # fmt: skip
def test_what_changes_in_place_and_what_is_replaced(
    kind: str, spec: Obj, owner: str, expected: core.Change
) -> None:
    where = _where()
    listen = where.listens[0]
    wanted = {
        "TargetGroup": core.target_group_body(where, listen),
        "Listener": core.listener_body(where, listen),
        "TargetGroupBinding": core.binding_body(where, listen, "arn:tg"),
    }[kind]
    assert core.change(_seen(wanted, spec, owner), wanted) == expected


# Readiness.


def _ack(arn: str = "arn:x", *conditions: tuple[str, str]) -> Obj:
    conds = [{"type": t, "status": s} for t, s in conditions or (("ACK.ResourceSynced", "True"),)]
    status: Obj = {"conditions": conds}
    if arn:
        status["ackResourceMetadata"] = {"arn": arn, "region": "eu-west-1"}
    return {"metadata": {"name": "gs-3-30001"}, "status": status}


def _binding(arn: str = "arn:tg", generation: int = 1, observed: int | None = 1) -> Obj:
    status = {} if observed is None else {"observedGeneration": observed}
    return {
        "metadata": {"generation": generation},
        "spec": {"targetGroupARN": arn},
        "status": status,
    }


def _port(
    group: Obj | None = None, listener: Obj | None = None, binding: Obj | None = None
) -> core.PortObjects:
    return core.PortObjects(
        "gs-3-30001",
        _ack("arn:tg") if group is None else group,
        _ack("arn:listener") if listener is None else listener,
        _binding() if binding is None else binding,
    )


def test_ready_when_ack_and_the_load_balancer_controller_have_answered() -> None:
    ready = core.readiness([_port(), _port()], selected=True, running=True)
    assert (ready.state, ready.listening, ready.waiting_for) == (
        vocabulary.NetworkState.READY,
        True,
        "",
    )
    # ACK's newer `Ready` condition counts as ResourceSynced.
    newer = _port(group=_ack("arn:tg", ("Ready", "True")))
    assert core.readiness([newer], True, True).state is vocabulary.NetworkState.READY


@pytest.mark.parametrize(
    ("port", "selected", "running", "reason"),
    [
        (core.PortObjects("gs-3-30001", None, None, None), True, True,
         "TargetGroup gs-3-30001 missing"),
        (_port(group=_ack("")), True, True, "TargetGroup gs-3-30001 not synced"),
        (_port(listener=_ack("arn:l", ("ACK.ResourceSynced", "False"))), True, True,
         "Listener gs-3-30001 not synced"),
        (_port(group=_ack("arn:tg", ("ACK.ResourceSynced", "True"), ("ACK.Terminal", "True"))),
         True, True, "TargetGroup gs-3-30001 failed"),
        (_port(binding=_binding("arn:old")), True, True, "TargetGroupBinding gs-3-30001 not bound"),
        (_port(binding=_binding(generation=2, observed=1)), True, True, "not bound"),
        (_port(binding=_binding(observed=None)), True, True, "not bound"),
        (_port(), False, True, "Service does not select the pod"),
        (_port(), True, False, "pod not running"),
    ],
    ids=["nothing yet", "group without ARN", "listener not synced", "terminal",
         "binding of an old group", "binding not observed", "binding never observed", "isolated",
         "pod not running"],
)  # fmt: skip
def test_not_ready_until_every_part_is(
    port: core.PortObjects, selected: bool, running: bool, reason: str
) -> None:
    ready = core.readiness([_port(), port], selected, running)
    assert ready.state is vocabulary.NetworkState.NOT_READY
    assert reason in ready.waiting_for


def test_addresses_name_the_container_ports_and_the_nlb_once_listening() -> None:
    where = _where()
    internal, external = core.addresses(where, "10.0.0.7", listening=True)
    assert [a.as_dict() for a in internal] == [
        {"ip": "10.0.0.7", "ports": [
            {"name": "7777", "protocol": "UDP", "port": 7777},
            {"name": "8080-tcp", "protocol": "TCP", "port": 8080},
            {"name": "8080-udp", "protocol": "UDP", "port": 8080},
        ]},
    ]  # fmt: skip
    assert [a.as_dict() for a in external] == [
        {"ip": "", "endPoint": "game-a-0123456789abcdef.elb.eu-west-1.amazonaws.com", "ports": [
            {"name": "7777", "protocol": "UDP", "port": 30001},
            {"name": "8080-tcp", "protocol": "TCP", "port": 30002},
            {"name": "8080-udp", "protocol": "UDP", "port": 30002},
        ]},
    ]  # fmt: skip
    assert core.addresses(where, "", listening=False) == ([], [])


# The custom resources.


def test_missing_crds_are_named_by_what_discovery_serves() -> None:
    every = {
        "elbv2.services.k8s.aws/v1alpha1": ["targetgroups", "targetgroups/status", "listeners"],
        "elbv2.k8s.aws/v1beta1": ["targetgroupbindings"],
    }
    assert core.missing_crds(every) == []
    assert core.missing_crds({}) == [
        "targetgroups.elbv2.services.k8s.aws",
        "listeners.elbv2.services.k8s.aws",
        "targetgroupbindings.elbv2.k8s.aws",
    ]
    only_ack = {"elbv2.services.k8s.aws/v1alpha1": ["targetgroups", "listeners", "loadbalancers"]}
    assert core.missing_crds(only_ack) == ["targetgroupbindings.elbv2.k8s.aws"]
    message = core.missing_message(["targetgroupbindings.elbv2.k8s.aws"])
    assert message.startswith("network.networkType: AmazonWebServices-NLB needs")
    assert "targetgroupbindings.elbv2.k8s.aws" in message
    assert "aws-load-balancer-controller" in message


class FakeKube(kclient.KubeClient):
    """Discovery answers from `served`; lists are empty and watches silent; writes recorded."""

    def __init__(self, served: dict[str, list[str]]) -> None:
        super().__init__(None, types.SimpleNamespace(host="https://fake"))
        self.served = served
        self.calls: list[tuple[str, str, Any]] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: object = None,
        content_type: str | None = None,
        seconds: float = 60.0,
    ) -> Obj:
        self.calls.append((method, path, body))
        if method == "GET" and path.count("/") == 3 and path.startswith("/apis/"):
            group_version = path.removeprefix("/apis/")
            if group_version not in self.served:
                raise kclient.ApiError(404, {"reason": "NotFound"})
            return {"resources": [{"name": n} for n in self.served[group_version]]}
        if method == "GET":
            return {"items": [], "metadata": {"resourceVersion": "1"}}
        return body if isinstance(body, dict) else {}

    async def watch_lines(
        self, path: str, params: Mapping[str, Any], seconds: float
    ) -> AsyncIterator[Obj]:
        await asyncio.Event().wait()
        yield {}


def _aws_set() -> Obj:
    return {
        "apiVersion": "game.kruise.io/v1alpha1",
        "kind": "GameServerSet",
        "metadata": {"name": "gs", "namespace": "ns", "uid": "set-uid", "generation": 2},
        "spec": {
            "network": {
                "networkType": AWS,
                "networkConf": [{"name": n, "value": v} for n, v in CONF],
            }
        },
    }


async def test_a_set_without_the_crds_is_invalid_naming_them_and_checked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube = FakeKube({"elbv2.k8s.aws/v1beta1": ["targetgroupbindings"]})
    requeued: list[tuple[kcache.Key, float]] = []
    network = hooks.Network(
        kube,
        kcache.WatchCache(kube, resources.POD),
        EventRecorder(kube),
        namespace="ns",
        requeue=lambda key, delay: requeued.append((key, delay)),
    )
    assert not await network.check(_aws_set())
    missing = "targetgroups.elbv2.services.k8s.aws, listeners.elbv2.services.k8s.aws"
    (event,) = [b for m, p, b in kube.calls if m == "POST" and p.endswith("/events")]
    assert (event["type"], event["reason"]) == ("Warning", "NetworkConfigInvalid")
    assert missing in event["message"] and "targetgroupbindings" not in event["message"]
    (patch,) = [b for m, p, b in kube.calls if m == "PATCH" and p.endswith("/status")]
    (condition,) = patch["status"]["conditions"]
    assert (condition["type"], condition["status"]) == ("NetworkConfigInvalid", "True")
    assert condition["message"] == event["message"]
    assert requeued == [(("ns", "gs"), aws_nlb.RECHECK_SECONDS)]
    # Nothing watched, nothing created.
    assert not any("/targetgroups" in p or "/listeners" in p for _, p, _ in kube.calls[2:])

    # Within the rediscovery interval the answer is remembered; after it, asked again.
    asked = len(kube.calls)
    assert not await network.check(_aws_set())
    assert not any(p.startswith("/apis/elbv2") for _, p, _ in kube.calls[asked:])
    kube.served["elbv2.services.k8s.aws/v1alpha1"] = ["targetgroups", "listeners"]
    monkeypatch.setattr(aws_nlb, "REDISCOVER_SECONDS", 0.0)
    assert await network.check(_aws_set())
    # The three caches listed their kind (in the set's namespace) once the CRDs were served.
    listed = {p for m, p, _ in kube.calls if m == "GET" and "/namespaces/ns/" in p}
    assert listed == {
        "/apis/elbv2.services.k8s.aws/v1alpha1/namespaces/ns/targetgroups",
        "/apis/elbv2.services.k8s.aws/v1alpha1/namespaces/ns/listeners",
        "/apis/elbv2.k8s.aws/v1beta1/namespaces/ns/targetgroupbindings",
    }
    await network.stop()
