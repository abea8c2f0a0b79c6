"""Global addresses (`GlobalAccelerator=true` on an `AmazonWebServices-NLB` set): one
aws-load-balancer-controller `GlobalAccelerator` per NLB of the set, owned by the set, and each
server's global address read from its NLB's accelerator (rules in
`agent.core.network.global_accel`). The kind is watched once the cluster serves it.

Not a plugin of its own: it adds to the regional plugin's result, and its readiness does not
hold up the server's (the regional address is the one every player can use; the global one is
reported once the accelerator is deployed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.core import bodies
from agent.core.network import global_accel as core
from agent.kube import client as kclient

from . import crd_gate, services

if TYPE_CHECKING:
    from agent.core.network import status as nstatus
    from agent.kube.cache import WatchCache
    from okg.network.loadbalancer import LoadBalancerConf

    from . import plugin


class GlobalAccelerators:
    def __init__(self, kube: kclient.KubeClient, cache: WatchCache) -> None:
        self._kube = kube
        self.cache = cache
        self._gate = crd_gate.CrdGate(kube, [cache])

    async def missing(self) -> str | None:
        if not await self._gate.missing([self.cache]):
            return None
        return (
            f"network.networkConf: {core.PARAM}=true needs the custom resources {core.CRD_NAME},"
            " which this cluster does not serve (install the aws-load-balancer-controller with"
            " its Global Accelerator controller enabled)"
        )

    @property
    def watching(self) -> bool:
        return self.cache.synced.is_set()

    async def stop(self) -> None:
        await self._gate.stop()

    def addresses(
        self, namespace: str, set_name: str, observed: plugin.Observed
    ) -> list[nstatus.Address]:
        if not observed.load_balancer:
            return []
        found = self.cache.get((namespace, core.object_name(set_name, observed.load_balancer)))
        return core.global_addresses(found, observed.external)

    async def sync_set(
        self, conf: LoadBalancerConf, gss: bodies.Json, expect: plugin.Expect
    ) -> None:
        """An accelerator per listed NLB, kept to the set's ports and protocols."""
        meta = bodies.meta(gss)
        namespace, set_name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        owner = services.owner(gss, "GameServerSet")
        for lb_id in conf.lb_ids:
            wanted = core.body(conf, namespace, set_name, owner, lb_id)
            name = wanted["metadata"]["name"]
            current = self.cache.get((namespace, name))
            if current is None:
                made = await kclient.unless_gone(
                    self._kube.create(self.cache.resource, namespace, wanted)
                )
            else:
                change = core.spec_patch(current, wanted)
                made = (
                    await kclient.unless_gone(
                        self._kube.patch(self.cache.resource, namespace, name, {"spec": change})
                    )
                    if change
                    else None
                )
            if made is not None:
                expect.wrote(self.cache, made)

    async def remove(self, gss: bodies.Json, expect: plugin.Expect) -> None:
        """The set no longer asks for global addresses: its accelerators go."""
        meta = bodies.meta(gss)
        namespace, set_name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        for obj in self.cache.by_index(f"{namespace}/{set_name}"):
            ometa = bodies.meta(obj)
            if ometa.get("deletionTimestamp"):
                continue
            name, uid = str(ometa.get("name", "")), str(ometa.get("uid", ""))
            await kclient.unless_gone(
                self._kube.delete(self.cache.resource, namespace, name, uid=uid)
            )
            expect.deleted(self.cache, (namespace, name), uid)
