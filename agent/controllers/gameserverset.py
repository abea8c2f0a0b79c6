"""The GameServerSet reconciler: observe a set in the caches, plan (`agent.core.reconcile`),
execute (`executor`).

A whole-set reconcile plans every server. A change of some servers only (their pods' or
GameServers' events) is handled for those servers: their views are refreshed in the set's
memo, and unless the set-level decisions now ask for a write (`plans.needs_set`), only
their writes and the set's status are planned; the rest of the set is not looked at.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from agent import metrics
from agent.core import bodies, model, servers, state, views
from agent.core import reconcile as plans
from okg import reserve_ids, vocabulary

from . import executor

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection

    from agent.kube import client as kclient
    from agent.kube.cache import Key, WatchCache
    from agent.kube.events import EventRecorder
    from agent.network.hooks import Network

    from .allocations import AllocationLedger

_log = logging.getLogger(__name__)

STATUS_EVERY = 1.0
"""Seconds between two status writes of a set by runs of some of its servers: a burst of
server changes makes one status write a second, not one per run (whole-set runs write at
once)."""


B = TypeVar("B")


class _Lookup(Mapping[str, B], Generic[B]):
    """A cache's objects of one namespace by name (what the plan looks up, without a copy)."""

    def __init__(self, cache: WatchCache, namespace: str, cast: Callable[[bodies.Raw], B]):
        self._cache, self._namespace, self._cast = cache, namespace, cast

    def __getitem__(self, name: str) -> B:
        found = self._cache.get((self._namespace, name))
        if found is None:
            raise KeyError(name)
        return self._cast(found)

    def __iter__(self) -> Iterator[str]:
        return (n for ns, n in (bodies.key(o) for o in self._cache.all()) if ns == self._namespace)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclasses.dataclass(frozen=True)
class Volumes:
    """The claims (namespaced) and PersistentVolumes (cluster-wide) the pods mount, for the
    GameServers' `PersistentVolumeNormal` condition."""

    claims: WatchCache
    volumes: WatchCache


class Requeue(Protocol):
    """Queue a set again after `delay` seconds (only its `part`, when given)."""

    def __call__(self, key: Key, delay: float, part: Part | None = None) -> None: ...


class Scope(enum.Enum):
    """What changed in a set."""

    SET = "set"
    """The set object (its spec or memory, or its status only)."""
    STATUS = "status"
    """The set's status is due (a status write deferred to coalesce)."""
    SERVER = "server"
    """A server's pod or GameServer."""
    NETWORK = "network"
    """A network object named after a server (a Service, an Ingress)."""


@dataclasses.dataclass(frozen=True)
class Part:
    """A part of a set that changed (the work queue's part of a set's key)."""

    scope: Scope
    name: str = ""


def set_digest(gss: bodies.Raw) -> tuple[object, ...]:
    """What the set-level decisions read of the set itself (its spec moves its generation);
    a set event that leaves this alone changed only the status."""
    return (
        bodies.uid(gss),
        bodies.generation(gss),
        tuple(sorted(bodies.annotations_of(gss).items())),
        bodies.terminating(gss),
    )


@dataclasses.dataclass
class _Memo:
    """A set as its last whole reconcile saw it, kept current server by server."""

    digest: tuple[object, ...]
    desired: model.GameServerSetView
    hooks: views.Hooks
    pods: dict[int, bodies.Pod]
    game_servers: dict[int, bodies.GameServer]
    views: dict[int, model.PodView]
    versions: dict[int, tuple[str, str, str]]
    decisions: plans.Decisions
    status_written: float = 0.0
    """When (the reconciler's clock) the agent last wrote the set's status."""
    status_version: str = ""
    """The set's resourceVersion after the agent's last status write: a set event that shows
    it changed nothing the agent has not counted."""


def _versions(pod: bodies.Raw, gs: bodies.GameServer | None) -> tuple[str, str, str]:
    """What a pod view is made of; the opsState counts apart from the resourceVersion, as an
    allocation ledger entry moves it without a write (`_as_held`)."""
    ops = str(((gs or {}).get("spec") or {}).get("opsState") or "")
    return (bodies.resource_version(pod), bodies.resource_version(gs), ops)


async def _settled(barrier: Callable[[], Awaitable[object]] | None) -> None:
    if barrier is not None:
        await barrier()


def _as_held(gs: bodies.GameServer, held: Collection[str]) -> bodies.GameServer:
    """The GameServer as its allocation ledger entry will make it: Allocated from the moment
    the agent answered the allocation, before the GameServer's own write."""
    spec = gs.get("spec") or {}
    if bodies.name(gs) not in held or spec.get("opsState") == vocabulary.OpsState.ALLOCATED.value:
        return gs
    allocated: bodies.GameServer = {**gs, "spec": {**spec, "opsState": "Allocated"}}
    return allocated


