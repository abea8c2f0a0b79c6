"""`AmazonWebServices-NLB`: per game server a ClusterIP Service (the allocation record), and per
port an ACK `TargetGroup` and `Listener` and an aws-load-balancer-controller
`TargetGroupBinding` (bodies and rules in `agent.core.network.aws_nlb`).

Ports are allocated on the set's NLBs in the table every load-balancer plugin shares, when the
pod is created, and recorded on the Service, so the table is rebuilt from the Services after a
restart. The three custom resources exist only where the AWS controllers are installed: their
caches start the first time a set needs them, after the API server's discovery shows them; a
set whose cluster lacks them gets `NetworkConfigInvalid` naming the missing ones, and is checked
again every 30 s. `networkDisabled` swaps the Service's selector, which empties the target group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import TYPE_CHECKING

from agent.core import bodies
from agent.core.network import aws_nlb as core
from agent.core.network import lbports
from agent.core.network import loadbalancer as lbcore
from agent.kube import client as kclient
from okg import vocabulary
from okg.network import conf as nconf
from okg.network import loadbalancer as lbconf

from . import plugin, services

if TYPE_CHECKING:
    from collections.abc import Callable

    from agent.kube.cache import Key, WatchCache

_log = logging.getLogger(__name__)

REDISCOVER_SECONDS = 10.0
"""The API server's discovery is asked again at most this often while the CRDs are missing."""
RECHECK_SECONDS = 30.0
"""A set waiting for the CRDs is reconciled again after this long."""
SYNC_SECONDS = 30.0
"""How long a reconcile waits for the caches' first list."""


def service_body(
    conf: lbconf.LoadBalancerConf, server: plugin.Server, allocation: lbports.Allocation
) -> bodies.Json:
    """The server's ClusterIP Service: the NLB ports forwarded to the container ports, the
    record of the allocation, the NLB's ARN and the user's `Annotations`."""
    meta = services.service_meta(server, conf.fixed)
    meta["annotations"] = lbcore.service_annotations(conf, allocation.lb_id) | {
        lbports.RECORD: lbports.record_text(allocation)
    }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP",
            "selector": services.selector(server.name, server.network_disabled),
            "ports": lbcore.service_ports(conf, allocation),
        },
    }


