"""Perform a reconcile plan (`agent.core.reconcile.Plan`): its writes in order, the network
plugin's steps where the plan leaves them, the events, and the expectations the next reconcile
of the set waits for.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
from typing import TYPE_CHECKING

from agent.core import bodies, reconcile, servers, writes
from agent.kube import client as kclient
from agent.kube import resources
from agent.kube.cache import Key, rv_of
from agent.network import plugin as network_plugin

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from agent.kube.cache import WatchCache
    from agent.kube.events import EventRecorder
    from agent.network.hooks import Network

_log = logging.getLogger(__name__)

_RESOURCES = {
    writes.Kind.POD: resources.POD,
    writes.Kind.GAME_SERVER: resources.GAME_SERVER,
    writes.Kind.GAME_SERVER_SET: resources.GAME_SERVER_SET,
    writes.Kind.CLAIM: resources.PERSISTENT_VOLUME_CLAIM,
}


def touched(plan: reconcile.Plan) -> set[str]:
    """The servers a plan deletes, recreates or updates (an allocation may not take them while
    it runs): its deletions, updates, cleanups and service-quality patches."""
    found: set[str] = set()
    chains = [*plan.deletions, *plan.updates, plan.cleanups, plan.qualities]
    for chain in chains:
        found.update(w.name for w in chain if isinstance(w, writes.Patch | writes.Delete))
    return found


@dataclasses.dataclass
class Expectations:
    """Writes of one reconcile that the caches must show before the set is reconciled again."""

    seen: list[tuple[WatchCache, Key, int]] = dataclasses.field(default_factory=list)
    gone: list[tuple[WatchCache, Key, str]] = dataclasses.field(default_factory=list)

    def wrote(self, cache: WatchCache, result: bodies.Raw) -> None:
        rv = rv_of(result)
        if rv:
            self.seen.append((cache, bodies.key(result), rv))

    def deleted(self, cache: WatchCache, key: Key, uid: str) -> None:
        self.gone.append((cache, key, uid))

    def satisfied(self) -> bool:
        for cache, key, rv in self.seen:
            if not cache.has_seen(key, rv):
                return False
        for cache, key, uid in self.gone:
            obj = cache.get(key)
            if obj is None:
                continue
            if bodies.uid(obj) == uid and not bodies.terminating(obj):
                return False
        return True

    def barrier(self) -> Callable[[], Awaitable[object]] | None:
        if not self.seen and not self.gone:
            return None
        caches = {id(c): c for c, _, _ in self.seen} | {id(c): c for c, _, _ in self.gone}

        async def wait() -> bool:
            # Any cache event may satisfy the expectations; wake on the first that changes.
            while not self.satisfied():
                waits = [asyncio.ensure_future(c.next_change(0.5)) for c in caches.values()]
                _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
            return True

        return wait


@dataclasses.dataclass(frozen=True)
class Caches:
    """The caches a set's writes land in."""

    sets: WatchCache
    game_servers: WatchCache
    pods: WatchCache

    def of(self, kind: writes.Kind) -> WatchCache | None:
        return {
            writes.Kind.POD: self.pods,
            writes.Kind.GAME_SERVER: self.game_servers,
            writes.Kind.GAME_SERVER_SET: self.sets,
        }.get(kind)


class _Restart(Exception):
    """A guarded set patch met a newer set: the reconcile ends and runs again."""


