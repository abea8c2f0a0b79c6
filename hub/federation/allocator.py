"""Allocations: a Ready game server of a fleet for a match, committed by its cluster's agent.

The hub reserves the servers it is allocating so concurrent requests never pick the same one,
and records its choice (an intent) before it asks the owning agent; the agent takes the server
only if it is still Ready with opsState None, else reports a conflict and the next candidate is
tried. The answer is recorded before the caller hears it, so a repeated request gets the same
server, also from a restarted hub. A retry that finds only an intent asks the intended server's
agent again (the agent answers a request_id it already holds with the same server), so a hub
that died between the agent's commit and the answer never makes a request take two servers.
An intent nobody retried is given back when its record expires: no caller was ever told.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from gamefleet import capacity_wire, telemetry
from gamefleet.v1 import gameserver_pb2

from hub.core import allocation, groups
from hub.registry.allocations import RETENTION_S, Allocation, AllocationRegistry
from okg import capacity

from .federation import Federation
from .links import NotConnectedError

log = logging.getLogger(__name__)

RequestKey = tuple[str, str, str]
SWEEP_INTERVAL_S = 60.0
# A server an agent answered with an error is given back in this many attempts, the pause
# between them growing by this much (its agent may be reconnecting).
_GIVE_BACK_ATTEMPTS = 5
_GIVE_BACK_PAUSE_S = 2.0


class NoFleetError(Exception):
    """The fleet does not exist."""


class ExhaustedError(Exception):
    """No game server of the fleet can be allocated."""


class OutcomeUnknownError(Exception):
    """The agent asked to commit the request's server did not answer: a retry of the same
    request_id finds out which server it holds, if any."""


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
    # Allocation by capacity: each selector's state, counters and lists (one per selector,
    # or one without selectors), and the changes the allocation makes.
    needs: Sequence[capacity.Need] = ()
    actions: capacity.Actions = capacity.NO_ACTIONS
    # A member of a server group: only this cluster (and zone) may give the server.
    within: groups.Place | None = None

    @property
    def key(self) -> RequestKey:
        return (self.namespace, self.fleet, self.request_id)

    @property
    def by_capacity(self) -> bool:
        return bool(self.actions) or any(not need.plain() for need in self.needs)

    def capacity_selectors(self) -> list[allocation.Selector]:
        if not self.selectors:
            return [allocation.Selector({}, self.needs[0] if self.needs else capacity.NO_NEED)]
        needs = list(self.needs) or [capacity.NO_NEED] * len(self.selectors)
        return [allocation.Selector(dict(s), n) for s, n in zip(self.selectors, needs, strict=True)]

    def need_of(self, server: gameserver_pb2.GameServer) -> capacity.Need:
        """The need of the first selector that ``server`` matches (the one that chose it)."""
        held = capacity_wire.of(server.counters, server.lists)
        allocated = server.ops_state == allocation.ALLOCATED
        for selector in self.capacity_selectors():
            need = selector.need
            if (
                allocation.matches(server.labels, selector.labels)
                and need.allocated == allocated
                and capacity.within(held, need)
            ):
                return need
        return capacity.NO_NEED


class Allocator:
    def __init__(
        self,
        federation: Federation,
        registry: AllocationRegistry,
        wall: Callable[[], float] = time.time,
        operation_timeout: float = 10.0,
        resume_wait: float = 10.0,
    ) -> None:
        self._federation = federation
        self._registry = registry
        self._wall = wall
        self._timeout = operation_timeout
        # How long a retry waits for the cluster of the server its intent names.
        self._resume_wait = resume_wait
        # (cluster, namespace, name) of servers being allocated right now.
        self._reserved: set[tuple[str, str, str]] = set()
        # Set (and replaced) whenever a reservation ends.
        self._release_event = asyncio.Event()
        self._inflight: dict[RequestKey, asyncio.Task[tuple[gameserver_pb2.GameServer, bool]]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        # Give-backs of servers an agent answered with an error, running after their answer.
        self._give_backs: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._sweeper = self._federation.supervise("sweep-allocations", self._sweep_loop)

    async def stop(self) -> None:
        for task in [*self._inflight.values(), *self._give_backs]:
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
        # Servers whose agent answered this request with an error: the write may have landed
        # all the same (an API server that failed after committing it).
        errored: list[gameserver_pb2.GameServer] = []
        try:
            return await self._answer_once(request, errored)
        finally:
            if errored:
                self._give_back_later(request, errored)

    async def _answer_once(
        self, request: Request, errored: list[gameserver_pb2.GameServer]
    ) -> tuple[gameserver_pb2.GameServer, bool]:
        recorded = await self._registry.get(*request.key)
        if recorded is not None and recorded.answered:
            self._count("replayed")
            return recorded.game_server, True
        if recorded is not None:
            held = await self._resume(request, recorded.game_server, errored)
            if held is not None:
                await self._record(request, held, answered=True)
                self._count("resumed")
                return held, True
        elif request.within is None:
            # A group member's record is authoritative: the group deletes it only once the
            # agent gave its server back, which the live state may not show yet.
            unrecorded = self._federation.allocated_for(*request.key)
            if unrecorded is not None:
                await self._record(request, unrecorded, answered=True)
                self._count("recovered")
                return unrecorded, True
        server = await self._allocate(request, errored)
        with telemetry.span("allocation.record_answer"):
            await self._record(request, server, answered=True)
        self._count("allocated")
        return server, False

    async def _record(
        self, request: Request, server: gameserver_pb2.GameServer, answered: bool
    ) -> None:
        kept = gameserver_pb2.GameServer()
        kept.CopyFrom(server)
        kept.allocation_request_id = request.request_id
        await self._registry.save(*request.key, Allocation(kept, self._wall(), answered))

    def _count(self, outcome: str) -> None:
        self._federation.stats.allocations[outcome] += 1

    async def _resume(
        self,
        request: Request,
        intended: gameserver_pb2.GameServer,
        errored: list[gameserver_pb2.GameServer],
    ) -> gameserver_pb2.GameServer | None:
        """Ask the agent of the server an earlier attempt chose for this request to commit it
        again: the same server when the agent holds it for the request (or takes it now), None
        when it is another's (then the request is free to take any)."""
        if not await self._federation.wait_connected(intended.cluster, self._resume_wait):
            self._count("unknown")
            raise OutcomeUnknownError(
                f"request {request.request_id} may hold a server in cluster {intended.cluster},"
                " which is not connected; retry with the same request_id"
            )
        server = self._federation.live_server(intended.cluster, intended.namespace, intended.name)
        return await self._commit(request, server or intended, errored)

    async def _commit(
        self,
        request: Request,
        server: gameserver_pb2.GameServer,
        errored: list[gameserver_pb2.GameServer],
    ) -> gameserver_pb2.GameServer | None:
        """Have the agent commit ``server`` to the request: the server as allocated, or None
        when the agent could not take it (a conflict, or an error it reported: then the server
        is added to ``errored``)."""
        hold = (server.cluster, server.namespace, server.name)
        self._reserved.add(hold)
        need = None
        if request.by_capacity:
            need = capacity_wire.need_message(request.need_of(server), request.actions)
        attributes = {"cluster": server.cluster, "game_server": server.name}
        try:
            with telemetry.span("allocation.agent_round_trip", attributes):
                allocated = await self._federation.allocate_on(
                    server,
                    request.request_id,
                    dict(request.labels),
                    dict(request.annotations),
                    self._timeout,
                    need,
                )
        except NotConnectedError as exc:
            log.warning("allocating %s/%s: %s", server.cluster, server.name, exc)
            self._federation.stats.allocation_retries["unanswered"] += 1
            return None
        except (ConnectionError, TimeoutError) as exc:
            # Asked, and no answer: the agent may hold it. Never take a second server for the
            # request; the intent names this one, so a retry asks again.
            self._count("unknown")
            raise OutcomeUnknownError(
                f"the agent of {server.cluster} did not answer ({exc or 'timed out'});"
                " retry with the same request_id"
            ) from None
        except RuntimeError as exc:
            log.warning("allocating %s/%s: %s", server.cluster, server.name, exc)
            self._federation.stats.allocation_retries["error"] += 1
            errored.append(server)
            return None
        finally:
            self._unreserve(hold)
        if allocated is None:
            self._federation.stats.allocation_retries["conflict"] += 1
        return allocated

    async def _allocate(
        self, request: Request, errored: list[gameserver_pb2.GameServer]
    ) -> gameserver_pb2.GameServer:
        tried: set[tuple[str, str]] = set()
        while True:
            reserved = [(c, n) for c, ns, n in self._reserved if ns == request.namespace]
            with telemetry.span("allocation.choose"):
                best = self._choose(request, reserved, tried)
            if self._worth_waiting(request, best, reserved, tried):
                await self._release_event.wait()
                continue
            if best is not None and request.within is not None:
                if best.cluster != request.within.cluster:
                    best = None  # the member's place has none left
                elif request.within.zone and best.zone != request.within.zone:
                    tried.add((best.cluster, best.name))
                    continue
            if best is None:
                self._count("exhausted")
                raise ExhaustedError(
                    f"no Ready game server of fleet {request.namespace}/{request.fleet}"
                    " can be allocated"
                )
            tried.add((best.cluster, best.name))
            hold = (best.cluster, best.namespace, best.name)
            self._reserved.add(hold)  # held across the intent's commit too
            try:
                with telemetry.span("allocation.record_intent"):
                    await self._record(request, best, answered=False)
                allocated = await self._commit(request, best, errored)
            finally:
                self._unreserve(hold)
            if allocated is not None:
                return allocated

    def _worth_waiting(
        self,
        request: Request,
        best: gameserver_pb2.GameServer | None,
        reserved: list[tuple[str, str]],
        tried: set[tuple[str, str]],
    ) -> bool:
        """No server for an allocation by capacity, but one being allocated to another request
        would fit it, and may still have room after (re-allocation): wait for it rather than
        answer that nothing has room."""
        return (
            best is None
            and request.by_capacity
            and bool(reserved)
            and self._choose(request, [], tried) is not None
        )

    def _unreserve(self, hold: tuple[str, str, str]) -> None:
        self._reserved.discard(hold)
        self._release_event.set()
        self._release_event = asyncio.Event()

    def _choose(
        self,
        request: Request,
        reserved: list[tuple[str, str]],
        tried: set[tuple[str, str]],
    ) -> gameserver_pb2.GameServer | None:
        if request.by_capacity:
            return self._federation.choose_by_capacity(
                request.namespace,
                request.fleet,
                request.capacity_selectors(),
                request.actions,
                request.scheduling,
                request.preferred,
                reserved=reserved,
                tried=tried,
            )
        return self._federation.choose_allocation(
            request.namespace,
            request.fleet,
            request.selectors,
            request.scheduling,
            request.preferred,
            reserved=reserved,
            tried=tried,
        )

    @property
    def federation(self) -> Federation:
        return self._federation

    @property
    def resume_wait(self) -> float:
        return self._resume_wait

    async def allocate_member(self, request: Request) -> gameserver_pb2.GameServer:
        """A group member's server (``request.within`` set), exactly once by its request id;
        the group runs it inside its own task."""
        server, _ = await self._answer(request)
        return server

    async def give_back(self, namespace: str, fleet: str, request_id: str) -> None:
        """Give back the server a request holds (its record's), if any, and forget the request.

        Raises OutcomeUnknownError when the server's agent cannot be asked (its record stays,
        so a later call asks again).
        """
        record = await self._registry.get(namespace, fleet, request_id)
        if record is None:
            return
        server = record.game_server
        if not await self._federation.wait_connected(server.cluster, self._resume_wait):
            raise OutcomeUnknownError(
                f"request {request_id} may hold a server in cluster {server.cluster}, which is"
                " not connected; retry with the same request_id"
            )
        try:
            released = await self._federation.release_allocation(server, self._timeout)
        except (ConnectionError, TimeoutError, RuntimeError) as exc:
            raise OutcomeUnknownError(
                f"the agent of {server.cluster} did not give back {server.name} ({exc});"
                " retry with the same request_id"
            ) from None
        if released:
            self._federation.stats.allocations_released += 1
        await self._registry.delete(namespace, fleet, request_id)

    def _give_back_later(self, request: Request, errored: list[gameserver_pb2.GameServer]) -> None:
        """Once the request has its answer (or failed), give back each server an agent answered
        it with an error, if the agent holds it for the request after all: the release sets
        back only a server Allocated for this request id, so no other match's server moves."""
        for server in errored:
            stray = gameserver_pb2.GameServer()
            stray.CopyFrom(server)
            stray.allocation_request_id = request.request_id
            task = asyncio.create_task(
                self._give_back_stray(request.key, stray),
                name=f"give back {server.cluster}/{server.name}",
            )
            self._give_backs.add(task)
            task.add_done_callback(self._give_backs.discard)

    async def _give_back_stray(self, key: RequestKey, server: gameserver_pb2.GameServer) -> None:
        for attempt in range(_GIVE_BACK_ATTEMPTS):
            if attempt:
                await asyncio.sleep(_GIVE_BACK_PAUSE_S * attempt)
            if not await self._federation.wait_connected(server.cluster, self._resume_wait):
                continue
            if await self._answered_with(key, server):
                return  # a later attempt of the request took this server after all
            try:
                released = await self._federation.release_allocation(server, self._timeout)
            except (ConnectionError, TimeoutError, RuntimeError) as exc:
                log.info("giving back %s/%s: %s", server.cluster, server.name, exc)
                continue
            if released:
                self._federation.stats.allocations_released += 1
                log.info(
                    "gave back %s/%s: its agent answered request %s with an error, which was "
                    "answered with another server",
                    server.cluster,
                    server.name,
                    server.allocation_request_id,
                )
            return
        log.warning(
            "could not give back %s/%s (request %s) after %d attempts",
            server.cluster,
            server.name,
            server.allocation_request_id,
            _GIVE_BACK_ATTEMPTS,
        )

    async def _answered_with(self, key: RequestKey, server: gameserver_pb2.GameServer) -> bool:
        """True when the request's record names ``server`` (a retry may have taken it)."""
        record = await self._registry.get(*key)
        if record is None:
            return False
        kept = record.game_server
        return (kept.cluster, kept.name) == (server.cluster, server.name)

    async def sweep(self, now: float | None = None) -> int:
        """Delete expired records, giving back the servers of intents nobody was told of."""
        when = self._wall() if now is None else now
        return await self._registry.sweep(when, RETENTION_S, self._release)

    async def _release(self, record: Allocation) -> bool:
        server = record.game_server
        try:
            released = await self._federation.release_allocation(server, self._timeout)
        except (ConnectionError, TimeoutError, RuntimeError) as exc:
            log.info("giving back %s/%s later: %s", server.cluster, server.name, exc)
            return False
        if released:
            self._federation.stats.allocations_released += 1
            log.info(
                "gave back %s/%s: allocated for request %s, which was never answered",
                server.cluster,
                server.name,
                server.allocation_request_id,
            )
        return True

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                removed = await self.sweep()
            except Exception:
                log.exception("sweeping allocation records")
                continue
            if removed:
                log.info("swept %d allocation records", removed)