class AwsNlbPlugin:
    """Keeps each server's Service and its per-port TargetGroups, Listeners and
    TargetGroupBindings; reports the NLB's DNS name once ACK and the load-balancer controller
    have made them."""

    def __init__(
        self,
        kube: kclient.KubeClient,
        keeper: services.ServiceKeeper,
        table: lbports.LbPortTable,
        *,
        target_groups: WatchCache,
        listeners: WatchCache,
        bindings: WatchCache,
    ) -> None:
        self._kube = kube
        self._keeper = keeper
        self.table = table
        self.target_groups = target_groups
        self.listeners = listeners
        self.bindings = bindings
        self._lock = asyncio.Lock()
        self._missing: list[str] | None = None
        self._discovered_at = -math.inf
        self._tasks: list[asyncio.Task[None]] = []
        self._failing: dict[Key, str] = {}

    @property
    def caches(self) -> tuple[WatchCache, ...]:
        """Started by `available`, not with the agent's other caches."""
        return (self.target_groups, self.listeners, self.bindings)

    # The custom resources.

    async def available(self) -> str | None:
        """None once the cluster serves the three CRDs and their caches hold the first list;
        else the message naming the missing CRDs."""
        async with self._lock:
            if not self._tasks:
                now = time.monotonic()
                if self._missing is None or now - self._discovered_at >= REDISCOVER_SECONDS:
                    self._missing = await self._discover()
                    self._discovered_at = now
                if self._missing:
                    return core.missing_message(self._missing)
                for cache in self.caches:
                    task = asyncio.create_task(cache.run(), name=f"cache-{cache.resource.plural}")
                    self._tasks.append(task)
                _log.info("AmazonWebServices-NLB: the AWS controllers' CRDs are served")
        await asyncio.wait_for(
            asyncio.gather(*(c.synced.wait() for c in self.caches)), SYNC_SECONDS
        )
        return None

    async def _discover(self) -> list[str]:
        """Ask the API server's discovery which of the three resources it serves."""
        served: dict[str, set[str]] = {}
        for group_version in sorted({c.group_version for c in core.CRDS}):
            try:
                listed = await self._kube.request("GET", f"/apis/{group_version}")
            except kclient.ApiError as exc:
                if exc.not_found:
                    continue
                raise
            served[group_version] = {str(r.get("name")) for r in listed.get("resources") or []}
        return core.missing_crds(served)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    # The plugin.

    def prepare_pod(self, conf: nconf.NetworkConf, pod: bodies.Json) -> None:
        """Reserve the server's NLB ports before its pod exists (no room refuses the pod)."""
        assert isinstance(conf, lbconf.LoadBalancerConf)
        lbcore.allocate(self.table, _key(pod), conf)

    def forget_pod(self, pod: bodies.Json) -> None:
        self.table.forget(_key(pod))

    async def sync_server(
        self, conf: nconf.NetworkConf, server: plugin.Server, expect: plugin.Expect
    ) -> plugin.Observed:
        assert isinstance(conf, lbconf.LoadBalancerConf)
        key = (server.namespace, server.name)
        current = self._keeper.services.get(key)
        allocation = _allocation(current)
        if allocation is None or len(allocation.ports) != len(conf.ports):
            try:
                allocation = lbcore.allocate(self.table, key, conf)
            except lbports.NoCapacityError as exc:
                _log.warning("%s/%s: %s", *key, exc)
                return plugin.Observed([], [], vocabulary.NetworkState.NOT_READY)
        svc = await self._keeper.ensure(
            server,
            service_body(conf, server, allocation),
            conf.fixed,
            expect,
            failed=lambda: self.table.forget(key),
        )
        recorded = _allocation(svc)
        if svc is None or recorded is None or len(recorded.ports) != len(conf.ports):
            return plugin.Observed([], [], vocabulary.NetworkState.NOT_READY)
        owner = services.service_meta(server, conf.fixed)["ownerReferences"][0]
        where = core.placement(
            conf,
            recorded,
            namespace=server.namespace,
            set_name=server.set_name,
            server=server.name,
            owner=owner,
        )
        ports = [await self._sync_listen(where, listen, expect) for listen in where.listens]
        names = set(where.names())
        await self._remove(
            server.namespace,
            server.set_name,
            expect,
            lambda holder, name: holder == server.name and name not in names,
        )
        ready = core.readiness(ports, services.selected(svc), server.running)
        self._log_failure(key, ready.waiting_for)
        internal, external = core.addresses(where, server.pod_ip, ready.listening)
        return plugin.Observed(internal, external, ready.state, load_balancer=recorded.lb_id)

    async def sync_set(
        self, conf: nconf.NetworkConf, gss: bodies.Json, target: set[int], expect: plugin.Expect
    ) -> None:
        """Services and AWS objects of ordinals the set no longer has are deleted."""
        await self._keeper.remove_others(gss, target, expect)
        meta = bodies.meta(gss)
        set_name = str(meta.get("name", ""))
        keep = {f"{set_name}-{ordinal}" for ordinal in target}
        await self._remove(
            str(meta.get("namespace", "")), set_name, expect, lambda holder, _: holder not in keep
        )

    # One port.

    async def _sync_listen(
        self, where: core.Placement, listen: core.Listen, expect: plugin.Expect
    ) -> core.PortObjects:
        name = where.name(listen)
        key = (where.namespace, name)
        wanted = core.target_group_body(where, listen)
        current = self.target_groups.get(key)
        if current is not None and (_deleting(current) or core.change(current, wanted).replace):
            # The group goes, and first what uses it: AWS keeps a group a listener forwards to.
            for cache in (self.bindings, self.listeners):
                obj = cache.get(key)
                if obj is not None:
                    await self._delete(cache, obj, expect)
            await self._delete(self.target_groups, current, expect)
            return core.PortObjects(name, None, None, None)
        group = await self._ensure(self.target_groups, wanted, expect)
        listener = await self._ensure(self.listeners, core.listener_body(where, listen), expect)
        arn = core.arn_of(group)
        binding = self.bindings.get(key)
        if arn:
            binding = await self._ensure(
                self.bindings, core.binding_body(where, listen, arn), expect
            )
        return core.PortObjects(name, group, listener, binding)

    # Writes.

    async def _ensure(
        self, cache: WatchCache, wanted: bodies.Json, expect: plugin.Expect
    ) -> bodies.Json | None:
        """The object as wanted: created, or patched; deleted when it cannot become it (None
        then, and while it is being deleted: it is created again once gone)."""
        meta = wanted["metadata"]
        namespace, name = str(meta["namespace"]), str(meta["name"])
        current = cache.get((namespace, name))
        if current is None:
            created = await kclient.unless_gone(
                self._kube.create(cache.resource, namespace, wanted)
            )
            if created is not None:
                expect.wrote(cache, created)
            return created
        if _deleting(current):
            return None
        change = core.change(current, wanted)
        if change.replace:
            await self._delete(cache, current, expect)
            return None
        if not change.spec:
            return current
        patched = await kclient.unless_gone(
            self._kube.patch(cache.resource, namespace, name, {"spec": change.spec})
        )
        if patched is not None:
            expect.wrote(cache, patched)
        return patched

    async def _delete(self, cache: WatchCache, obj: bodies.Json, expect: plugin.Expect) -> None:
        if _deleting(obj):
            return
        meta = bodies.meta(obj)
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        uid = str(meta.get("uid", ""))
        await kclient.unless_gone(self._kube.delete(cache.resource, namespace, name, uid=uid))
        expect.deleted(cache, (namespace, name), uid)

    async def _remove(
        self,
        namespace: str,
        set_name: str,
        expect: plugin.Expect,
        stale: Callable[[str, str], bool],
    ) -> None:
        """Delete the set's AWS objects for which `stale(server, name)` holds: bindings first,
        then listeners, then target groups (the order AWS lets them go)."""
        for cache in (self.bindings, self.listeners, self.target_groups):
            for obj in cache.by_index(f"{namespace}/{set_name}"):
                meta = bodies.meta(obj)
                server = str((meta.get("labels") or {}).get(core.SERVER_LABEL, ""))
                if stale(server, str(meta.get("name", ""))):
                    await self._delete(cache, obj, expect)

    def _log_failure(self, key: Key, waiting_for: str) -> None:
        """Log a terminal ACK condition once per server and message."""
        failure = waiting_for if " failed: " in waiting_for else ""
        if self._failing.get(key, "") != failure:
            if failure:
                _log.warning("%s/%s: %s", *key, failure)
            self._failing[key] = failure


def _key(obj: bodies.Json) -> lbports.ServiceKey:
    meta = bodies.meta(obj)
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


def _deleting(obj: bodies.Json) -> bool:
    return bool(bodies.meta(obj).get("deletionTimestamp"))


def _allocation(svc: bodies.Json | None) -> lbports.Allocation | None:
    if svc is None:
        return None
    meta = bodies.meta(svc)
    return lbports.read_record(meta.get("annotations") or {}, str(meta.get("uid") or "") or None)
