"""Server groups: several servers for one match, in one cluster (or zone), all or nothing.

Built on the single allocation: each member is an allocation of its own, under the request id
``<group request id>/<member name>``, so it is exactly once by the same records, intents and
agent checks; the member is only restricted to the place the group tries. The group records
its members (*pending*) before taking any, and its answer before the caller hears it. When a
member cannot be had in a place, the members already taken there are given back (a release by
their request ids) and the next place is tried. A pending record found later — a retry, a
restarted hub, the sweep — means the group may hold some members and was never answered: they
are all given back first (the group is rolled back, never completed), then a retry allocates
the group afresh. So a caller sees every member or an error, never a partial group.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from gamefleet import capacity_wire
from gamefleet.v1 import gameserver_pb2

from hub.core import allocation, groups
from hub.registry.allocation_groups import Group, GroupRegistry, Member
from hub.registry.allocations import RETENTION_S

from .allocator import (
    SWEEP_INTERVAL_S,
    Allocator,
    ExhaustedError,
    NoFleetError,
    OutcomeUnknownError,
    Request,
)

log = logging.getLogger(__name__)

GroupKey = tuple[str, str]
Answer = tuple[list[gameserver_pb2.GameServer], bool]


@dataclasses.dataclass(frozen=True)
class GroupRequest:
    request_id: str
    # Member name → its request (its request_id is the group's; the member's is made here).
    members: Sequence[tuple[str, Request]]
    same: groups.Same = groups.Same.CLUSTER

    @property
    def namespace(self) -> str:
        return self.members[0][1].namespace

    @property
    def key(self) -> GroupKey:
        return (self.namespace, self.request_id)

    def member(self, name: str, request: Request, place: groups.Place) -> Request:
        return dataclasses.replace(
            request,
            request_id=groups.member_request_id(self.request_id, name),
            preferred=[place.cluster],
            within=place,
        )

    def record(self, when: float) -> Group:
        return Group(
            namespace=self.namespace,
            request_id=self.request_id,
            members=[
                Member(name, r.fleet, groups.member_request_id(self.request_id, name))
                for name, r in self.members
            ],
            time=when,
        )


class GroupAllocator:
    def __init__(
        self,
        allocator: Allocator,
        registry: GroupRegistry,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._allocator = allocator
        self._registry = registry
        self._wall = wall
        self._inflight: dict[GroupKey, asyncio.Task[Answer]] = {}
        # Held while a group's record is read and acted on (by its allocation or a recovery),
        # with how many hold or wait for it (the entry goes with the last).
        self._locks: dict[GroupKey, tuple[asyncio.Lock, list[int]]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="recover-groups")

    async def allocate(self, group: GroupRequest) -> Answer:
        """Every member's server (in the members' order), and whether this is a replay."""
        for _, request in group.members:
            if not self._allocator.federation.has_fleet(request.namespace, request.fleet):
                raise NoFleetError(f"fleet {request.namespace}/{request.fleet} not found")
        first = self._inflight.get(group.key)
        if first is not None:
            servers, _ = await asyncio.shield(first)
            return servers, True
        task = asyncio.create_task(self._answer(group), name=f"allocate group {group.key}")
        self._inflight[group.key] = task
        task.add_done_callback(functools.partial(self._finished, group.key))
        return await asyncio.shield(task)

    def _finished(self, key: GroupKey, task: asyncio.Task[Answer]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here: every caller may have gone

    async def stop(self) -> None:
        tasks: list[asyncio.Task[Any]] = list(self._inflight.values())
        if self._sweeper is not None:
            tasks.append(self._sweeper)
            self._sweeper = None
        for task in tasks:  # all cancelled before any is awaited
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @contextlib.asynccontextmanager
    async def _lock(self, key: GroupKey) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[key]

    async def _answer(self, group: GroupRequest) -> Answer:
        async with self._lock(group.key):
            return await self._answer_locked(group)

    async def _answer_locked(self, group: GroupRequest) -> Answer:
        recorded = await self._registry.get(*group.key)
        if recorded is not None and recorded.answered:
            return list(recorded.servers), True
        if recorded is not None:
            await self._roll_back(recorded.members, group.namespace)
        await self._registry.save(group.record(self._wall()))
        servers, missing, unanswered = await self._try_places(group)
        if servers is None:
            await self._registry.delete(*group.key)  # nothing of it is held
            if unanswered:
                raise OutcomeUnknownError(
                    f"the agent asked for member {missing!r} of group {group.request_id} did"
                    " not answer; nothing of the group is held: retry with the same request_id"
                )
            raise ExhaustedError(
                f"member {missing!r} of group {group.request_id} cannot be allocated in any"
                f" cluster{' zone' if group.same is groups.Same.ZONE else ''} where every"
                " other member can"
            )
        answered = dataclasses.replace(group.record(self._wall()), servers=servers)
        await self._registry.save(answered)
        return servers, False

    async def _try_places(
        self, group: GroupRequest
    ) -> tuple[list[gameserver_pb2.GameServer] | None, str, bool]:
        """Every member's server in the first place that gives them all; else None, the
        member the last place could not give, and whether that was for an agent that did not
        answer (rather than no server)."""
        found = {name: self._places(request, group.same) for name, request in group.members}
        preferred = [c for _, r in group.members for c in r.preferred]
        missing = groups.first_missing(found) or group.members[0][0]
        unanswered = False
        for place in groups.places(found, preferred):
            members = [group.member(name, request, place) for name, request in group.members]
            # The members at once: a group costs the store commits of one allocation.
            results = await asyncio.gather(
                *(self._allocator.allocate_member(m) for m in members), return_exceptions=True
            )
            taken: list[Member] = []
            servers: list[gameserver_pb2.GameServer] = []
            failed: BaseException | None = None
            for (name, _), member, result in zip(group.members, members, results, strict=True):
                held = Member(name, member.fleet, member.request_id)
                if isinstance(result, gameserver_pb2.GameServer):
                    taken.append(held)
                    servers.append(result)
                    continue
                if isinstance(result, OutcomeUnknownError):
                    # Its agent may hold it: give it back too (the release is by its request
                    # id), or fail retryably with the group pending.
                    taken.append(held)
                if failed is None:
                    failed, missing = result, name
                    unanswered = isinstance(result, OutcomeUnknownError)
            if failed is None:
                return servers, "", False
            log.info("group %s: member %s not had in %s; giving back", group.key, missing, place)
            await self._roll_back(taken, group.namespace)
            if not isinstance(failed, ExhaustedError | OutcomeUnknownError):
                raise failed  # a store error: nothing is held, the caller may retry
        return None, missing, unanswered

    def _places(self, request: Request, same: groups.Same) -> set[groups.Place]:
        federation = self._allocator.federation
        if same is groups.Same.CLUSTER and not request.by_capacity:
            # The fleet's pool answers per cluster without walking the fleet's servers.
            return {
                groups.Place(cluster)
                for cluster in federation.ready_clusters()
                if self._has_candidate(request, cluster)
            }
        servers: list[tuple[allocation.Server, str]]
        if same is groups.Same.ZONE:  # the zone is only in the reported server: decode it
            found = federation.fleet_servers(request.namespace, request.fleet)
            servers = [(_view(s), s.zone) for s in found]
        else:
            servers = [(v, "") for v in federation.fleet_views(request.namespace, request.fleet)]
        return groups.member_places(
            servers,
            federation.ready_clusters(),
            request.capacity_selectors(),
            request.actions,
            same,
        )

    def _has_candidate(self, request: Request, cluster: str) -> bool:
        best = self._allocator.federation.choose_allocation(
            request.namespace, request.fleet, request.selectors, request.scheduling, [cluster]
        )
        return best is not None and best.cluster == cluster

    async def _roll_back(self, members: Sequence[Member], namespace: str) -> None:
        """Give back every member's server (by its own request id). OutcomeUnknownError when an
        agent cannot be asked: the group stays pending and a retry (or the sweep) asks again."""
        for member in members:
            await self._allocator.give_back(namespace, member.fleet, member.request_id)

    async def recover(self, older_than: float = 0.0) -> int:
        """Roll back the pending groups no task of this hub is allocating (a hub stopped
        between their members), and forget answered ones older than ``older_than`` seconds
        (0: keep them). Returns how many records were removed."""
        removed = 0
        now = self._wall()
        for listed in await self._registry.list():
            key = (listed.namespace, listed.request_id)
            if key in self._inflight:
                continue
            async with self._lock(key):
                group = await self._registry.get(*key)  # as it is now, under the lock
                if group is None:
                    continue
                if group.answered:
                    if older_than and now - group.time > older_than:
                        await self._registry.delete(*key)
                        removed += 1
                    continue
                try:
                    await self._roll_back(group.members, group.namespace)
                except OutcomeUnknownError as exc:
                    log.info("rolling back group %s later: %s", key, exc)
                    continue
                await self._registry.delete(*key)
                log.info("rolled back group %s, which was never answered", key)
                removed += 1
        return removed

    async def _sweep_loop(self) -> None:
        older_than = 0.0  # at start: roll back what a stopped hub left pending
        while True:
            try:
                removed = await self.recover(older_than)
            except Exception:
                log.exception("recovering allocation groups")
            else:
                if removed:
                    log.info("swept %d allocation group records", removed)
            older_than = RETENTION_S
            await asyncio.sleep(SWEEP_INTERVAL_S)


def _view(server: gameserver_pb2.GameServer) -> allocation.Server:
    return allocation.Server(
        cluster=server.cluster,
        name=server.name,
        state=server.state,
        ops_state=server.ops_state,
        node=server.node,
        labels=dict(server.labels),
        deleting=server.deleted,
        network_disabled=server.network_disabled,
        capacity=capacity_wire.of(server.counters, server.lists),
    )
