"""The leader answers GameServerAllocations (`allocation.gamefleet.io/v1`) in its scope.

Each request is answered once, in its status, through the sets' allocation ledgers: the same
guards as the hub's allocations (never a server being deleted, updated, or held by another
request) and the same exactly-once (the request's id is `gsa-<uid>`: a leader that restarts
before writing the answer finds the server its ledger or GameServer holds for it). Answered
requests are deleted `ttl` seconds after they were created, as Agones keeps none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from agent import metrics
from agent.core import bodies, ledger
from agent.core import game_server_allocation as gsa
from agent.kube import cache as kcache
from agent.kube import client as kclient
from agent.kube import resources
from okg import vocabulary
from okg.errors import ValidationError

from .allocations import AllocationLedger, LedgerError

if TYPE_CHECKING:
    from agent.kube.cache import Key

_log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
"""Candidates tried for one request before it is answered UnAllocated (each taken by others)."""
SWEEP_S = 30.0


class GameServerAllocations:
    def __init__(
        self,
        kube: kclient.KubeClient,
        requests: kcache.WatchCache,
        game_servers: kcache.WatchCache,
        pods: kcache.WatchCache,
        allocations: AllocationLedger,
        ttl: float,
    ) -> None:
        self._kube = kube
        self._requests = requests
        self._game_servers = game_servers
        self._pods = pods
        self._allocations = allocations
        self._ttl = ttl
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._tasks: list[asyncio.Task[None]] = []
        requests.add_handler(self._on_request)

    def start(self) -> None:
        """Begin answering (the leader, once its ledgers are loaded): every request waiting."""
        for obj in self._requests.all():
            self._on_request(kcache.EventType.ADDED, obj)
        self._tasks = [asyncio.create_task(self._answer_loop()), asyncio.create_task(self._sweep())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def _on_request(self, kind: kcache.EventType, obj: kclient.Obj) -> None:
        key = kcache.key_of(obj)
        if kind is kcache.EventType.DELETED or gsa.answered(obj) or key in self._queued:
            return
        self._queued.add(key)
        self._queue.put_nowait(key)

    async def _answer_loop(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            obj = self._requests.get(key)
            if obj is None or gsa.answered(obj):
                continue
            try:
                await self._answer(obj)
            except (kclient.ApiError, LedgerError) as exc:
                _log.warning("GameServerAllocation %s/%s: %s; trying again", *key, exc)
                await asyncio.sleep(1.0)
                self._on_request(kcache.EventType.MODIFIED, obj)

    async def _answer(self, request: kclient.Obj) -> None:
        namespace = bodies.namespace(request)
        request_id = gsa.request_id(request)
        servers = [gs for gs in self._game_servers.all() if bodies.namespace(gs) == namespace]
        decisions = {
            bodies.name(gs): self._allocations.preview(namespace, bodies.name(gs), request_id)
            for gs in servers
        }
        # Asked again (a new leader, a failed status write): the server it already holds.
        held = sorted(name for name, d in decisions.items() if d is ledger.Decision.HELD)
        if held:
            await self._write(request, self._allocated(namespace, held[0]), "again")
            return
        try:
            wanted = gsa.parse(request)
        except ValidationError as exc:
            await self._write(request, gsa.invalid_status(exc), "invalid")
            return
        candidates = [
            gsa.Candidate(
                name=bodies.name(gs),
                labels=bodies.labels_of(gs),
                node=self._node(namespace, bodies.name(gs)),
                free=decisions[bodies.name(gs)] is ledger.Decision.TAKE,
                allocated=(gs.get("spec") or {}).get("opsState")
                == vocabulary.OpsState.ALLOCATED.value
                or self._allocations.holds(namespace, bodies.name(gs)),
            )
            for gs in servers
        ]
        for name in gsa.order(wanted, candidates)[:MAX_ATTEMPTS]:
            decision = await self._allocations.allocate(
                namespace, name, request_id, wanted.labels, wanted.annotations
            )
            if decision is not ledger.Decision.CONFLICT:
                await self._write(request, self._allocated(namespace, name), "allocated")
                return
        await self._write(request, gsa.unallocated_status(), "unallocated")

    def _node(self, namespace: str, name: str) -> str:
        pod = self._pods.get((namespace, name))
        return str(((pod or {}).get("spec") or {}).get("nodeName") or "")

    def _allocated(self, namespace: str, name: str) -> dict[str, object]:
        gs = self._game_servers.get((namespace, name)) or {"metadata": {"name": name}}
        return gsa.allocated_status(gs, self._node(namespace, name))

    async def _write(self, request: kclient.Obj, status: dict[str, object], answer: str) -> None:
        meta = bodies.meta(request)
        await self._kube.patch(
            resources.GAME_SERVER_ALLOCATION,
            bodies.namespace(request),
            bodies.name(request),
            {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": status},
            subresource="status",
        )
        metrics.GAME_SERVER_ALLOCATIONS.labels(answer).inc()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            now = time.time()
            for obj in self._requests.all():
                if gsa.answered(obj) and now - _created(obj) > self._ttl:
                    with contextlib.suppress(kclient.ApiError):
                        await self._kube.delete(
                            resources.GAME_SERVER_ALLOCATION,
                            bodies.namespace(obj),
                            bodies.name(obj),
                            uid=str(bodies.meta(obj).get("uid") or ""),
                        )


def _created(obj: kclient.Obj) -> float:
    created = bodies.parse_time(bodies.meta(obj).get("creationTimestamp"))
    return time.time() if created is None else created
