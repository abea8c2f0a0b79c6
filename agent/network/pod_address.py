"""Pod addresses (`AlibabaCloud-EIP`, `-NATGW`, `HwCloud-CCE-EIP`, `JdCloud-EIP`,
`Volcengine-EIP`): the pod is annotated at creation for the cloud's network controller, which
binds an EIP (or DNAT entries) to it and reports the address on the pod or, for Alibaba Cloud,
in a `PodEIP` / `PodDNAT` named like the pod (rules in `agent.core.network.pod_address`).
Those two kinds are watched once the cluster serves them (`crd_gate`); their events queue the
pod's set. Nothing is written per server after the pod's creation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.core import bodies
from agent.core.network import pod_address as core
from agent.kube import cache as kcache
from agent.kube import client as kclient
from agent.kube import resources
from okg.network import conf as nconf
from okg.network import pod_address as pod_address_conf

from . import crd_gate, plugin

if TYPE_CHECKING:
    from collections.abc import Callable


class PodAddressPlugin:
    def __init__(
        self,
        kube: kclient.KubeClient,
        namespace: str | None,
        requeue: Callable[[kcache.Key, float], None] | None = None,
    ) -> None:
        self._requeue = requeue
        self._by_resource = {
            pod_address_conf.POD_EIP: kcache.WatchCache(
                kube, resources.POD_EIP, namespace=namespace
            ),
            pod_address_conf.POD_DNAT: kcache.WatchCache(
                kube, resources.POD_DNAT, namespace=namespace
            ),
        }
        for cache in self._by_resource.values():
            cache.add_handler(self._on_resource)
        self._gate = crd_gate.CrdGate(kube, tuple(self._by_resource.values()))

    def _on_resource(self, _: kcache.EventType, obj: bodies.Json) -> None:
        """A PodEIP or PodDNAT is named like its pod: queue the pod's set."""
        meta = bodies.meta(obj)
        name = str(meta.get("name", ""))
        if self._requeue is not None and "-" in name:
            self._requeue((str(meta.get("namespace", "")), name.rsplit("-", 1)[0]), 0.0)

    async def missing_resources(self, conf: nconf.NetworkConf) -> str | None:
        assert isinstance(conf, pod_address_conf.PodAddressConf)
        cache = self._by_resource.get(conf.profile.resource)
        if cache is None:
            return None
        missing = await self._gate.missing([cache])
        if not missing:
            return None
        return (
            f"network.networkType: {conf.network_type} needs the custom resources"
            f" {', '.join(missing)}, which this cluster does not serve (install Alibaba Cloud's"
            " network controller, ack-extend-network-controller)"
        )

    async def stop(self) -> None:
        await self._gate.stop()

    def prepare_pod(self, conf: nconf.NetworkConf, pod: bodies.Json) -> None:
        assert isinstance(conf, pod_address_conf.PodAddressConf)
        meta = pod.setdefault("metadata", {})
        notes = core.pod_annotations(conf, str(meta.get("namespace", "")), str(meta["name"]))
        meta.setdefault("annotations", {}).update(notes)

    def forget_pod(self, pod: bodies.Json) -> None:
        return None

    async def sync_server(
        self, conf: nconf.NetworkConf, server: plugin.Server, expect: plugin.Expect
    ) -> plugin.Observed:
        assert isinstance(conf, pod_address_conf.PodAddressConf)
        cache = self._by_resource.get(conf.profile.resource)
        found = cache.get((server.namespace, server.name)) if cache is not None else None
        seen = core.observed(conf, server.pod, found, server.running)
        return plugin.Observed(seen.internal, seen.external, seen.current)

    async def sync_set(
        self, conf: nconf.NetworkConf, gss: bodies.Json, target: set[int], expect: plugin.Expect
    ) -> None:
        """Nothing of the set's: each address follows its pod (or the cloud's release rule)."""
        return
