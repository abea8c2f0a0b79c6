"""One set of watches for every open console page.

The hub's own API servicers feed it in process (WatchFleets, WatchGameServers, ListClusters,
ListEvents), so the console sees exactly what the API shows and is refused exactly when the API
is (a follower names its leader). While at least one page is open the feed runs:

- one WatchFleets of every namespace;
- per fleet some page shows, one WatchGameServers of that fleet and its recent events;
- ListClusters every ``cluster_interval`` (clusters have no watch; heartbeats move anyway);
- allocations per second and the autoscalers' last decisions, from the federation's counters,
  every ``activity_interval``.

Changes are gathered and sent every ``flush_interval`` as one server-sent event per kind,
encoded once and queued to every page as the same bytes: ten pages cost little more than one.
A page whose queue is full is dropped (its browser reconnects and gets a fresh snapshot)
rather than making the hub hold an unbounded backlog.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, cast

from gamefleet.v1 import cluster_pb2, event_pb2, fleet_pb2, gameserver_pb2

from hub.api.clusters import ClusterServicer
from hub.api.errors import AbortError, Context
from hub.api.events import EventServicer
from hub.api.fleets import FleetServicer
from hub.api.gameservers import GameServerServicer

from . import views

if TYPE_CHECKING:
    from hub.api.server import Hub

log = logging.getLogger(__name__)

FleetKey = tuple[str, str]
# Queued frames per page before it is dropped: at 4 flushes a second, a minute of backlog.
QUEUE_FRAMES = 256
# The allocation rate is the increase over this window.
RATE_WINDOW_S = 10.0
RETRY_S = (0.5, 1.0, 2.0, 5.0)
EVENTS_PER_FLEET = 20
DECISIONS_SHOWN = 10


def frame(kind: str, data: Any) -> bytes:
    """One server-sent event."""
    text = json.dumps(data, separators=(",", ":"))
    return f"event: {kind}\ndata: {text}\n\n".encode()


class Page:
    """One open console page: the frames waiting for its stream."""

    def __init__(self, fleet: FleetKey | None) -> None:
        self.fleet = fleet
        self.frames: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_FRAMES)
        self.dropped = False

    def send(self, data: bytes) -> None:
        if self.dropped:
            return
        try:
            self.frames.put_nowait(data)
        except asyncio.QueueFull:
            # The backlog goes; None tells the page's stream to end.
            self.dropped = True
            while not self.frames.empty():
                self.frames.get_nowait()
            self.frames.put_nowait(None)


def _problem(exc: BaseException) -> str:
    if isinstance(exc, AbortError):
        return f"{exc.code.name}: {exc.details}"
    return f"{type(exc).__name__}: {exc}"


async def _retrying(what: str, run: Callable[[], Coroutine[Any, Any, None]], feed: Feed) -> None:
    """Run ``run`` again after each failure, with backoff; the feed reports the failure."""
    failures = 0
    while True:
        try:
            await run()
            failures = 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            feed.report(what, _problem(exc))
            await asyncio.sleep(RETRY_S[min(failures, len(RETRY_S) - 1)])
            failures += 1


@dataclasses.dataclass
class _Changes:
    """What changed since the last flush, by key (the latest view) or removed (None)."""

    views: dict[Any, views.View | None] = dataclasses.field(default_factory=dict)
    reset: bool = False

    def frame_data(self, **extra: Any) -> dict[str, Any]:
        upsert = [v for v in self.views.values() if v is not None]
        delete = [list(k) for k, v in self.views.items() if v is None]
        return {**extra, "reset": self.reset, "upsert": upsert, "delete": delete}


class FleetServers:
    """The game servers (and recent events) of one fleet that some page shows."""

    def __init__(self, feed: Feed, key: FleetKey) -> None:
        self.feed = feed
        self.key = key
        self.servers: dict[tuple[str, str], views.View] = {}
        self.events: list[views.View] = []
        self.changes = _Changes()
        self.listed = False
        # Pages that open the fleet between two changes share one encoded snapshot (a fleet of
        # 100,000 servers is about 20 MB of JSON).
        self.version = 0
        self._snapshot: tuple[int, bytes] | None = None
        self._tasks = [
            asyncio.create_task(_retrying(f"game servers of {key[0]}/{key[1]}", self._watch, feed)),
            asyncio.create_task(_retrying(f"events of {key[0]}/{key[1]}", self._events, feed)),
        ]

    async def _watch(self) -> None:
        request = gameserver_pb2.WatchGameServersRequest(namespace=self.key[0], fleet=self.key[1])
        self.servers.clear()
        self.changes = _Changes(reset=True)
        self.version += 1
        stream = self.feed.game_servers.WatchGameServers(request, cast(Context, None))
        self.listed = True
        async for event in stream:
            server = event.game_server
            key = (server.cluster, server.name)
            if event.type == "DELETED":
                self.servers.pop(key, None)
                self.changes.views[key] = None
            else:
                view = views.game_server(server)
                self.servers[key] = view
                self.changes.views[key] = view
            self.version += 1
            self.feed.clear(f"game servers of {self.key[0]}/{self.key[1]}")

    async def _events(self) -> None:
        request = event_pb2.ListEventsRequest(
            kind="Fleet", namespace=self.key[0], name=self.key[1], limit=EVENTS_PER_FLEET
        )
        while True:
            answer = await self.feed.events.ListEvents(request, cast(Context, None))
            shown = [views.event(e) for e in reversed(answer.events)]
            if shown != self.events:
                self.events = shown
                self.feed.broadcast_to(self.key, frame("events", self._events_data()))
            await asyncio.sleep(self.feed.events_interval)

    def _events_data(self) -> dict[str, Any]:
        return {"fleet": list(self.key), "events": self.events}

    def snapshot(self) -> list[bytes]:
        frames = [frame("events", self._events_data())]
        if self.listed:
            if self._snapshot is None or self._snapshot[0] != self.version:
                every = _Changes(views=dict(self.servers.items()), reset=True)
                data = frame("servers", every.frame_data(fleet=list(self.key)))
                self._snapshot = (self.version, data)
            frames.insert(0, self._snapshot[1])
        return frames

    def flush(self) -> bytes | None:
        if not self.changes.views and not self.changes.reset:
            return None
        changes, self.changes = self.changes, _Changes()
        return frame("servers", changes.frame_data(fleet=list(self.key)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Feed:
    """The live state every open page of one hub's console shows."""

    def __init__(
        self,
        hub: Hub,
        *,
        flush_interval: float = 0.25,
        cluster_interval: float = 2.0,
        activity_interval: float = 1.0,
        events_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hub = hub
        assert hub.fleets is not None and hub.clusters is not None, "the hub is not started"
        self.fleet_service = FleetServicer(hub.fleets, hub.gate)
        self.cluster_service = ClusterServicer(hub.clusters, hub.gate)
        self.game_servers = GameServerServicer(hub.gate)
        self.events = EventServicer(hub.gate)
        self.flush_interval = flush_interval
        self.cluster_interval = cluster_interval
        self.activity_interval = activity_interval
        self.events_interval = events_interval
        self._clock = clock
        self.pages: set[Page] = set()
        self.fleets: dict[FleetKey, views.View] = {}
        self.fleet_changes = _Changes()
        self.clusters: list[views.View] = []
        self.activity: dict[str, Any] = {"allocationsPerSecond": 0.0, "decisions": []}
        self._allocations: collections.deque[tuple[float, int]] = collections.deque()
        self.servers: dict[FleetKey, FleetServers] = {}
        # What failed and how, until it works again: the pages show it.
        self.problems: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # Pages come and go.

    def open(self, fleet: FleetKey | None) -> Page:
        page = Page(fleet)
        if not self.pages:
            self._start()
        self.pages.add(page)
        page.send(frame("status", self._status()))
        page.send(frame("clusters", self.clusters))
        everything = _Changes(views=dict(self.fleets.items()), reset=True)
        page.send(frame("fleets", everything.frame_data()))
        page.send(frame("activity", self.activity))
        if fleet is not None:
            servers = self.servers.get(fleet)
            if servers is None:
                servers = self.servers[fleet] = FleetServers(self, fleet)
            for data in servers.snapshot():
                page.send(data)
        return page

    async def close(self, page: Page) -> None:
        self.pages.discard(page)
        fleet = page.fleet
        if fleet is not None and not any(p.fleet == fleet for p in self.pages):
            servers = self.servers.pop(fleet, None)
            if servers is not None:
                await servers.stop()
        if not self.pages:
            await self.stop()

    def _start(self) -> None:
        self.fleets.clear()
        self.fleet_changes = _Changes()
        self._tasks = [
            asyncio.create_task(_retrying("fleets", self._watch_fleets, self)),
            asyncio.create_task(_retrying("clusters", self._poll_clusters, self)),
            asyncio.create_task(_retrying("activity", self._sample_activity, self)),
            asyncio.create_task(self._flush_loop()),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for servers in list(self.servers.values()):
            await servers.stop()
        self.servers.clear()
        self.problems.clear()

    # Sending.

    def broadcast(self, data: bytes) -> None:
        for page in list(self.pages):
            page.send(data)

    def broadcast_to(self, fleet: FleetKey, data: bytes) -> None:
        for page in list(self.pages):
            if page.fleet == fleet:
                page.send(data)

    def _status(self) -> dict[str, Any]:
        return {
            "ok": not self.problems,
            "problems": [f"{what}: {problem}" for what, problem in self.problems.items()],
            "leader": self.hub.gate.leader or "",
        }

    def report(self, what: str, problem: str) -> None:
        if self.problems.get(what) != problem:
            log.warning("console: %s: %s", what, problem)
            self.problems[what] = problem
            self.broadcast(frame("status", self._status()))

    def clear(self, what: str) -> None:
        if what in self.problems:
            del self.problems[what]
            self.broadcast(frame("status", self._status()))

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            self.flush()

    def flush(self) -> None:
        if self.fleet_changes.views or self.fleet_changes.reset:
            changes, self.fleet_changes = self.fleet_changes, _Changes()
            self.broadcast(frame("fleets", changes.frame_data()))
        for key, servers in self.servers.items():
            data = servers.flush()
            if data is not None:
                self.broadcast_to(key, data)

    # The sources.

    async def _watch_fleets(self) -> None:
        self.fleets.clear()
        self.fleet_changes = _Changes(reset=True)
        stream = self.fleet_service.WatchFleets(fleet_pb2.WatchFleetsRequest(), cast(Context, None))
        async for event in stream:
            key = (event.fleet.metadata.namespace, event.fleet.metadata.name)
            if event.type == "DELETED":
                self.fleets.pop(key, None)
                self.fleet_changes.views[key] = None
            else:
                view = views.fleet(event.fleet)
                self.fleets[key] = view
                self.fleet_changes.views[key] = view
            self.clear("fleets")

    async def _poll_clusters(self) -> None:
        while True:
            found: list[views.View] = []
            token = ""
            while True:
                request = cluster_pb2.ListClustersRequest(page_token=token)
                answer = await self.cluster_service.ListClusters(request, cast(Context, None))
                found += [views.cluster(c) for c in answer.clusters]
                token = answer.next_page_token
                if not token:
                    break
            self.clear("clusters")
            if found != self.clusters:
                self.clusters = found
                self.broadcast(frame("clusters", found))
            await asyncio.sleep(self.cluster_interval)

    async def _sample_activity(self) -> None:
        while True:
            activity = self._activity()
            if activity != self.activity:
                self.activity = activity
                self.broadcast(frame("activity", activity))
            await asyncio.sleep(self.activity_interval)

    def _activity(self) -> dict[str, Any]:
        gate = self.hub.gate
        federation = gate.federation
        now = self._clock()
        rate = 0.0
        if federation is not None:
            counts = federation.stats.allocations
            total = counts["allocated"] + counts["recovered"]
            samples = self._allocations
            samples.append((now, total))
            while len(samples) > 1 and now - samples[1][0] >= RATE_WINDOW_S:
                samples.popleft()
            began, first = samples[0]
            if now > began and total >= first:
                rate = (total - first) / (now - began)
        decisions: list[views.View] = []
        if gate.autoscaling is not None:
            last = gate.autoscaling.stats.last
            decisions = [views.decision(ns, name, d) for (ns, name), d in last.items()]
            decisions.sort(key=lambda d: d["time"], reverse=True)
        return {"allocationsPerSecond": round(rate, 1), "decisions": decisions[:DECISIONS_SHOWN]}
