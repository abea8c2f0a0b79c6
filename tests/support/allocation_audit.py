"""Allocation under faults, audited: matchmakers that allocate and retry the same request id
after any error, a record of every answer, a watch of the clusters' GameServers and pods, and
the counts that must be 0 (shared by `bench/allocation_chaos.py` and the federation e2e test).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping

import grpc
from gamefleet import protocol
from gamefleet.v1 import allocation_pb2, allocation_pb2_grpc

from agent.kube import cache as kcache
from agent.kube import client as kclient
from agent.kube import resources

CALL_TIMEOUT_S = 10.0
# An answer must show Allocated with its request id this long after it, or after the component
# under fault is back.
LOST_AFTER_S = 5.0
# A reconnecting client: a restarted hub is found again within a second.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]

Server = tuple[str, str]
"""(cluster, name)."""
Final = dict[Server, tuple[kclient.Obj, kclient.Obj]]
"""Every GameServer of the namespace, with its pod ({} when none), as listed at the end."""


@dataclasses.dataclass
class Answer:
    request_id: str
    server: Server
    at: float
    pod_uid: str  # as the watch showed it at the answer ("" when not seen yet)
    restarts: int


@dataclasses.dataclass
class Fault:
    kind: str
    killed_at: float
    started_at: float = 0.0
    back_at: float = 0.0
    first_answer_at: float | None = None


@dataclasses.dataclass
class Record:
    """What the clients were told, and what the clusters showed; times in s from `started`."""

    started: float = dataclasses.field(default_factory=time.monotonic)
    answers: list[Answer] = dataclasses.field(default_factory=list)
    errors: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    abandoned: int = 0
    replays: int = 0
    faults: list[Fault] = dataclasses.field(default_factory=list)
    # (cluster, name, request id) -> when the GameServer first said Allocated with that id.
    allocated: dict[tuple[str, str, str], float] = dataclasses.field(default_factory=dict)
    # (cluster, name) -> times its GameServer or pod was deleted.
    deleted: collections.defaultdict[Server, list[float]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )
    game_servers_deleted: int = 0

    def now(self) -> float:
        return time.monotonic() - self.started


def uid_and_restarts(pod: kclient.Obj) -> tuple[str, int]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    return str((pod.get("metadata") or {}).get("uid") or ""), restarts


def _allocated_for(game_server: kclient.Obj) -> str | None:
    """The request id the GameServer says it is Allocated for, if it does."""
    meta = game_server.get("metadata") or {}
    stamp = (meta.get("annotations") or {}).get(protocol.ALLOCATION_REQUEST_ANNOTATION)
    if (game_server.get("spec") or {}).get("opsState") != "Allocated" or not stamp:
        return None
    return str(stamp)


class Observer:
    """A watch of each cluster's GameServers and pods in one namespace."""

    def __init__(
        self, kubes: Mapping[str, kclient.KubeClient], namespace: str, record: Record
    ) -> None:
        self.record = record
        self.namespace = namespace
        self.game_servers: dict[str, kcache.WatchCache] = {}
        self.pods: dict[str, kcache.WatchCache] = {}
        self._tasks: list[asyncio.Task[None]] = []
        for cluster, kube in kubes.items():
            gs = kcache.WatchCache(kube, resources.GAME_SERVER, namespace=namespace)
            pods = kcache.WatchCache(kube, resources.POD, namespace=namespace)
            gs.add_handler(self._on_game_server(cluster))
            pods.add_handler(self._on_pod(cluster))
            self.game_servers[cluster], self.pods[cluster] = gs, pods

    def _on_game_server(self, cluster: str) -> Callable[[kcache.EventType, kclient.Obj], None]:
        def handle(kind: kcache.EventType, obj: kclient.Obj) -> None:
            name = str((obj.get("metadata") or {}).get("name"))
            if kind is kcache.EventType.DELETED:
                self.record.deleted[(cluster, name)].append(self.record.now())
                self.record.game_servers_deleted += 1
            elif (request_id := _allocated_for(obj)) is not None:
                self.record.allocated.setdefault((cluster, name, request_id), self.record.now())

        return handle

    def _on_pod(self, cluster: str) -> Callable[[kcache.EventType, kclient.Obj], None]:
        def handle(kind: kcache.EventType, obj: kclient.Obj) -> None:
            if kind is kcache.EventType.DELETED:
                name = str((obj.get("metadata") or {}).get("name"))
                self.record.deleted[(cluster, name)].append(self.record.now())

        return handle

    async def start(self) -> None:
        for cache in [*self.game_servers.values(), *self.pods.values()]:
            self._tasks.append(asyncio.create_task(cache.run()))
            await asyncio.wait_for(cache.synced.wait(), 120)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def pod(self, server: Server) -> tuple[str, int]:
        """The pod's uid and its containers' restarts, as last seen."""
        pod = self.pods[server[0]].get((self.namespace, server[1])) or {}
        return uid_and_restarts(pod)

    async def settle(self, seconds: float) -> None:
        """Until every answer shows Allocated with its request id (at most `seconds`)."""
        wanted = {(*a.server, a.request_id) for a in self.record.answers}
        deadline = time.monotonic() + seconds
        caches = list(self.game_servers.values())
        while time.monotonic() < deadline and not wanted <= self.record.allocated.keys():
            await asyncio.wait(
                [asyncio.create_task(cache.next_change(0.5)) for cache in caches],
                return_when=asyncio.FIRST_COMPLETED,
            )


