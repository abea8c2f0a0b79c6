"""Global addresses end to end: an AmazonWebServices-NLB set with GlobalAccelerator=true gets,
per NLB, an aws-load-balancer-controller GlobalAccelerator (a minimal CRD of the kind is
installed once per session), and each server a global address once the controller reports the
accelerator deployed (the test writes its status as the controller does); turning it off
removes the accelerators and empties the global addresses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from agent.kube import client as kclient
from agent.kube import ready, resources
from tests.e2e.agent.harness import eventually
from tests.e2e.network.helpers import (
    crd,
    lb_record,
    wait_global_address,
    wait_global_emptied,
    wait_network,
)
from tests.e2e.network.test_aws_nlb import NLB_A, NLB_B, VPC, _answer, aws_crds

if TYPE_CHECKING:
    from tests.e2e.agent.harness import Namespace

__all__ = ["aws_crds"]
Obj = dict[str, Any]
DNS = "a1234567890abcdef.awsglobalaccelerator.com"


@pytest.fixture(scope="session")
async def ga_crd(kube: kclient.KubeClient) -> None:
    await kube.apply(resources.CRD, None, crd(resources.GLOBAL_ACCELERATOR))
    await ready.wait_serving(kube, (resources.GLOBAL_ACCELERATOR,), 60.0)


def _network(accelerate: str) -> Obj:
    conf = [
        ("NlbARNs", f"{NLB_A},{NLB_B}"),
        ("NlbVPCId", VPC),
        ("PortProtocols", "7777/UDP,8080/TCP"),
        ("GlobalAccelerator", accelerate),
    ]
    return {
        "networkType": "AmazonWebServices-NLB",
        "networkConf": [{"name": n, "value": v} for n, v in conf],
    }


async def _accelerators(namespace: Namespace, count: int) -> dict[str, Obj]:
    found: dict[str, Obj] = {}

    async def made() -> bool:
        listed = await namespace.kube.request(
            "GET", resources.GLOBAL_ACCELERATOR.collection(namespace.name)
        )
        found.clear()
        found.update({i["metadata"]["name"]: i for i in listed.get("items") or []})
        return len(found) == count

    await eventually(made, 30.0, f"{count} GlobalAccelerators")
    return found


@pytest.mark.usefixtures("aws_crds", "ga_crd", "agent")
async def test_global_address_through_the_nlbs_accelerator(namespace: Namespace) -> None:
    gss = await namespace.create_set("gs", 1, network=_network("true"))
    await namespace.wait_servers("gs", {0})
    found = await _accelerators(namespace, 2)
    fronted = {}
    for obj in found.values():
        assert obj["metadata"]["ownerReferences"][0]["uid"] == gss["metadata"]["uid"]
        spec = obj["spec"]
        assert len(spec["name"]) <= 64
        ((lb,),) = {
            tuple(e["endpointID"] for g in li["endpointGroups"] for e in g["endpoints"])
            for li in spec["listeners"]
        }
        fronted[lb] = obj
        assert [(li["protocol"], li["portRanges"]) for li in spec["listeners"]] == [
            ("TCP", [{"fromPort": 30001, "toPort": 30050}]),
            ("UDP", [{"fromPort": 30001, "toPort": 30050}]),
        ]
    assert set(fronted) == {NLB_A, NLB_B}

    # Regional first: the server is Ready without a global address until the accelerator is up.
    await _answer(namespace, "gs-0", 2)
    status = await wait_network(namespace, "gs-0", "Ready", "Ready")
    assert "globalAddresses" not in status
    svc = await namespace.find(resources.SERVICE, "gs-0")
    assert svc is not None
    lb, ports = lb_record(svc)
    accelerator = fronted[lb]
    await namespace.kube.patch(
        resources.GLOBAL_ACCELERATOR,
        namespace.name,
        accelerator["metadata"]["name"],
        {"status": {
            "observedGeneration": accelerator["metadata"]["generation"],
            "acceleratorARN": "arn:aws:globalaccelerator::123456789012:accelerator/abcd",
            "dnsName": DNS,
            "ipSets": [{"ipAddresses": ["75.2.0.1", "99.83.0.1"], "ipAddressFamily": "IPv4"}],
            "status": "DEPLOYED",
        }},
        subresource="status",
    )  # fmt: skip
    found_status = await wait_global_address(namespace, "gs-0")
    assert found_status["globalAddresses"] == [
        {"ip": "75.2.0.1", "endPoint": DNS,
         "ports": [{"name": "7777", "protocol": "UDP", "port": ports[0]},
                   {"name": "8080", "protocol": "TCP", "port": ports[1]}]}
    ]  # fmt: skip

    # Turned off: the accelerators go, and the global addresses are emptied.
    await namespace.patch_set("gs", {"network": _network("false")})
    await _accelerators(namespace, 0)

    await wait_global_emptied(namespace, "gs-0")
    await wait_network(namespace, "gs-0", "Ready", "Ready")
