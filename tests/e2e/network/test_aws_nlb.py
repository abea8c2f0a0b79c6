"""AmazonWebServices-NLB end to end: per server a ClusterIP Service carrying the allocation, and
per port an ACK TargetGroup and Listener and a TargetGroupBinding. The local clusters run no AWS
controllers: a session fixture installs minimal CRDs of the three kinds (never removed: other
tests share the cluster), and the test writes their status the way ACK (ARNs, conditions) and
the aws-load-balancer-controller (observedGeneration) would."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest

from agent.kube import client as kclient
from agent.kube import ready, resources
from tests.e2e.agent.harness import eventually
from tests.e2e.network.helpers import lb_record, wait_network

if TYPE_CHECKING:
    from tests.e2e.agent.harness import Namespace

Obj = dict[str, Any]
ACCOUNT = "123456789012"
REGION = "eu-west-1"
ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}"
NLB_A = f"{ARN}:loadbalancer/net/game-a/0123456789abcdef"
NLB_B = f"{ARN}:loadbalancer/net/game-b/fedcba9876543210"
DNS = {
    NLB_A: f"game-a-0123456789abcdef.elb.{REGION}.amazonaws.com",
    NLB_B: f"game-b-fedcba9876543210.elb.{REGION}.amazonaws.com",
}
VPC = "vpc-0a1b2c3d4e5f60718"
SERVER = "statefulset.kubernetes.io/pod-name"
KINDS = (resources.TARGET_GROUP, resources.LISTENER, resources.TARGET_GROUP_BINDING)


def _crd(resource: resources.Resource) -> Obj:
    group, version = resource.group_version.split("/")
    loose = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{resource.plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "plural": resource.plural,
                "singular": resource.kind.lower(),
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
            },
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": loose, "status": loose},
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture(scope="session")
async def aws_crds(kube: kclient.KubeClient) -> None:
    """The three kinds, applied idempotently and left in place."""
    for resource in KINDS:
        await kube.apply(resources.CRD, None, _crd(resource))

    await ready.wait_serving(kube, KINDS, 60.0)


def _nlb(*extra: tuple[str, str], ports: str = "7777/UDP,8080/TCPUDP") -> Obj:
    conf = [
        ("NlbARNs", f"{NLB_A},{NLB_B}"),
        ("NlbVPCId", VPC),
        ("PortProtocols", ports),
        ("NlbHealthCheck", "healthCheckIntervalSeconds:10,healthCheckProtocol:TCP"),
    ]
    return {
        "networkType": "AmazonWebServices-NLB",
        "networkConf": [{"name": n, "value": v} for n, v in (*conf, *extra)],
    }


async def _list(namespace: Namespace, resource: resources.Resource, server: str) -> dict[str, Obj]:
    listed = await namespace.kube.request(
        "GET", resource.collection(namespace.name), params={"labelSelector": f"{SERVER}={server}"}
    )
    return {i["metadata"]["name"]: i for i in listed.get("items") or []}


async def _objects(namespace: Namespace, server: str, count: int) -> dict[str, dict[str, Obj]]:
    """The server's target groups and listeners, once `count` of each exist (and its Service)."""
    found: dict[str, dict[str, Obj]] = {}

    async def made() -> bool:
        for resource in (resources.TARGET_GROUP, resources.LISTENER):
            found[resource.kind] = await _list(namespace, resource, server)
        return (
            all(len(found[k]) == count for k in ("TargetGroup", "Listener"))
            and await namespace.find(resources.SERVICE, server) is not None
        )

    await eventually(made, 30.0, f"{count} TargetGroups and Listeners of {server}")
    return found


async def _answer_as_ack(namespace: Namespace, server: str) -> dict[str, str]:
    """ACK created the target groups and listeners: their ARNs and ResourceSynced. Returns the
    target groups' ARNs by object name."""
    arns: dict[str, str] = {}
    for resource in (resources.TARGET_GROUP, resources.LISTENER):
        for name, obj in (await _list(namespace, resource, server)).items():
            spec = obj["spec"]
            if resource is resources.TARGET_GROUP:
                arn = f"{ARN}:targetgroup/{spec['name']}/73e2d6bc24d8a067"
                arns[name] = arn
            else:
                nlb = spec["loadBalancerARN"].replace(":loadbalancer/", ":listener/")
                arn = f"{nlb}/{spec['port']}"
            status = {
                "ackResourceMetadata": {"arn": arn, "ownerAccountID": ACCOUNT, "region": REGION},
                "conditions": [{"type": "ACK.ResourceSynced", "status": "True"}],
            }
            await namespace.kube.patch(
                resource, namespace.name, name, {"status": status}, subresource="status"
            )
    return arns