class Matchmakers:
    """`clients` concurrent callers: fresh request ids, the same id again after any error
    until answered, and every tenth answered id asked once more (it must name the same
    server)."""

    def __init__(
        self, channel: grpc.aio.Channel, observer: Observer, fleet: str, prefix: str
    ) -> None:
        self.stub = allocation_pb2_grpc.AllocationServiceStub(channel)
        self.observer = observer
        self.record = observer.record
        self.fleet = fleet
        self.prefix = prefix
        self.until = float("inf")  # s from the record's start; the caller may move it

    async def run(self, clients: int, seconds: float | None = None) -> None:
        """Until `seconds` (default: until `until` is set and reached)."""
        if seconds is not None:
            self.until = seconds
        await asyncio.gather(*(self._client(i) for i in range(clients)))

    async def _client(self, index: int) -> None:
        sent = 0
        while self.record.now() < self.until:
            request_id = f"{self.prefix}-c{index}-{sent}"
            sent += 1
            answer = await self._allocate(request_id)
            if answer is not None and sent % 10 == 0:
                self.record.replays += 1
                await self._allocate(request_id)

    async def _allocate(self, request_id: str) -> Answer | None:
        request = allocation_pb2.AllocateRequest(
            namespace=self.observer.namespace,
            fleet=self.fleet,
            request_id=request_id,
            scheduling=allocation_pb2.DISTRIBUTED,
        )
        while True:
            try:
                response = await self.stub.Allocate(request, timeout=CALL_TIMEOUT_S)
            except grpc.aio.AioRpcError as error:
                self.record.errors[error.code().name] += 1
                if self.record.now() >= self.until:
                    self.record.abandoned += 1
                    return None
                exhausted = error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
                await asyncio.sleep(0.5 if exhausted else 0.2)  # a matchmaker's backoff
                continue
            server = (response.game_server.cluster, response.game_server.name)
            uid, restarts = self.observer.pod(server)
            answer = Answer(request_id, server, self.record.now(), uid, restarts)
            self.record.answers.append(answer)
            for fault in self.record.faults:
                if fault.back_at and fault.first_answer_at is None:
                    fault.first_answer_at = answer.at
            return answer


async def final_state(kubes: Mapping[str, kclient.KubeClient], namespace: str) -> Final:
    """Every GameServer and pod of the namespace, listed from each cluster now."""
    found: Final = {}
    for cluster, kube in kubes.items():
        servers = await kube.request("GET", resources.GAME_SERVER.collection(namespace))
        pods = await kube.request("GET", resources.POD.collection(namespace))
        by_name = {p["metadata"]["name"]: p for p in pods.get("items") or []}
        for gs in servers.get("items") or []:
            name = gs["metadata"]["name"]
            found[(cluster, name)] = (gs, by_name.get(name, {}))
    return found


