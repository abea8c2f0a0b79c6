"""Cloud load-balancer plugins, the agent's part: each game server gets its own ports on an
existing load balancer (one of the ids the set lists), allocated from the cloud's port range,
and a Service whose annotations name the load balancer; the cloud's controller turns it into
listeners. The parameters and the profiles are OKG's model (`okg.network.loadbalancer`). Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from okg.network import jdcloud as jdcloud_conf
from okg.network import loadbalancer as lbconf

from . import jdcloud, lbports, status

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from okg.network import params
    from okg.network.loadbalancer import LoadBalancerConf


def _jdcloud_spec(conf: LoadBalancerConf, allocation: lbports.Allocation) -> dict[str, str]:
    protocols = [str(p["protocol"]) for p in service_ports(conf, allocation)]
    return {
        jdcloud_conf.SPEC: jdcloud.spec_annotation(allocation.lb_id, protocols, dict(conf.settings))
    }


_FROM_ALLOCATION: dict[str, Callable[[LoadBalancerConf, lbports.Allocation], dict[str, str]]] = {
    lbconf.JDCLOUD_NLB.network_type: _jdcloud_spec,
}
"""Per cloud, annotations that depend on the server's load balancer and ports."""


def service_annotations(conf: LoadBalancerConf, lb_id: str) -> dict[str, str]:
    """The annotations of a server's Service bound to load balancer `lb_id`."""
    profile = conf.profile
    notes = dict(profile.annotations)
    notes.update(conf.annotations)
    if not conf.auto:
        notes[profile.id_annotation] = lb_id
    return notes


def allocation_annotations(
    conf: LoadBalancerConf, allocation: lbports.Allocation
) -> dict[str, str]:
    """Annotations that depend on the server's load balancer and ports (JD Cloud's spec)."""
    make = _FROM_ALLOCATION.get(conf.network_type)
    return make(conf, allocation) if make is not None else {}


def allocate(
    table: lbports.LbPortTable, service: lbports.ServiceKey, conf: LoadBalancerConf
) -> lbports.Allocation:
    """The server's ports on one of the set's load balancers: one per `PortProtocols` entry.
    When the cloud makes a load balancer per server (`auto`), the server's own one."""
    return table.allocate(
        service,
        (f"auto/{service[0]}/{service[1]}",) if conf.auto else conf.lb_ids,
        len(conf.ports),
        conf.port_range,
        conf.blocked_ports,
        balanced=conf.balanced,
    )


def service_ports(
    conf: LoadBalancerConf, allocation: lbports.Allocation
) -> list[dict[str, object]]:
    """The Service's ports: the load balancer's port, forwarded to the container's (a `TCPUDP`
    entry is two ports, `<port>-tcp` and `<port>-udp`, on the same number)."""
    return ports_of(conf.ports, allocation.ports)


def ports_of(
    entries: Sequence[params.PortProtocol], lb_ports: Sequence[int]
) -> list[dict[str, object]]:
    """Service ports: each entry's load-balancer port forwarded to its container port."""
    ports: list[dict[str, object]] = []
    for entry, lb_port in zip(entries, lb_ports, strict=True):
        protos = entry.protocol.kube()
        for proto in protos:
            ports.append(
                {
                    "name": status.port_name(entry.port, proto, len(protos) > 1),
                    "port": lb_port,
                    "protocol": proto,
                    "targetPort": entry.port,
                }
            )
    return ports
