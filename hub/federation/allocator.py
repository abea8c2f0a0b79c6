"""Allocations: a Ready game server of a fleet for a match, committed by its cluster's agent.

The hub reserves the servers it is allocating so concurrent requests never pick the same one;
the owning agent writes opsState Allocated only if the server is still Ready with opsState
None, else reports a conflict and the next candidate is tried. A request_id's answer is kept
in the store, so a repeated request gets the same server, also from a restarted hub. The agent
writes the request_id on the GameServer with the allocation, so a server allocated by a hub
that died before its record was written is still found by a retry of that request_id.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from gamefleet.v1 import gameserver_pb2

from hub.core import allocation
from hub.registry.allocations import RETENTION_S, Allocation, AllocationRegistry

from .federation import Federation

log = logging.getLogger(__name__)

RequestKey = tuple[str, str, str]
SWEEP_INTERVAL_S = 60.0


class NoFleetError(Exception):
    """The fleet does not exist."""


class ExhaustedError(Exception):
    """No game server of the fleet can be allocated."""


@dataclasses.dataclass(frozen=True)
class Request:
    namespace: str
    fleet: str
    request_id: str
    selectors: Sequence[Mapping[str, str]] = ()
    preferred: Sequence[str] = ()
    scheduling: allocation.Scheduling = allocation.Scheduling.PACKED
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> RequestKey:
        return (self.namespace, self.fleet, self.request_id)


class Allocator:
    def __init__(
        self,
        federation: Federation,
        registry: AllocationRegistry,
        wall: Callable[[], float] = time.time,
        operation_timeout: float = 10.0,
    ) -> None:
        self._federation = federation
        self._registry = registry
        self._wall = wall
        self._timeout = operation_timeout
        # (cluster, namespace, name) of servers being allocated right now.
        self._reserved: set[tuple[str, str, str]] = set()
        self._inflight: dict[RequestKey, asyncio.Task[tuple[gameserver_pb2.GameServer, bool]]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="sweep-allocations")

    async def stop(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def allocate(self, request: Request) -> tuple[gameserver_pb2.GameServer, bool]:
        """The allocated server and whether this is the replay of an earlier answer.

        The work runs in its own task: a caller that goes away (a cancelled call) does not stop
        it, so a server the agent allocated always gets its record.
        """
        if not self._federation.has_fleet(request.namespace, request.fleet):
            raise NoFleetError(f"fleet {request.namespace}/{request.fleet} not found")
        first = self._inflight.get(request.key)
        if first is not None:
            server, _ = await asyncio.shield(first)
            self._count("replayed")
            return server, True
        task = asyncio.create_task(self._answer(request), name=f"allocate {request.key}")
        self._inflight[request.key] = task
        task.add_done_callback(functools.partial(self._finished, request.key))
        return await asyncio.shield(task)

    def _finished(
        self, key: RequestKey, task: asyncio.Task[tuple[gameserver_pb2.GameServer, bool]]
    ) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here: every caller may have gone

    async def _answer(self, request: Request) -> tuple[gameserver_pb2.GameServer, bool]:
        recorded = await self._registry.get(*request.key)
        if recorded is not None:
            self._count("replayed")
            return recorded.game_server, True
        unrecorded = self._federation.allocated_for(*request.key)
        if unrecorded is not None:
            await self._registry.save(*request.key, Allocation(unrecorded, self._wall()))
            self._count("recovered")
            return unrecorded, True
        server = await self._allocate(request)
        await self._registry.save(*request.key, Allocation(server, self._wall()))
        self._count("allocated")
        return server, False

    def _count(self, outcome: str) -> None:
        self._federation.stats.allocations[outcome] += 1

    async def _allocate(self, request: Request) -> gameserver_pb2.GameServer:
        tried: set[tuple[str, str]] = set()
        while True:
            reserved = [(c, n) for c, ns, n in self._reserved if ns == request.namespace]
            best = self._federation.choose_allocation(
                request.namespace,
                request.fleet,
                request.selectors,
                request.scheduling,
                request.preferred,
                reserved=reserved,
                tried=tried,
            )
            if best is None:
                self._count("exhausted")
                raise ExhaustedError(
                    f"no Ready game server of fleet {request.namespace}/{request.fleet}"
                    " can be allocated"
                )
            tried.add((best.cluster, best.name))
            hold = (best.cluster, best.namespace, best.name)
            self._reserved.add(hold)
            try:
                allocated = await self._federation.allocate_on(
                    best,
                    request.request_id,
                    dict(request.labels),
                    dict(request.annotations),
                    self._timeout,
                )
            except (ConnectionError, TimeoutError, RuntimeError) as exc:
                log.warning("allocating %s/%s: %s", best.cluster, best.name, exc or "timed out")
                reason = "error" if isinstance(exc, RuntimeError) else "unanswered"
                self._federation.stats.allocation_retries[reason] += 1
                continue
            finally:
                self._reserved.discard(hold)
            if allocated is not None:
                return allocated
            self._federation.stats.allocation_retries["conflict"] += 1

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                removed = await self._registry.sweep(self._wall(), RETENTION_S)
            except Exception:
                log.exception("sweeping allocation records")
                continue
            if removed:
                log.info("swept %d allocation records", removed)