class GameServerSetReconciler:
    """Reconcile one GameServerSet per call (keys are (namespace, name))."""

    def __init__(
        self,
        kube: kclient.KubeClient,
        sets: WatchCache,
        game_servers: WatchCache,
        pods: WatchCache,
        recorder: EventRecorder,
        requeue: Requeue,
        clock: Callable[[], float] = time.time,
        network: Network | None = None,
        volumes: Volumes | None = None,
        allocations: AllocationLedger | None = None,
    ) -> None:
        self._kube = kube
        self._allocations = allocations
        self._network = network
        self._volumes = volumes
        self._caches = executor.Caches(sets, game_servers, pods)
        self._events = recorder
        self._requeue = requeue
        self._clock = clock
        self._invalid: dict[Key, int] = {}
        self._memo: dict[Key, _Memo] = {}

    async def reconcile(self, key: Key) -> Callable[[], Awaitable[object]] | None:
        """Reconcile the whole set."""
        previous = self._memo.pop(key, None)
        raw = self._caches.sets.get(key)
        if raw is None or bodies.terminating(raw):
            return None
        gss = bodies.as_game_server_set(raw)
        try:
            desired = views.gss_view(gss)
        except (reserve_ids.ReserveIdsError, ValueError) as exc:
            await self._report_invalid(key, gss, str(exc))
            return None
        self._invalid.pop(key, None)
        if self._network is not None and not await self._network.check(gss):
            return None  # NetworkConfigInvalid: nothing is created until it is fixed
        metrics.RECONCILE_SCOPE.labels("set").inc()
        obs = self._observe(key, gss)
        hooks = views.hooks(gss)
        found = self._views(previous, obs, desired, hooks)
        plan = plans.plan(obs, desired, found)
        self._memo[key] = _Memo(
            digest=set_digest(gss),
            desired=desired,
            hooks=hooks,
            pods=dict(obs.pods),
            game_servers=dict(obs.game_servers),
            views=found,
            versions={o: _versions(p, obs.game_servers.get(o)) for o, p in obs.pods.items()},
            decisions=plan.decisions,
        )
        return await self._execute(key, gss, plan)

    async def reconcile_parts(
        self, key: Key, parts: Collection[Part]
    ) -> Callable[[], Awaitable[object]] | None:
        """Reconcile only the servers these parts name (and the set's status), unless the
        set-level answer may have changed: then the whole set.

        The whole set is reconciled when there is no memo of it, its spec or memory changed
        (a status change alone does not count), its last reconcile had set-level writes, a
        pod came or went, a network object of an ordinal the set does not keep changed, or
        the set-level decisions over the refreshed views ask for a write (`needs_set`)."""
        memo = self._memo.get(key)
        raw = self._caches.sets.get(key)
        if memo is None or raw is None or set_digest(raw) != memo.digest or memo.decisions.acts:
            return await self.reconcile(key)
        gss = bodies.as_game_server_set(raw)
        ordinals: set[int] = set()
        moved: list[tuple[model.PodView | None, model.PodView | None]] = []
        recount = False
        for part in parts:
            if part.scope is Scope.STATUS:
                recount = True
                continue
            if part.scope is Scope.SET:
                recount |= bodies.resource_version(raw) != memo.status_version
                continue
            ordinal = state.ordinal_from_name(key[1], part.name)
            if part.scope is Scope.NETWORK and (
                ordinal is None or ordinal not in memo.decisions.scale.target
            ):
                return await self.reconcile(key)  # the plugin's set cleanup may be due
            if ordinal is None:
                continue
            pod, gs = self._server(key, gss, part.name)
            if (pod is None) != (ordinal not in memo.pods):
                return await self.reconcile(key)  # a pod came or went: the set's answer moves
            ordinals.add(ordinal)
            before = memo.views.get(ordinal)
            if self._refresh(memo, ordinal, pod, gs):
                moved.append((before, memo.views.get(ordinal)))
        now = self._clock()
        decisions = memo.decisions
        timed = bool(memo.desired.update.min_ready_seconds)
        if timed or any(plans.needs_decide(decisions, b, a) for b, a in moved):
            decisions = plans.decide(gss, memo.desired, memo.views, now)
            if plans.needs_set(memo.decisions, decisions):
                return await self.reconcile(key)
            memo.decisions = decisions
        metrics.RECONCILE_SCOPE.labels("servers").inc()
        obs = plans.Observed(
            gss,
            {o: memo.pods[o] for o in ordinals if o in memo.pods},
            {o: memo.game_servers[o] for o in ordinals if o in memo.game_servers},
            now,
            self._around(key),
        )
        with_status = recount or bool(moved) or timed
        plan = plans.plan_servers(obs, memo.views, decisions, ordinals, with_status=with_status)
        wait = memo.status_written + STATUS_EVERY - now
        if plan.status is not None and wait > 0:
            plan = dataclasses.replace(plan, status=None)
            self._requeue(key, wait, Part(Scope.STATUS))
        return await self._execute(key, gss, plan)

    def _server(
        self, key: Key, gss: bodies.GameServerSet, name: str
    ) -> tuple[bodies.Pod | None, bodies.GameServer | None]:
        """One server's pod and GameServer, when they are the set's (as `views.servers_of`)."""
        index = f"{key[0]}/{key[1]}"
        pod = self._caches.pods.get((key[0], name))
        gs = self._caches.game_servers.get((key[0], name))
        pods = [bodies.as_pod(pod)] if pod and views.owner_index(pod) == index else []
        game_servers = [bodies.as_game_server(gs)] if gs and views.owner_index(gs) == index else []
        own_pods, own_gs = views.servers_of(gss, pods, game_servers)
        found = next(iter(own_gs.values()), None)
        held = self._held(key)
        return next(iter(own_pods.values()), None), found and _as_held(found, held)

    def _held(self, key: Key) -> Collection[str]:
        """The servers of the set its allocation ledger holds."""
        return {} if self._allocations is None else self._allocations.allocated(key)

    @staticmethod
    def _refresh(
        memo: _Memo, ordinal: int, pod: bodies.Pod | None, gs: bodies.GameServer | None
    ) -> bool:
        """Put one server's objects in the memo; True when its view changed."""
        if gs is None:
            memo.game_servers.pop(ordinal, None)
        else:
            memo.game_servers[ordinal] = gs
        if pod is None:
            return False
        memo.pods[ordinal] = pod
        versions = _versions(pod, gs)
        if memo.versions.get(ordinal) == versions:
            return False
        memo.versions[ordinal] = versions
        own = views.own_game_server(memo.desired.reclaim_policy, pod, gs)
        view = views.view_of(pod, ordinal, own, memo.hooks)
        moved = view != memo.views.get(ordinal)
        memo.views[ordinal] = view
        return moved

    def _observe(self, key: Key, gss: bodies.GameServerSet) -> plans.Observed:
        index = f"{key[0]}/{key[1]}"
        pods, game_servers = views.servers_of(
            gss,
            [bodies.as_pod(p) for p in self._caches.pods.by_index(index)],
            [bodies.as_game_server(g) for g in self._caches.game_servers.by_index(index)],
        )
        held = self._held(key)
        game_servers = {o: _as_held(g, held) for o, g in game_servers.items()}
        return plans.Observed(gss, pods, game_servers, self._clock(), self._around(key))

    def _around(self, key: Key) -> servers.Surroundings:
        nodes = None if self._network is None else _Lookup(self._network.nodes, "", bodies.as_node)
        if self._volumes is None:
            return servers.Surroundings(nodes=nodes)
        return servers.Surroundings(
            nodes=nodes,
            claims=_Lookup(self._volumes.claims, key[0], bodies.as_claim),
            volumes=_Lookup(self._volumes.volumes, "", bodies.as_volume),
        )

    @staticmethod
    def _views(
        memo: _Memo | None,
        obs: plans.Observed,
        desired: model.GameServerSetView,
        hooks: views.Hooks,
    ) -> dict[int, model.PodView]:
        """Every pod's view; reused from the last reconcile for objects that did not change."""
        same = memo is not None and memo.desired == desired and memo.hooks == hooks
        found: dict[int, model.PodView] = {}
        for ordinal, pod in obs.pods.items():
            gs = obs.game_servers.get(ordinal)
            if same and memo is not None and memo.versions.get(ordinal) == _versions(pod, gs):
                found[ordinal] = memo.views[ordinal]
                continue
            own = views.own_game_server(desired.reclaim_policy, pod, gs)
            found[ordinal] = views.view_of(pod, ordinal, own, hooks)
        return found

    async def _execute(
        self, key: Key, gss: bodies.GameServerSet, plan: plans.Plan
    ) -> Callable[[], Awaitable[object]] | None:
        run = executor.Executor(
            self._kube, self._caches, self._events, self._network, self._requeue, gss
        )
        if self._allocations is None:
            await run.run(plan)
        else:
            # Held from before the first write, with no wait since the plan, until the caches
            # show the writes: an allocation either came first (the plan read it Allocated) or
            # finds these servers busy, or their pods terminating or updating.
            done = self._allocations.hold(
                key, executor.touched(plan), lambda: _settled(run.expect.barrier())
            )
            try:
                await run.run(plan)
            finally:
                done()
        memo = self._memo.get(key)
        if memo is not None and run.status_version:
            memo.status_version = run.status_version
            memo.status_written = self._clock()
        return run.expect.barrier()

    async def _report_invalid(self, key: Key, gss: bodies.GameServerSet, message: str) -> None:
        generation = bodies.generation(gss)
        if self._invalid.get(key) == generation:
            return
        self._invalid[key] = generation
        _log.warning("GameServerSet %s/%s is invalid: %s", *key, message)
        await self._events.record(gss, "Warning", "InvalidSpec", message)