class Executor:
    """Perform one plan of one set."""

    def __init__(
        self,
        kube: kclient.KubeClient,
        caches: Caches,
        recorder: EventRecorder,
        network: Network | None,
        requeue: Callable[[Key, float], None],
        gss: bodies.GameServerSet,
    ) -> None:
        self._kube = kube
        self._caches = caches
        self._events = recorder
        self._network = network
        self._requeue = requeue
        self.key = bodies.key(gss)
        self.gss = gss
        """The set as last written (or observed)."""
        self.expect = Expectations()
        self.status_version = ""
        """The set's resourceVersion after this run's status write, if it made one."""
        self._versions: dict[tuple[writes.Kind, str], str] = {}

    async def run(self, plan: reconcile.Plan) -> None:
        """The plan's groups in order; a `Restart` conflict ends the run and queues the set."""
        self._observed(plan)
        try:
            for patch in plan.set_patches:
                await self.patch(patch)
        except _Restart:
            self._requeue(self.key, 0.0)
            return
        await asyncio.gather(*(self.chain(c) for c in plan.deletions))
        await asyncio.gather(*(self.create_server(c) for c in plan.creations))
        if plan.decisions.more_to_create:
            # The next run (once the cache shows these) plans the rest: the status moves on
            # meanwhile and the pod bodies in flight stay bounded.
            self._requeue(self.key, 0.0)
        await asyncio.gather(*(self.chain(c) for c in plan.updates))
        await asyncio.gather(
            *(self._sync(plan, s) for s in plan.syncs), *(self.delete(d) for d in plan.cleanups)
        )
        await asyncio.gather(*(self.patch(p) for p in plan.qualities))
        if self._network is not None and plan.whole_set:
            target = set(plan.decisions.scale.target)
            await self._network.sync_set(self.gss, target, self.expect)
        if plan.status is not None:
            written = await self.patch(plan.status)
            self.status_version = bodies.resource_version(written)
        if plan.wake_in is not None:
            self._requeue(self.key, plan.wake_in)

    def _observed(self, plan: reconcile.Plan) -> None:
        self._versions[(writes.Kind.GAME_SERVER_SET, bodies.name(self.gss))] = (
            bodies.resource_version(self.gss)
        )
        for pod in plan.obs.pods.values():
            self._versions[(writes.Kind.POD, bodies.name(pod))] = bodies.resource_version(pod)

    async def _sync(self, plan: reconcile.Plan, server: servers.Server) -> None:
        """Ask the network plugin for the server's network, then write what the plan says."""
        outcome: servers.NetworkOutcome | None = None
        if self._network is not None:
            outcome = await self._network.sync_server(
                self.gss,
                server.pod,
                server.game_server,
                server.network_disabled(plan.ctx),
                plan.ctx.now_text,
                self.expect,
            )
        await self.chain(plan.server(server, outcome))

    async def chain(self, chain: writes.Chain) -> None:
        for write in chain:
            await self.perform(write)

    async def perform(self, write: writes.Write) -> None:
        if isinstance(write, writes.Patch):
            await self.patch(write)
        elif isinstance(write, writes.Delete):
            await self.delete(write)
        elif isinstance(write, writes.CreateGameServer):
            await self.create_game_server(write.body)
        elif isinstance(write, writes.CreateServer):
            await self.create_server(write)
        else:
            await self._record(write.on, write)

    async def _record(self, on: bodies.Raw | None, event: writes.Event) -> None:
        if on is not None:
            await self._events.record(on, event.type, event.reason, event.message)

    # Writes.

    async def patch(self, patch: writes.Patch) -> bodies.Json | None:
        body = patch.body
        if patch.guard:
            version = self._versions.get((patch.kind, patch.name))
            body = {**body, "metadata": {**body.get("metadata", {}), "resourceVersion": version}}
        call = self._kube.patch(
            _RESOURCES[patch.kind],
            self.key[0],
            patch.name,
            body,
            content_type=kclient.STRATEGIC_PATCH if patch.strategic else kclient.MERGE_PATCH,
            subresource="status" if patch.status else "",
        )
        try:
            result = await call
        except kclient.ApiError as exc:
            if patch.on_conflict is writes.OnConflict.RESTART and exc.conflict:
                raise _Restart from exc
            if patch.on_conflict is writes.OnConflict.SKIP and (exc.conflict or exc.not_found):
                return None
            raise
        self._wrote(patch.kind, result)
        if patch.kind is writes.Kind.GAME_SERVER_SET and not patch.status:
            self.gss = bodies.as_game_server_set(result)
        for event in patch.events:
            await self._record(result, event)
        if patch.note:
            _log.info("%s", patch.note)
        return result

    def _wrote(self, kind: writes.Kind, result: bodies.Json) -> None:
        self._versions[(kind, bodies.name(result))] = bodies.resource_version(result)
        cache = self._caches.of(kind)
        if cache is not None:
            self.expect.wrote(cache, result)

    async def delete(self, delete: writes.Delete) -> None:
        namespace = self.key[0]
        await kclient.unless_gone(
            self._kube.delete(
                _RESOURCES[delete.kind], namespace, delete.name, uid=delete.uid or None
            )
        )
        cache = self._caches.of(delete.kind)
        if delete.expect_gone and cache is not None:
            self.expect.deleted(cache, (namespace, delete.name), delete.uid)
        if delete.note:
            _log.info("%s", delete.note)

    async def create_game_server(self, body: bodies.GameServer) -> None:
        try:
            result = await self._kube.create(resources.GAME_SERVER, self.key[0], dict(body))
        except kclient.ApiError as exc:
            if exc.conflict:
                return  # the previous pod's GameServer is still there; next reconcile
            raise
        self._wrote(writes.Kind.GAME_SERVER, result)

    async def create_server(self, create: writes.CreateServer) -> None:
        namespace = self.key[0]
        if create.replaces is not None:
            name, uid = create.replaces
            await kclient.unless_gone(
                self._kube.delete(resources.GAME_SERVER, namespace, name, uid=uid)
            )
        body: bodies.Json = copy.deepcopy(dict(create.pod))
        if self._network is not None:
            try:
                self._network.prepare_pod(self.gss, body)  # network fields set at creation
            except network_plugin.NetworkUnavailable as exc:
                await self._network.report_unavailable(self.gss, str(exc))
                return
        try:
            for claim in create.claims:
                await self._create_claim(claim)
            pod = await self._kube.create(resources.POD, namespace, body)
        except BaseException as exc:
            if self._network is not None:
                self._network.forget_pod(self.gss, body)
            if isinstance(exc, kclient.ApiError) and exc.conflict:
                return  # an earlier pod of this ordinal is still going away
            raise
        self._wrote(writes.Kind.POD, pod)
        if create.game_server is None:
            return
        game_server = copy.deepcopy(create.game_server)
        if create.owned_by_pod:
            owner = bodies.owner_reference(pod, "Pod", "v1")
            game_server.setdefault("metadata", {})["ownerReferences"] = [owner]
        await self.create_game_server(game_server)

    async def _create_claim(self, claim: bodies.PersistentVolumeClaim) -> None:
        """An existing claim is kept: a recreated pod gets the same volumes."""
        try:
            await self._kube.create(resources.PERSISTENT_VOLUME_CLAIM, self.key[0], dict(claim))
        except kclient.ApiError as exc:
            if not exc.conflict:
                raise