async def _bindings(namespace: Namespace, server: str, count: int) -> dict[str, Obj]:
    found: dict[str, Obj] = {}

    async def made() -> bool:
        found.clear()
        found.update(await _list(namespace, resources.TARGET_GROUP_BINDING, server))
        return len(found) == count

    await eventually(made, 30.0, f"{count} TargetGroupBindings of {server}")
    return found


async def _answer_as_lb_controller(namespace: Namespace, server: str) -> None:
    """The aws-load-balancer-controller registered the targets of each binding."""
    for name, obj in (await _list(namespace, resources.TARGET_GROUP_BINDING, server)).items():
        await namespace.kube.patch(
            resources.TARGET_GROUP_BINDING,
            namespace.name,
            name,
            {"status": {"observedGeneration": obj["metadata"]["generation"]}},
            subresource="status",
        )


async def _answer(namespace: Namespace, server: str, ports: int) -> None:
    await _objects(namespace, server, ports)
    await _answer_as_ack(namespace, server)
    await _bindings(namespace, server, ports)
    await _answer_as_lb_controller(namespace, server)


def _uids(objects: dict[str, Obj]) -> dict[str, str]:
    return {name: obj["metadata"]["uid"] for name, obj in objects.items()}


@pytest.mark.usefixtures("aws_crds", "agent")
async def test_aws_nlb_objects_readiness_and_isolation(namespace: Namespace) -> None:
    await namespace.create_set("gs", 2, network=_nlb())
    await namespace.wait_servers("gs", {0, 1})
    pods = await namespace.pods("gs")
    placed: dict[str, list[int]] = {}
    group_names: set[str] = set()
    for server in ("gs-0", "gs-1"):
        objects = await _objects(namespace, server, 2)
        svc = await namespace.find(resources.SERVICE, server)
        assert svc is not None
        lb, ports = lb_record(svc)
        assert lb == NLB_A, "the first NLB with room"
        placed[server] = ports
        udp, both = ports
        pod_uid = pods[server]["metadata"]["uid"]
        # The Service: ClusterIP, selects the pod, NLB ports to container ports.
        assert svc["spec"]["type"] == "ClusterIP"
        assert svc["spec"]["selector"] == {SERVER: server}
        assert svc["metadata"]["annotations"]["gamefleet.io/nlb-arn"] == NLB_A
        assert svc["metadata"]["ownerReferences"][0]["uid"] == pod_uid
        assert [
            (p["name"], p["port"], p["protocol"], p["targetPort"]) for p in svc["spec"]["ports"]
        ] == [("7777", udp, "UDP", 7777), ("8080-tcp", both, "TCP", 8080),
              ("8080-udp", both, "UDP", 8080)]  # fmt: skip
        # A target group per port: container port and protocol (TCPUDP is TCP_UDP), ip
        # targets, the VPC and the health check; an AWS name of at most 32 characters.
        groups = objects["TargetGroup"]
        assert set(groups) == {f"{server}-{udp}", f"{server}-{both}"}
        for name, port, protocol in ((f"{server}-{udp}", 7777, "UDP"),
                                     (f"{server}-{both}", 8080, "TCP_UDP")):  # fmt: skip
            spec = groups[name]["spec"]
            assert re.fullmatch(r"gf-[0-9a-f]{29}", spec["name"])
            group_names.add(spec["name"])
            assert (spec["port"], spec["protocol"], spec["targetType"], spec["vpcID"]) == (
                port, protocol, "ip", VPC,
            )  # fmt: skip
            assert spec["healthCheckIntervalSeconds"] == 10
            assert spec["healthCheckProtocol"] == "TCP"
            assert groups[name]["metadata"]["ownerReferences"][0]["uid"] == pod_uid
        # A listener per port on the NLB at the allocated port, forwarding to its group.
        listeners = objects["Listener"]
        for name, port, protocol in ((f"{server}-{udp}", udp, "UDP"),
                                     (f"{server}-{both}", both, "TCP_UDP")):  # fmt: skip
            spec = listeners[name]["spec"]
            assert (spec["loadBalancerARN"], spec["port"], spec["protocol"]) == (
                NLB_A, port, protocol,
            )  # fmt: skip
            assert spec["defaultActions"] == [
                {"type": "forward", "targetGroupRef": {"from": {"name": name}}}
            ]
        # No binding before the target group has an ARN.
        assert await _list(namespace, resources.TARGET_GROUP_BINDING, server) == {}
    assert sorted(p for ports in placed.values() for p in ports) == [30001, 30002, 30003, 30004]
    assert len(group_names) == 4

    # Not Ready until the cloud answers: ACK first, then the load-balancer controller.
    await wait_network(namespace, "gs-0", "Ready", "NotReady")
    arns = await _answer_as_ack(namespace, "gs-0")
    bindings = await _bindings(namespace, "gs-0", 2)
    udp, both = placed["gs-0"]
    for name, port in ((f"gs-0-{udp}", udp), (f"gs-0-{both}", both)):
        assert bindings[name]["spec"] == {
            "targetGroupARN": arns[name],
            "targetType": "ip",
            "serviceRef": {"name": "gs-0", "port": port},
        }
    status = await wait_network(namespace, "gs-0", "Ready", "NotReady")
    await _answer_as_lb_controller(namespace, "gs-0")
    status = await wait_network(namespace, "gs-0", "Ready", "Ready")
    assert status["networkType"] == "AmazonWebServices-NLB"
    assert status["externalAddresses"] == [
        {
            "ip": "",
            "endPoint": DNS[NLB_A],
            "ports": [
                {"name": "7777", "protocol": "UDP", "port": udp},
                {"name": "8080-tcp", "protocol": "TCP", "port": both},
                {"name": "8080-udp", "protocol": "UDP", "port": both},
            ],
        }
    ]
    assert status["internalAddresses"] == [
        {
            "ip": pods["gs-0"]["status"]["podIP"],
            "ports": [
                {"name": "7777", "protocol": "UDP", "port": 7777},
                {"name": "8080-tcp", "protocol": "TCP", "port": 8080},
                {"name": "8080-udp", "protocol": "UDP", "port": 8080},
            ],
        }
    ]
    pod = (await namespace.pods("gs"))["gs-0"]
    assert json.loads(pod["metadata"]["annotations"]["game.kruise.io/network-status"]) == status
    await wait_network(namespace, "gs-1", "Ready", "NotReady")

    # A terminal ACK condition makes the network NotReady; cleared, Ready again.
    group = f"gs-0-{udp}"
    failed = {
        "conditions": [
            {"type": "ACK.ResourceSynced", "status": "True"},
            {"type": "ACK.Terminal", "status": "True", "message": "InvalidConfigurationRequest"},
        ]
    }
    await namespace.kube.patch(
        resources.TARGET_GROUP, namespace.name, group, {"status": failed}, subresource="status"
    )
    await wait_network(namespace, "gs-0", "Ready", "NotReady")
    failed["conditions"] = failed["conditions"][:1]
    await namespace.kube.patch(
        resources.TARGET_GROUP, namespace.name, group, {"status": failed}, subresource="status"
    )
    await wait_network(namespace, "gs-0", "Ready", "Ready")

    # Isolation: the Service selects nothing (the target groups empty), the AWS objects stay.
    before = {k.kind: _uids(await _list(namespace, k, "gs-0")) for k in KINDS}
    await namespace.patch_gs("gs-0", {"networkDisabled": True})
    await wait_network(namespace, "gs-0", "NotReady", "NotReady")
    svc = await namespace.find(resources.SERVICE, "gs-0")
    assert svc is not None
    assert svc["spec"]["selector"] == {"game.kruise.io/svc-selector-disabled": "gs-0"}
    assert {k.kind: _uids(await _list(namespace, k, "gs-0")) for k in KINDS} == before
    await namespace.patch_gs("gs-0", {"networkDisabled": False})
    status = await wait_network(namespace, "gs-0", "Ready", "Ready")
    svc = await namespace.find(resources.SERVICE, "gs-0")
    assert svc is not None and svc["spec"]["selector"] == {SERVER: "gs-0"}
    assert status["externalAddresses"][0]["ports"][0]["port"] == udp

    # Not Fixed: a recreated pod gets new objects (owned by it, new AWS target-group names).
    old_groups = await _list(namespace, resources.TARGET_GROUP, "gs-1")
    old_uid = pods["gs-1"]["metadata"]["uid"]
    await namespace.delete_pod("gs-1")

    async def replaced() -> bool:
        pod = (await namespace.pods("gs")).get("gs-1")
        if pod is None or pod["metadata"]["uid"] == old_uid:
            return False
        uid = pod["metadata"]["uid"]
        svc = await namespace.find(resources.SERVICE, "gs-1")
        if svc is None or svc["metadata"]["ownerReferences"][0]["uid"] != uid:
            return False
        owned = [await _list(namespace, k, "gs-1") for k in KINDS[:2]]
        return all(
            len(objs) == 2 and all(o["metadata"]["ownerReferences"][0]["uid"] == uid
                                   for o in objs.values())
            for objs in owned
        )  # fmt: skip

    await eventually(replaced, 60.0, "gs-1's Service, TargetGroups and Listeners replaced")
    new_groups = await _list(namespace, resources.TARGET_GROUP, "gs-1")
    old_names = {o["spec"]["name"] for o in old_groups.values()}
    assert not old_names & {o["spec"]["name"] for o in new_groups.values()}


