"""The host-port table: distinct (node, port) pairs, reuse, rebuild from pods, pod fields."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agent.core.network import hostport, nodes
from agent.network import hostport as plugin_hostport
from okg.network import conf as nconf

NODES = ["n0", "n1", "n2"]


def _fill(table: hostport.PortTable, count: int, size: int = 1) -> dict[str, hostport.Allocation]:
    return {f"gs-{i}": table.allocate(("ns", f"gs-{i}"), size, NODES) for i in range(count)}


def test_allocations_are_distinct_spread_and_lowest_first() -> None:
    table = hostport.PortTable((8000, 8009))
    got = _fill(table, 30)
    pairs = [(a.node, p) for a in got.values() for p in a.ports]
    assert len(set(pairs)) == 30
    assert {p for _, p in pairs} == set(range(8000, 8010))  # ports reused across nodes
    assert [got[f"gs-{i}"] for i in range(3)] == [
        hostport.Allocation("n0", (8000,)),
        hostport.Allocation("n1", (8000,)),
        hostport.Allocation("n2", (8000,)),
    ]
    with pytest.raises(hostport.NoCapacityError):
        table.allocate(("ns", "gs-30"), 1, NODES)


def test_several_ports_per_server_and_capacity() -> None:
    table = hostport.PortTable((8000, 8005))
    got = _fill(table, 6, size=3)
    assert got["gs-0"] == hostport.Allocation("n0", (8000, 8001, 8002))
    assert got["gs-3"] == hostport.Allocation("n0", (8003, 8004, 8005))
    assert len({(a.node, p) for a in got.values() for p in a.ports}) == 18


def test_freed_port_is_reused_by_the_next_server() -> None:
    table = hostport.PortTable((8000, 8099))
    got = _fill(table, 9)
    freed = got["gs-4"]
    table.observe(("ns", "gs-4"), hostport.Allocation(freed.node, freed.ports, "uid-4"))
    table.release(("ns", "gs-4"), "uid-4")
    assert table.allocate(("ns", "gs-new"), 1, NODES) == freed


def test_a_record_on_a_node_that_is_gone_is_replaced() -> None:
    table = hostport.PortTable((8000, 8099))
    table.observe(("ns", "gs-0"), hostport.Allocation("gone", (8000,)))
    assert table.allocate(("ns", "gs-0"), 1, ["n1"]) == hostport.Allocation("n1", (8000,))
    assert table.taken("gone") == set()


@pytest.mark.parametrize(
    ("recorded_uid", "deleted_uid", "kept"),
    [
        ("a", "a", False),  # the pod went
        ("a", "b", True),  # an older pod of the same name went
        (None, "b", True),  # a reservation for a pod not seen yet is kept
    ],
)
def test_release_only_the_pod_it_belongs_to(
    recorded_uid: str | None, deleted_uid: str, kept: bool
) -> None:
    table = hostport.PortTable((8000, 8010))
    table.observe(("ns", "gs-0"), hostport.Allocation("n0", (8000,), recorded_uid))
    table.release(("ns", "gs-0"), deleted_uid)
    assert (table.get(("ns", "gs-0")) is not None) is kept


def test_forget_drops_only_unseen_reservations() -> None:
    table = hostport.PortTable((8000, 8010))
    table.allocate(("ns", "a"), 1, NODES)
    table.observe(("ns", "b"), hostport.Allocation("n1", (8000,), "uid-b"))
    table.forget(("ns", "a"))
    table.forget(("ns", "b"))
    assert table.pairs() == [("n1", 8000)]


def _pod(name: str, node: str | None, ports: list[int], *, annotated: bool) -> dict[str, Any]:
    notes = {}
    if annotated:
        notes[plugin_hostport.HOST_PORTS] = f'{{"node":"{node}","ports":{ports}}}'
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "annotations": notes},
        "spec": {
            "nodeName": None if annotated else node,
            "containers": [{"name": "game", "ports": [{"containerPort": 1, "hostPort": p}
                                                      for p in ports]}],
        },
    }  # fmt: skip


def test_rebuild_from_existing_pods() -> None:
    """A new agent's table, fed by its pods cache, continues where the last one stopped."""
    table = hostport.PortTable((8000, 8009))
    plugin = plugin_hostport.HostPortPlugin.__new__(plugin_hostport.HostPortPlugin)
    plugin.table = table
    existing = [
        _pod("gs-0", "n0", [8000], annotated=True),
        _pod("gs-1", "n1", [8000], annotated=True),
        _pod("gs-2", "n2", [8000, 8001], annotated=False),  # from the spec: nodeName + hostPort
    ]
    for pod in existing:
        plugin.on_pod("ADDED", pod)  # type: ignore[arg-type]
    assert table.pairs() == [("n0", 8000), ("n1", 8000), ("n2", 8000), ("n2", 8001)]
    assert table.allocate(("ns", "gs-3"), 1, NODES) == hostport.Allocation("n0", (8001,))
    plugin.on_pod("DELETED", existing[1])  # type: ignore[arg-type]
    assert table.allocate(("ns", "gs-4"), 1, NODES) == hostport.Allocation("n1", (8000,))


def test_parse_range() -> None:
    assert hostport.parse_range("8000-9000") == (8000, 9000)
    for bad in ("8000", "9000-8000", "0-10", "a-b", "1-70000"):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            hostport.parse_range(bad)


