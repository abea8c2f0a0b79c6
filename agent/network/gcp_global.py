"""Global addresses on Google Cloud (`GlobalAddress=true` on a `GoogleCloud-NLB` set): Config
Connector's global proxy load balancer objects, kept to the set and its servers (rules and
bodies in `agent.core.network.gcp_global`), and each server's global address read from them.
The kinds are watched once the cluster serves them.

Not a plugin of its own: it adds to the regional plugin's result, and its readiness does not
hold up the server's (the regional address works for every player; the global one is reported
once Config Connector has made it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.core import bodies, wire
from agent.core.network import gcp_global as core
from agent.core.network import lbports
from agent.kube import cache as kcache
from agent.kube import client as kclient
from agent.kube import resources

from . import crd_gate, services

if TYPE_CHECKING:
    from collections.abc import Callable

    from agent.core.network import status as nstatus
    from agent.kube.cache import Key, WatchCache
    from okg.network.loadbalancer import LoadBalancerConf

    from . import plugin

SET_KINDS = (resources.COMPUTE_ADDRESS, resources.COMPUTE_HEALTH_CHECK)
SERVER_KINDS = (
    resources.COMPUTE_BACKEND_SERVICE,
    resources.COMPUTE_TCP_PROXY,
    resources.COMPUTE_FORWARDING_RULE,
)
KINDS = (*SET_KINDS, *SERVER_KINDS)


class GlobalAddresses:
    def __init__(
        self,
        kube: kclient.KubeClient,
        namespace: str | None,
        services_cache: WatchCache,
        requeue: Callable[[Key, float], None] | None = None,
    ) -> None:
        self._kube = kube
        self.caches = {
            r.kind: kcache.WatchCache(
                kube,
                r,
                namespace=namespace,
                label_selector=wire.OWNER_GSS,
                index=core.server_index,
            )
            for r in KINDS
        }
        # Created in the background, a few at a time, as the servers' Services are: a set's
        # thousand servers must not wait on three creations each to report their network.
        self._creators = {
            kind: services.ServiceKeeper(kube, cache, requeue)
            for kind, cache in self.caches.items()
        }
        self._services = services_cache
        self._gate = crd_gate.CrdGate(kube, list(self.caches.values()))

    async def missing(self) -> str | None:
        absent = await self._gate.missing(list(self.caches.values()))
        if not absent:
            return None
        return (
            f"network.networkConf: GlobalAddress=true needs the custom resources"
            f" {', '.join(absent)}, which this cluster does not serve (install Config Connector"
            " with its compute resources)"
        )

    @property
    def watching(self) -> bool:
        return all(c.synced.is_set() for c in self.caches.values())

    async def stop(self) -> None:
        await self._gate.stop()

    async def _keep(self, wanted: bodies.Json, expect: plugin.Expect) -> None:
        cache = self.caches[str(wanted["kind"])]
        meta = wanted["metadata"]
        namespace, name = str(meta["namespace"]), str(meta["name"])
        current = cache.get((namespace, name))
        if current is None:
            set_key = (namespace, str(meta["labels"][wire.OWNER_GSS]))
            self._creators[str(wanted["kind"])].create_soon((namespace, name), set_key, wanted)
            return
        change = core.spec_patch(current, wanted)
        if not change:
            return
        made = await kclient.unless_gone(
            self._kube.patch(cache.resource, namespace, name, {"spec": change})
        )
        if made is not None:
            expect.wrote(cache, made)

    async def _delete(self, kind: str, obj: bodies.Json, expect: plugin.Expect) -> None:
        cache = self.caches[kind]
        meta = bodies.meta(obj)
        if meta.get("deletionTimestamp"):
            return
        namespace, name, uid = bodies.namespace(obj), bodies.name(obj), bodies.uid(obj)
        await kclient.unless_gone(self._kube.delete(cache.resource, namespace, name, uid=uid))
        expect.deleted(cache, (namespace, name), uid)

    def _of_server(self, server: plugin.Server) -> list[tuple[str, bodies.Json]]:
        key = f"{server.namespace}/{server.set_name}/{server.name}"
        return [(r.kind, o) for r in SERVER_KINDS for o in self.caches[r.kind].by_index(key)]

    def _of_set(self, namespace: str, set_name: str) -> list[tuple[str, bodies.Json]]:
        """(kind, object) of every kind, the forwarding rules first (they hold the rest in
        Google Cloud, so deleting in this order lets each go at once)."""
        found = [
            (r.kind, obj)
            for r in reversed(SERVER_KINDS)
            for obj in self.caches[r.kind].all()
            if bodies.namespace(obj) == namespace
            and bodies.labels_of(obj).get(wire.OWNER_GSS) == set_name
        ]
        return found + [
            (r.kind, obj)
            for r in SET_KINDS
            for obj in self.caches[r.kind].by_index(f"{namespace}/{set_name}")
        ]

    async def sync_set(
        self, conf: LoadBalancerConf, gss: bodies.Json, expect: plugin.Expect
    ) -> None:
        """The set's health check and global addresses; those of regional addresses the set no
        longer lists go."""
        namespace = bodies.namespace(gss)
        owner = services.owner(gss, "GameServerSet")
        wanted = core.set_bodies(conf, namespace, gss, owner)
        for body in wanted:
            await self._keep(body, expect)
        names = {str(b["metadata"]["name"]) for b in wanted}
        for obj in self.caches[core.ADDRESS].by_index(f"{namespace}/{bodies.name(gss)}"):
            if bodies.name(obj) not in names:
                await self._delete(core.ADDRESS, obj, expect)

    def _service(
        self, server: plugin.Server
    ) -> tuple[bodies.Json, lbports.Allocation] | tuple[None, None]:
        """The server's Service and the regional address and ports it holds."""
        svc = self._services.get((server.namespace, server.name))
        notes = bodies.meta(svc or {}).get("annotations") or {}
        allocation = lbports.read_record(notes, bodies.uid(svc) or None)
        return (svc, allocation) if svc is not None and allocation is not None else (None, None)

    async def sync_server(
        self, conf: LoadBalancerConf, server: plugin.Server, expect: plugin.Expect
    ) -> None:
        """The server's objects per TCP port, once its Service exists; others of it go."""
        svc, allocation = self._service(server)
        if svc is None or allocation is None:
            return
        wanted = core.server_bodies(
            conf, server.namespace, server.gss, svc, allocation.lb_id, allocation.ports
        )
        for body in wanted:
            await self._keep(body, expect)
        names = {(str(b["kind"]), str(b["metadata"]["name"])) for b in wanted}
        for kind, obj in self._of_server(server):
            if (kind, bodies.name(obj)) not in names:
                await self._delete(kind, obj, expect)

    def addresses(
        self, conf: LoadBalancerConf, server: plugin.Server, observed: plugin.Observed
    ) -> list[nstatus.Address]:
        _, allocation = self._service(server)
        if allocation is None:
            return []
        address = self.caches[core.ADDRESS].get(
            (server.namespace, core.address_object(server.set_name, allocation.lb_id))
        )
        rules = [
            self.caches[core.FORWARDING_RULE].get(
                (server.namespace, core.server_object(server.name, port))
            )
            for port in core.tcp_ports(conf, allocation.ports)
        ]
        return core.global_addresses(address, rules, observed.external)

    async def remove(self, gss: bodies.Json, expect: plugin.Expect) -> None:
        """The set no longer asks for global addresses: its objects go."""
        for kind, obj in self._of_set(bodies.namespace(gss), bodies.name(gss)):
            await self._delete(kind, obj, expect)