@pytest.mark.usefixtures("aws_crds", "agent")
async def test_aws_nlb_fixed_keeps_ports_and_scale_down_removes_objects(
    namespace: Namespace,
) -> None:
    network = _nlb(("Fixed", "true"), ("AllocatePolicy", "balanced"), ports="7777/TCP")
    gss = await namespace.create_set("gs", 3, network=network)
    await namespace.wait_servers("gs", {0, 1, 2})
    records = {}
    for server in ("gs-0", "gs-1", "gs-2"):
        await _answer(namespace, server, 1)
        svc = await namespace.find(resources.SERVICE, server)
        assert svc is not None
        records[server] = lb_record(svc)
        assert svc["metadata"]["ownerReferences"][0]["uid"] == gss["metadata"]["uid"]
    # Balanced: the NLB with the most free ports, 30001 up on each.
    assert sorted((lb, ports[0]) for lb, ports in records.values()) == [
        (NLB_A, 30001), (NLB_A, 30002), (NLB_B, 30001),
    ]  # fmt: skip
    for server, (lb, (port,)) in records.items():
        status = await wait_network(namespace, server, "Ready", "Ready")
        assert status["externalAddresses"][0]["endPoint"] == DNS[lb]
        assert status["externalAddresses"][0]["ports"] == [
            {"name": "7777", "protocol": "TCP", "port": port}
        ]
        (listener,) = (await _list(namespace, resources.LISTENER, server)).values()
        assert (listener["spec"]["loadBalancerARN"], listener["spec"]["port"]) == (lb, port)
        (group,) = (await _list(namespace, resources.TARGET_GROUP, server)).values()
        assert group["metadata"]["ownerReferences"][0]["uid"] == gss["metadata"]["uid"]

    # Fixed: the objects outlive the pod; the new pod has the same NLB port, Ready again with
    # nothing new from the cloud.
    before = {k.kind: _uids(await _list(namespace, k, "gs-1")) for k in KINDS}
    old_uid = (await namespace.pods("gs"))["gs-1"]["metadata"]["uid"]
    await namespace.delete_pod("gs-1")

    async def recreated() -> bool:
        pod = (await namespace.pods("gs")).get("gs-1")
        return pod is not None and pod["metadata"]["uid"] != old_uid

    await eventually(recreated, 30.0, "gs-1 recreated")
    await namespace.wait_servers("gs", {0, 1, 2})
    status = await wait_network(namespace, "gs-1", "Ready", "Ready")
    new_ip = (await namespace.pods("gs"))["gs-1"]["status"]["podIP"]
    assert status["internalAddresses"][0]["ip"] == new_ip
    svc = await namespace.find(resources.SERVICE, "gs-1")
    assert svc is not None and lb_record(svc) == records["gs-1"]
    assert {k.kind: _uids(await _list(namespace, k, "gs-1")) for k in KINDS} == before

    # Scale-down: the removed servers' Services and AWS objects go, the kept server's stay.
    kept = {k.kind: _uids(await _list(namespace, k, "gs-0")) for k in KINDS}
    await namespace.scale("gs", 1)
    await namespace.wait_servers("gs", {0})

    async def gone() -> bool:
        for server in ("gs-1", "gs-2"):
            if await namespace.find(resources.SERVICE, server) is not None:
                return False
            for kind in KINDS:
                if await _list(namespace, kind, server):
                    return False
        return True

    await eventually(gone, 30.0, "the Services and AWS objects of gs-1 and gs-2 deleted")
    assert {k.kind: _uids(await _list(namespace, k, "gs-0")) for k in KINDS} == kept
    await wait_network(namespace, "gs-0", "Ready", "Ready")
