"""AlibabaCloud-Multi-NLBs end to end: per server one LoadBalancer Service per line, bound to
that line's NLB of the server's group, all on the same ports; the test writes each Service's
NLB address as Alibaba Cloud's controller does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from agent.kube import resources
from tests.e2e.agent.harness import eventually
from tests.e2e.network.helpers import lb_record, wait_network

if TYPE_CHECKING:
    from tests.e2e.agent.harness import Namespace

Obj = dict[str, Any]
NLB_ID = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id"
NETWORK = {
    "networkType": "AlibabaCloud-Multi-NLBs",
    "networkConf": [
        {
            "name": "NlbIdNames",
            "value": "nlb-t0/telecom,nlb-u0/unicom,nlb-t1/telecom,nlb-u1/unicom",
        },
        {"name": "PortProtocols", "value": "7777/UDP"},
        {"name": "MinPort", "value": "1000"},
        {"name": "MaxPort", "value": "1001"},
        {"name": "Fixed", "value": "true"},
    ],
}


async def _line_services(namespace: Namespace, server: str) -> dict[str, Obj]:
    found: dict[str, Obj] = {}

    async def made() -> bool:
        for line in ("telecom", "unicom"):
            svc = await namespace.find(resources.SERVICE, f"{server}-{line}")
            if svc is None or svc["spec"]["type"] != "LoadBalancer":
                return False
            found[line] = svc
        return True

    await eventually(made, 30.0, f"{server}'s line Services")
    return found


async def _answer_as_cloud(namespace: Namespace, svc: Obj) -> None:
    lb = svc["metadata"]["annotations"][NLB_ID]
    await namespace.kube.patch(
        resources.SERVICE,
        namespace.name,
        svc["metadata"]["name"],
        {"status": {"loadBalancer": {"ingress": [{"hostname": f"{lb}.nlb.aliyuncs.com"}]}}},
        subresource="status",
    )


@pytest.mark.usefixtures("agent")
async def test_one_service_per_line_same_ports_on_the_group(namespace: Namespace) -> None:
    await namespace.create_set("gs", 3, network=NETWORK)
    await namespace.wait_servers("gs", {0, 1, 2})
    placed = {}
    for server in ("gs-0", "gs-1", "gs-2"):
        lines = await _line_services(namespace, server)
        telecom, unicom = lb_record(lines["telecom"]), lb_record(lines["unicom"])
        assert telecom[1] == unicom[1], "the same port on both lines"
        assert (telecom[0][-1], unicom[0][-1]) in (("0", "0"), ("1", "1")), "one group"
        placed[server] = (telecom[0], unicom[0], telecom[1][0])
        for svc in lines.values():
            assert svc["spec"]["loadBalancerClass"] == "alibabacloud.com/nlb"
            assert svc["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": server}
        await wait_network(namespace, server, "Ready", "NotReady")
        await _answer_as_cloud(namespace, lines["telecom"])
        await wait_network(namespace, server, "Ready", "NotReady")
        await _answer_as_cloud(namespace, lines["unicom"])
    # Two ports per group, first fit: group 0 holds two servers, group 1 the third.
    assert sorted(placed.values()) == [
        ("nlb-t0", "nlb-u0", 1000), ("nlb-t0", "nlb-u0", 1001), ("nlb-t1", "nlb-u1", 1000),
    ]  # fmt: skip
    status = await wait_network(namespace, "gs-2", "Ready", "Ready")
    t, u, port = placed["gs-2"]
    assert status["externalAddresses"] == [
        {"ip": "", "endPoint": f"{t}.nlb.aliyuncs.com/telecom",
         "ports": [{"name": "7777", "protocol": "UDP", "port": port}]},
        {"ip": "", "endPoint": f"{u}.nlb.aliyuncs.com/unicom",
         "ports": [{"name": "7777", "protocol": "UDP", "port": port}]},
    ]  # fmt: skip

    # Isolation: every line's Service becomes ClusterIP; back on the same ports.
    await namespace.patch_gs("gs-1", {"networkDisabled": True})
    await wait_network(namespace, "gs-1", "NotReady", "NotReady")
    for line in ("telecom", "unicom"):
        isolated = await namespace.find(resources.SERVICE, f"gs-1-{line}")
        assert isolated is not None and isolated["spec"]["type"] == "ClusterIP"
    await namespace.patch_gs("gs-1", {"networkDisabled": False})
    for svc in (await _line_services(namespace, "gs-1")).values():
        assert lb_record(svc)[1] == [placed["gs-1"][2]]
        await _answer_as_cloud(namespace, svc)
    await wait_network(namespace, "gs-1", "Ready", "Ready")

    # Fixed: the line Services (owned by the set) outlive a recreated pod, same ports.
    before = {k: v["metadata"]["uid"] for k, v in (await _line_services(namespace, "gs-0")).items()}
    old_pod = (await namespace.pods("gs"))["gs-0"]["metadata"]["uid"]
    await namespace.delete_pod("gs-0")

    async def recreated() -> bool:
        pod = (await namespace.pods("gs")).get("gs-0")
        return pod is not None and pod["metadata"]["uid"] != old_pod

    await eventually(recreated, 30.0, "gs-0 recreated")
    await wait_network(namespace, "gs-0", "Ready", "Ready")
    after = await _line_services(namespace, "gs-0")
    assert {k: v["metadata"]["uid"] for k, v in after.items()} == before

    # Scale-down: the removed server's line Services go (the set owns them: the agent deletes).
    await namespace.scale("gs", 2)
    await namespace.wait_servers("gs", {0, 1})

    async def gone() -> bool:
        found = [
            await namespace.find(resources.SERVICE, f"gs-2-{x}") for x in ("telecom", "unicom")
        ]
        return found == [None, None]

    await eventually(gone, 30.0, "gs-2's line Services deleted")
