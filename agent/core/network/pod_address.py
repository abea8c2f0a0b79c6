"""Plugins that give the pod itself a public address (an EIP, or DNAT entries on a NAT
gateway): the pod is annotated at creation for the cloud's network controller, which binds the
address and reports it on the pod (an annotation) or in a custom resource named like the pod.
Pure: the pod's annotations, and reading the address back.

| plugin | reported in |
|---|---|
| `AlibabaCloud-EIP` | `PodEIP` (`alibabacloud.com/v1beta1`) `status.eipAddress` |
| `AlibabaCloud-NATGW` | `PodDNAT` (`alibabacloud.com/v1beta1`) `status.entries` |
| `HwCloud-CCE-EIP` | pod annotation `yangtse.io/allocated-ipv4-eip` |
| `JdCloud-EIP` | pod annotations `jdos.jd.com/eip.id`, `jdos.jd.com/eip.ip` |
| `Volcengine-EIP` | pod annotation `vke.volcengine.com/allocated-eips` (JSON) |

The address belongs to the pod: `networkDisabled` makes the desired state NotReady but cannot
take it away (OKG: these plugins do not isolate), so the current state stays what it is.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

from agent.core import bodies
from okg import vocabulary
from okg.network.pod_address import ALIBABA_EIP, ALIBABA_NATGW, HW_CCE_EIP, JD_EIP

from . import status

if TYPE_CHECKING:
    from okg.network.pod_address import PodAddressConf


HW_ALLOCATED_EIP = "yangtse.io/allocated-ipv4-eip"
JD_EIP_ID = "jdos.jd.com/eip.id"
JD_EIP_IP = "jdos.jd.com/eip.ip"
VOLC_ALLOCATED = "vke.volcengine.com/allocated-eips"


def pod_annotations(conf: PodAddressConf, namespace: str, name: str) -> dict[str, str]:
    return {**dict(conf.annotations), **conf.profile.per_pod(namespace, name)}


@dataclasses.dataclass(frozen=True)
class Seen:
    internal: list[status.Address]
    external: list[status.Address]
    current: vocabulary.NetworkState


def _state(ready: bool) -> vocabulary.NetworkState:
    return vocabulary.NetworkState.READY if ready else vocabulary.NetworkState.NOT_READY


def observed(
    conf: PodAddressConf, pod: bodies.Json, resource: bodies.Json | None, running: bool
) -> Seen:
    """The address the cloud reported; Ready once it has and the pod runs."""
    notes = bodies.annotations_of(pod)
    pod_ip = str((pod.get("status") or {}).get("podIP") or "")
    inner = [status.Address(pod_ip, ())] if pod_ip else []
    if conf.network_type == ALIBABA_NATGW:
        return _dnat(conf, resource, running)
    if conf.network_type == ALIBABA_EIP:
        found = (resource or {}).get("status") or {}
        eip, private = str(found.get("eipAddress") or ""), str(found.get("privateIPAddress") or "")
        if private:
            inner = [status.Address(private, ())]
    elif conf.network_type == HW_CCE_EIP:
        eip = notes.get(HW_ALLOCATED_EIP, "")
    elif conf.network_type == JD_EIP:
        eip = notes.get(JD_EIP_IP, "") if notes.get(JD_EIP_ID) else ""
    else:
        eip = _volcengine_eip(notes.get(VOLC_ALLOCATED, ""))
    outer = [status.Address(eip, ())] if eip else []
    return Seen(inner, outer, _state(bool(eip) and running))


def _volcengine_eip(text: str) -> str:
    try:
        loaded = json.loads(text) if text else []
        return str(loaded[0].get("EipAddress") or "") if loaded else ""
    except (ValueError, TypeError, AttributeError, IndexError):
        return ""


def _dnat(conf: PodAddressConf, resource: bodies.Json | None, running: bool) -> Seen:
    """One internal and one external address per DNAT entry (as OKG reports them); Ready once
    every exposed port has its entry."""
    entries = ((resource or {}).get("status") or {}).get("entries") or []
    internal: list[status.Address] = []
    external: list[status.Address] = []
    covered: set[int] = set()
    for entry in entries:
        proto = str(entry.get("ipProtocol") or "tcp").upper()
        name = str(entry.get("internalPort") or "")
        inner, outer = entry.get("internalPort"), entry.get("externalPort")
        if not str(inner or "").isdigit() or not str(outer or "").isdigit():
            continue
        covered.add(int(str(inner)))
        internal.append(
            status.Address(str(entry.get("internalIP") or ""),
                           (status.Port(name, proto, int(str(inner))),))
        )  # fmt: skip
        external.append(
            status.Address(str(entry.get("externalIP") or ""),
                           (status.Port(name, proto, int(str(outer))),))
        )  # fmt: skip
    ready = running and bool(conf.ports) and set(conf.ports) <= covered
    return Seen(internal, external, _state(ready))