def _node(name: str, **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "metadata": {"name": name, "labels": {"zone": "a"}},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]},
    }  # fmt: skip
    for key, value in extra.items():
        section, _, field = key.partition("__")
        node[section][field] = value
    return node


@pytest.mark.parametrize(
    ("node", "pod_spec", "fits"),
    [
        (_node("n"), {}, True),
        (_node("n", spec__unschedulable=True), {}, False),
        (_node("n", status__conditions=[{"type": "Ready", "status": "False"}]), {}, False),
        (_node("n"), {"nodeSelector": {"zone": "b"}}, False),
        (_node("n", spec__taints=[{"key": "k", "effect": "NoSchedule"}]), {}, False),
        (
            _node("n", spec__taints=[{"key": "k", "effect": "NoSchedule"}]),
            {"tolerations": [{"key": "k", "operator": "Exists"}]},
            True,
        ),
        (_node("n", spec__taints=[{"key": "k", "effect": "PreferNoSchedule"}]), {}, True),
    ],
)
def test_candidate_nodes(node: dict[str, Any], pod_spec: dict[str, Any], fits: bool) -> None:
    assert nodes.fits(node, pod_spec) is fits


def test_node_ip_prefers_external() -> None:
    node = _node("n")
    assert nodes.node_ip(node) == "10.0.0.1"
    node["status"]["addresses"].append({"type": "ExternalIP", "address": "1.2.3.4"})
    assert nodes.node_ip(node) == "1.2.3.4"
    assert nodes.node_ip(None) == ""


def test_pin_keeps_the_template_affinity() -> None:
    spec: dict[str, Any] = {
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In",
                                                         "values": ["a"]}]}]}}}
    }  # fmt: skip
    nodes.pin_to_node(spec, "n1")
    term = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ][0]
    assert term["matchExpressions"][0]["key"] == "zone"
    assert term["matchFields"] == [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]


def test_tcpudp_uses_one_host_port_for_both_protocols() -> None:
    conf = nconf.parse_network("Kubernetes-HostPort", [{"name": "ContainerPorts",
                                                       "value": "game:7777/TCPUDP"}])  # fmt: skip
    plugin = plugin_hostport.HostPortPlugin.__new__(plugin_hostport.HostPortPlugin)
    plugin.table = hostport.PortTable((8000, 8010))

    class _Nodes:
        def all(self) -> list[dict[str, Any]]:
            return [_node("n0")]

    plugin._nodes = _Nodes()  # type: ignore[assignment]
    pod: dict[str, Any] = {
        "metadata": {"name": "gs-0", "namespace": "ns"},
        "spec": {"containers": [{"name": "game", "ports": [{"containerPort": 7777}]}]},
    }
    plugin.prepare_pod(conf, pod)
    assert pod["spec"]["containers"][0]["ports"] == [
        {"containerPort": 7777, "hostPort": 8000},
        {"containerPort": 7777, "hostPort": 8000, "protocol": "UDP"},
    ]
    assert pod["metadata"]["annotations"][plugin_hostport.HOST_PORTS] == (
        '{"node":"n0","ports":[8000]}'
    )


def test_least_used_ports_across_the_cluster_without_a_node() -> None:
    """OKG v1.1: the ports fewest pods hold, on any node; never out of ports while the range
    has as many as a server needs (the scheduler keeps pods with the same port apart)."""
    table = hostport.PortTable((8000, 8002))
    got = [table.allocate_least_used(("ns", f"gs-{i}"), 2) for i in range(4)]
    assert [a.ports for a in got] == [(8000, 8001), (8000, 8002), (8001, 8002), (8000, 8001)]
    assert all(a.node == "" for a in got)
    # Scheduled, a pod is seen on its node: the usage stays the same.
    table.observe(("ns", "gs-0"), hostport.Allocation("n1", (8000, 8001), "uid-0"))
    table.release(("ns", "gs-1"))
    assert table.allocate_least_used(("ns", "gs-5"), 1).ports == (8002,)
    with pytest.raises(hostport.NoCapacityError):
        table.allocate_least_used(("ns", "gs-6"), 4)


def test_least_used_pods_are_not_pinned_and_rebuild_from_the_record() -> None:
    table = hostport.PortTable((8000, 8009))
    plugin = plugin_hostport.HostPortPlugin.__new__(plugin_hostport.HostPortPlugin)
    plugin.table = table
    conf = nconf.parse_network(
        "Kubernetes-HostPort",
        [{"name": "ContainerPorts", "value": "main:7777/UDP"},
         {"name": "AllocatePolicy", "value": "least-used"}],
    )  # fmt: skip
    pod: dict[str, Any] = {
        "metadata": {"name": "gs-0", "namespace": "ns"},
        "spec": {"containers": [{"name": "main"}]},
    }
    plugin.prepare_pod(conf, pod)
    assert "affinity" not in pod["spec"]
    assert pod["spec"]["containers"][0]["ports"] == [
        {"containerPort": 7777, "hostPort": 8000, "protocol": "UDP"}
    ]
    assert pod["metadata"]["annotations"]["gamefleet.io/host-ports"] == (
        '{"node":"","ports":[8000]}'
    )
    fresh = hostport.PortTable((8000, 8009))
    plugin.table = fresh
    plugin.on_pod("ADDED", {**pod, "metadata": {**pod["metadata"], "uid": "u"}})  # type: ignore[arg-type]
    assert fresh.get(("ns", "gs-0")) == hostport.Allocation("", (8000,), "u")
    assert fresh.allocate_least_used(("ns", "gs-1"), 1).ports == (8001,)