@dataclasses.dataclass
class Counts:
    double_servers: int  # servers answered to two request ids
    double_ids: int  # request ids answered with two servers
    late: int  # answers not Allocated with their id within LOST_AFTER_S (of recovery)
    never: int  # answers not Allocated with their id at the end
    disturbed: int  # answered servers deleted or restarted afterwards
    stray: int  # servers Allocated for a request id that was answered with another server
    unanswered: int  # servers Allocated for a request id never answered
    answered: int
    lags: list[float]  # answer -> GameServer Allocated with its id, sorted
    # What each counted case was, to look into: (count, request id, cluster/name, detail).
    cases: list[tuple[str, str, str, str]] = dataclasses.field(default_factory=list)


def lost_after(record: Record, answered_at: float) -> float:
    """By when an answer must show Allocated: 5 s after it, or after the component under
    fault (then, or within 5 s after the answer) is back."""
    bound = answered_at + LOST_AFTER_S
    for fault in record.faults:
        if fault.killed_at <= bound and answered_at <= fault.back_at:
            bound = max(bound, fault.back_at + LOST_AFTER_S)
    return bound


def count(record: Record, final: Final) -> Counts:
    ids_by_server: dict[Server, set[str]] = collections.defaultdict(set)
    servers_by_id: dict[str, set[Server]] = collections.defaultdict(set)
    first: dict[str, Answer] = {}
    for answer in record.answers:
        ids_by_server[answer.server].add(answer.request_id)
        servers_by_id[answer.request_id].add(answer.server)
        first.setdefault(answer.request_id, answer)
    late, never, disturbed = 0, 0, 0
    cases: list[tuple[str, str, str, str]] = []
    for server, ids in ids_by_server.items():
        if len(ids) > 1:
            times = sorted((a.at, a.request_id) for a in record.answers if a.server == server)
            cases.append(("double server", ",".join(sorted(ids)), "/".join(server), str(times)))
    lags: list[float] = []
    for answer in first.values():
        seen = record.allocated.get((*answer.server, answer.request_id))
        if seen is not None:
            lags.append(max(0.0, seen - answer.at))
        if seen is None or seen > lost_after(record, answer.at):
            late += 1
        gs, pod = final.get(answer.server, ({}, {}))
        where = "/".join(answer.server)
        if _allocated_for(gs) != answer.request_id:
            never += 1
            cases.append(("never", answer.request_id, where, f"at the end: {_allocated_for(gs)}"))
        uid, restarts = uid_and_restarts(pod)
        deleted_after = [t for t in record.deleted.get(answer.server, []) if t > answer.at]
        moved = bool(answer.pod_uid) and uid != answer.pod_uid
        if not gs or deleted_after or moved or restarts > answer.restarts:
            disturbed += 1
            detail = (
                f"answered at {answer.at:.1f} s; gone: {not gs}; deleted at {deleted_after}; "
                f"pod uid {answer.pod_uid} -> {uid}; restarts {answer.restarts} -> {restarts}"
            )
            cases.append(("disturbed", answer.request_id, where, detail))
    stray, unanswered = 0, 0
    for server, (gs, _) in final.items():
        stamp = _allocated_for(gs)
        if stamp is None:
            continue
        if stamp not in first:
            unanswered += 1
        elif first[stamp].server != server:
            stray += 1
            answered = "/".join(first[stamp].server)
            cases.append(("stray", stamp, "/".join(server), f"answered with {answered}"))
    return Counts(
        double_servers=sum(1 for ids in ids_by_server.values() if len(ids) > 1),
        double_ids=sum(1 for servers in servers_by_id.values() if len(servers) > 1),
        late=late,
        never=never,
        disturbed=disturbed,
        stray=stray,
        unanswered=unanswered,
        answered=len(first),
        lags=sorted(lags),
        cases=cases,
    )
