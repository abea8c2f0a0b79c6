"""Wire the caches, the work queue and the reconciler together, under leader election."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from agent import metrics
from agent.core import bodies, views, wire
from agent.kube import cache as kcache
from agent.kube import resources
from agent.kube.events import EventRecorder
from agent.network import hooks as network_hooks

from . import allocations, disruption, game_server_allocations, gameserverset, queue

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from agent.kube import client as kclient

_log = logging.getLogger(__name__)

SET = gameserverset.Scope.SET
SERVER = gameserverset.Scope.SERVER
NETWORK = gameserverset.Scope.NETWORK


class Controller:
    """Every cache and the GameServerSet reconciler of one agent process."""

    def __init__(
        self,
        kube: kclient.KubeClient,
        *,
        namespace: str | None = None,
        workers: int = 4,
        host: str = "",
        host_port_range: tuple[int, int] = (8000, 9000),
        catch_up_delay: float = 0.0,
        ledger_linger: float = allocations.LINGER_S,
        allocation_request_ttl: float = 600.0,
    ) -> None:
        self.kube = kube
        # managedFields kept: they tell the hub link who changed a hub-managed set (drift).
        self.sets = kcache.WatchCache(
            kube, resources.GAME_SERVER_SET, namespace=namespace, keep_managed_fields=True
        )
        self.game_servers = kcache.WatchCache(
            kube,
            resources.GAME_SERVER,
            namespace=namespace,
            label_selector=wire.OWNER_GSS,
            index=views.owner_index,
        )
        self.pods = kcache.WatchCache(
            kube,
            resources.POD,
            namespace=namespace,
            label_selector=wire.OWNER_GSS,
            index=views.owner_index,
        )
        # Every set's allocation ledger (one ConfigMap each): the leader reads them all
        # before its first reconcile.
        self.ledgers = kcache.WatchCache(
            kube, resources.CONFIG_MAP, namespace=namespace, label_selector=allocations.LEDGER_LABEL
        )
        self.allocations = allocations.AllocationLedger(
            kube,
            self.sets,
            self.game_servers,
            self.ledgers,
            requeue=self._requeue_server,
            pods=self.pods,
            catch_up_delay=catch_up_delay,
            linger=ledger_linger,
        )
        # In-cluster allocation requests (Agones' GameServerAllocation), answered by the leader.
        self.requests = kcache.WatchCache(
            kube, resources.GAME_SERVER_ALLOCATION, namespace=namespace
        )
        self.game_server_allocations = game_server_allocations.GameServerAllocations(
            kube,
            self.requests,
            self.game_servers,
            self.pods,
            self.allocations,
            ttl=allocation_request_ttl,
        )
        recorder = EventRecorder(kube, host)
        # Network plugins: Nodes and the game servers' Services; HostPort follows the pods.
        self.network = network_hooks.Network(
            kube,
            self.pods,
            recorder,
            namespace=namespace,
            host_port_range=host_port_range,
            requeue=self._requeue,
        )
        # Every claim in scope (the pods may mount their own, not only the templates') and
        # every PersistentVolume: the GameServers' PersistentVolumeNormal condition.
        self.volumes = gameserverset.Volumes(
            kcache.WatchCache(kube, resources.PERSISTENT_VOLUME_CLAIM, namespace=namespace),
            kcache.WatchCache(kube, resources.PERSISTENT_VOLUME),
        )
        # Evictions (node drains) never take an Allocated server's pod.
        self.budgets = disruption.AllocatedBudgets(kube, self.sets, namespace=namespace)
        self.caches = (
            self.sets,
            self.budgets.cache,
            self.game_servers,
            self.pods,
            self.ledgers,
            self.volumes.claims,
            self.volumes.volumes,
            *self.network.caches,
        )
        self.reconciler = gameserverset.GameServerSetReconciler(
            kube,
            self.sets,
            self.game_servers,
            self.pods,
            recorder,
            requeue=self._requeue,
            network=self.network,
            volumes=self.volumes,
            allocations=self.allocations,
        )
        self.queue: queue.WorkQueue[kcache.Key] = queue.WorkQueue(self._process, workers=workers)
        self.active = False
        self._tasks: list[asyncio.Task[None]] = []
        self.sets.add_handler(self._on_set)
        self.game_servers.add_handler(self._on_server)
        self.pods.add_handler(self._on_server)
        for cache in self.network.child_caches:
            cache.add_handler(self._on_network)
        self.volumes.claims.add_handler(self._on_child)
        self.volumes.volumes.add_handler(self._on_volume)

    def _requeue(
        self, key: kcache.Key, delay: float, part: gameserverset.Part | None = None
    ) -> None:
        if self.active:
            self.queue.add_after(key, delay, part)

    def _requeue_server(self, key: kcache.Key, server: str) -> None:
        self._requeue(key, 0.0, gameserverset.Part(SERVER, server))

    def _on_set(self, kind: kcache.EventType, obj: kclient.Obj) -> None:
        """A set's event: the reconciler tells a status-only change from the rest."""
        if self.active:
            part = None if kind == kcache.EventType.DELETED else gameserverset.Part(SET)
            self.queue.add(kcache.key_of(obj), part)

    def _on_server(self, _: kcache.EventType, obj: kclient.Obj) -> None:
        """A pod's or GameServer's event concerns that server (and its set only when the
        set-level answer moves: the reconciler decides)."""
        self._to_owner(obj, gameserverset.Part(SERVER, bodies.name(obj)))

    def _on_network(self, _: kcache.EventType, obj: kclient.Obj) -> None:
        """A network object named after a server, or labelled with it, concerns that server."""
        server = bodies.labels_of(obj).get(wire.NETWORK_SERVER) or bodies.name(obj)
        self._to_owner(obj, gameserverset.Part(NETWORK, server))

    def _on_child(self, _: kcache.EventType, obj: kclient.Obj) -> None:
        self._to_owner(obj, None)

    def _to_owner(self, obj: kclient.Obj, part: gameserverset.Part | None) -> None:
        if not self.active:
            return
        owner = bodies.labels_of(obj).get(wire.OWNER_GSS)
        if owner:
            self.queue.add((bodies.namespace(obj), owner), part)

    def _on_volume(self, kind: kcache.EventType, obj: kclient.Obj) -> None:
        """A volume's change queues the set of the claim it is bound to."""
        ref = (bodies.as_volume(obj).get("spec") or {}).get("claimRef") or {}
        claim = self.volumes.claims.get((ref.get("namespace", ""), ref.get("name", "")))
        if claim is not None:
            self._on_child(kind, claim)

    async def _process(self, key: kcache.Key) -> Callable[[], Awaitable[object]] | None:
        began = time.perf_counter()
        parts = self.queue.parts(key)
        try:
            if parts is None:
                barrier = await self.reconciler.reconcile(key)
            else:
                barrier = await self.reconciler.reconcile_parts(
                    key, [p for p in parts if isinstance(p, gameserverset.Part)]
                )
        except Exception:
            metrics.RECONCILES.labels("error").inc()
            raise
        metrics.RECONCILES.labels("ok").inc()
        metrics.RECONCILE_SECONDS.observe(time.perf_counter() - began)
        return barrier

    def start_caches(self) -> None:
        # GameServerAllocations are not waited for: a cluster without their CRD (or the RBAC
        # to read them) still reconciles; requests are answered as their cache sees them.
        for c in (*self.caches, self.requests):
            self._tasks.append(asyncio.create_task(c.run(), name=f"cache-{c.resource.plural}"))

    async def wait_synced(self) -> None:
        await asyncio.gather(*(c.synced.wait() for c in self.caches))

    async def start_reconciling(self) -> None:
        """Called once leading: reconcile every set, then follow the events."""
        await self.wait_synced()
        # Before any decision: every allocation the ledgers hold reads Allocated.
        self.allocations.load()
        self.allocations.start()
        self.game_server_allocations.start()
        self.active = True
        metrics.LEADER.set(1)
        self.queue.start()
        self.budgets.start()
        for obj in self.sets.all():
            self.queue.add(kcache.key_of(obj))
        _log.info("reconciling %d GameServerSets", len(self.sets))

    async def stop(self) -> None:
        self.active = False
        metrics.LEADER.set(0)
        await self.queue.stop()
        await self.budgets.stop()
        await self.game_server_allocations.stop()
        await self.allocations.stop()
        await self.network.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
