"""The live federation: agents' sessions and health, placement over time, status aggregation.

Durable intent (fleets, clusters) is read from the registries and followed by watches; all
else here is soft state, rebuilt from the agents when they reconnect (principle 2).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import operator
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence

from gamefleet import protocol
from gamefleet.v1 import agent_pb2, cluster_pb2, fleet_pb2, gameserver_pb2
from google.protobuf import timestamp_pb2

from hub.core import allocation, assignment, desired_sets, fleet_status, health, rollout, selectors
from hub.core.desired_sets import SetKey
from hub.core.placement import Placement
from hub.registry import codec
from hub.registry.assignments import AssignmentRegistry
from hub.registry.clusters import ClusterRegistry
from hub.registry.fleets import FleetRegistry
from hub.store import interface as store_api

from .live_servers import LiveServer
from .session import AgentSession
from .stats import FederationStats, LiveCounts
from .watchers import StatusBroadcast, StatusWatcher

log = logging.getLogger(__name__)

Clock = Callable[[], float]
ALLOCATED = "Allocated"


class NotConnectedError(ConnectionError):
    """The cluster's agent is not connected: nothing was sent to it."""


@dataclasses.dataclass
class _ClusterLive:
    """What the hub knows of a cluster beyond its registration."""

    liveness: health.Liveness = dataclasses.field(default_factory=health.Liveness)
    hello: agent_pb2.AgentHello | None = None
    capacity: cluster_pb2.ClusterCapacity | None = None
    last_heartbeat_wall: timestamp_pb2.Timestamp | None = None
    sets: dict[SetKey, agent_pb2.GameServerSetStatus] = dataclasses.field(default_factory=dict)
    servers: dict[SetKey, LiveServer] = dataclasses.field(default_factory=dict)


class Federation:
    """Keeps every connected agent's cluster converging on the fleets' placement."""

    def __init__(
        self,
        fleets: FleetRegistry,
        clusters: ClusterRegistry,
        policy: health.HealthPolicy,
        clock: Clock = time.monotonic,
        tick: float = 0.5,
        assignments: AssignmentRegistry | None = None,
    ) -> None:
        self._fleet_registry = fleets
        self._cluster_registry = clusters
        self._assignment_registry = assignments
        # Assignments to write (None: forget the fleet's), drained by _persist_loop.
        self._unsaved: dict[SetKey, dict[str, int] | None] = {}
        self._unsaved_changed = asyncio.Event()
        self.policy = policy
        self._clock = clock
        self._tick = tick
        self._fleets: dict[SetKey, fleet_pb2.Fleet] = {}
        self._clusters: dict[str, cluster_pb2.Cluster] = {}
        self._live: dict[str, _ClusterLive] = {}
        # Each fleet's servers indexed for allocation choices.
        self._pools: dict[SetKey, allocation.Pool] = {}
        # (namespace, fleet, request_id) → (cluster, name) of the server an allocation with that
        # request_id wrote, as the agents report it: found again when the record is missing.
        self._by_request: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._sessions: dict[str, AgentSession] = {}
        # Callers waiting for a cluster's agent to connect.
        self._connect_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._previous: dict[SetKey, dict[str, int]] = {}
        # Placement of each fleet as of (fleet revision, cluster state version).
        self._placements: dict[SetKey, tuple[int, int, Placement]] = {}
        self._cluster_state_version = 0
        self._dirty = asyncio.Event()
        self._pending: set[SetKey] = set()
        self._pending_all = False
        self._broadcast = StatusBroadcast()
        self._tasks: list[asyncio.Task[None]] = []
        self._started_at = 0.0
        self._deferred = False
        self.leading = False
        self.stats = FederationStats()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._started_at = self._clock()
        fleets, fleets_at = await self._fleet_registry.list()
        self._fleets = {_key(f): f for f in fleets}
        clusters, clusters_at = await self._cluster_registry.list_at()
        self._clusters = {c.metadata.name: c for c in clusters}
        if self._assignment_registry is not None:
            self._previous = await self._assignment_registry.load()
        self._tasks = [
            asyncio.create_task(self._follow_fleets(fleets_at + 1), name="follow-fleets"),
            asyncio.create_task(self._follow_clusters(clusters_at + 1), name="follow-clusters"),
            asyncio.create_task(self._tick_health(), name="health"),
            asyncio.create_task(self._reconcile_loop(), name="reconcile"),
        ]
        if self._assignment_registry is not None:
            self._tasks.append(
                asyncio.create_task(
                    self._persist_loop(self._assignment_registry), name="persist-assignments"
                )
            )
        self._mark()

    async def stop(self) -> None:
        for session in list(self._sessions.values()):
            session.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._flush_assignments()

    async def _flush_assignments(self) -> None:
        """On a graceful stop, write what the persist loop had not written yet."""
        registry, batch, self._unsaved = self._assignment_registry, self._unsaved, {}
        if registry is None or not batch:
            return
        try:
            async with asyncio.timeout(5.0):
                for key, assigned in batch.items():
                    await self._write_assignment(registry, key, assigned)
        except Exception:
            log.exception("saving %d assignments at stop", len(batch))

    # -- agents ----------------------------------------------------------------------------

    async def connect(self, hello: agent_pb2.AgentHello) -> AgentSession:
        """Open the session of ``hello.cluster``'s agent, replacing an older one."""
        name = hello.cluster
        if name not in self._clusters:
            registration = cluster_pb2.Cluster()
            registration.metadata.name = name
            registration.metadata.labels.update(hello.labels)
            self._clusters[name] = await self._cluster_registry.register(registration)
        old = self._sessions.pop(name, None)
        if old is not None:
            old.close()
        held = {(s.namespace, s.name): s.hash for s in hello.held_sets}
        for held_set in hello.held_sets:
            previous = self._previous.setdefault((held_set.namespace, held_set.name), {})
            previous.setdefault(name, held_set.replicas)
        session = AgentSession(name, held)
        self._sessions[name] = session
        for waiter in self._connect_waiters.pop(name, []):
            if not waiter.done():
                waiter.set_result(None)
        live = self._live.setdefault(name, _ClusterLive())
        live.hello = hello
        live.capacity = hello.capacity
        self.heartbeat(name, None)
        session.send(
            agent_pb2.HubMessage(
                status_hashes=agent_pb2.StatusHashes(hashes=self._status_hashes(live))
            )
        )
        self._mark()
        log.info("agent of %s connected (version %s)", name, hello.agent_version)
        return session

    def observe_cluster(self, record: cluster_pb2.Cluster, removed: bool = False) -> None:
        """Take a registration change at once (the store watch brings the same later), so a
        read right after a cordon already places by it."""
        name = record.metadata.name
        if removed:
            self._forget_cluster(name)
        else:
            stored = cluster_pb2.Cluster()
            stored.CopyFrom(record)
            stored.ClearField("status")
            self._clusters[name] = stored
        self._cluster_state_version += 1
        self._mark()

    def _forget_cluster(self, name: str) -> None:
        self._clusters.pop(name, None)
        self._live.pop(name, None)
        for pool in self._pools.values():
            pool.drop_cluster(name)
        self._by_request = {k: v for k, v in self._by_request.items() if v[0] != name}

    def disconnect(self, session: AgentSession) -> None:
        session.close()
        if self._sessions.get(session.cluster) is session:
            del self._sessions[session.cluster]
            log.info("agent of %s disconnected", session.cluster)

    def heartbeat(self, cluster: str, beat: agent_pb2.Heartbeat | None) -> None:
        live = self._live.setdefault(cluster, _ClusterLive())
        before = live.liveness.phase
        live.liveness = health.on_heartbeat(live.liveness, self._clock(), self.policy)
        stamp = timestamp_pb2.Timestamp()
        stamp.GetCurrentTime()
        live.last_heartbeat_wall = stamp
        if beat is not None and beat.HasField("capacity"):
            live.capacity = beat.capacity
        if live.liveness.phase is not before:
            self._phase_changed(cluster, before, live.liveness.phase)

    def report_status(self, cluster: str, delta: agent_pb2.StatusDelta) -> None:
        self.stats.status_deltas += 1
        live = self._live.setdefault(cluster, _ClusterLive())
        touched: set[SetKey] = set()
        for set_status in delta.sets:
            key = (set_status.namespace, set_status.name)
            touched.add(key)
            if set_status.deleted:
                live.sets.pop(key, None)
            else:
                live.sets[key] = set_status
                previous = self._previous.setdefault(key, {})
                previous.setdefault(cluster, set_status.desired_replicas)
        for server in delta.game_servers:
            if server.deleted:
                touched.add((server.namespace, server.fleet))
                gone = live.servers.pop((server.namespace, server.name), None)
                if gone is not None:
                    self._pool(gone).remove((cluster, gone.name))
                    self._track_request(gone, None)
            else:
                held = LiveServer.of(server, cluster)
                touched.add((held.namespace, held.fleet))
                self._hold(live, held)
        for key in touched:
            self._broadcast.notify(key)
            fleet = self._fleets.get(key)
            if fleet is not None and fleet.spec.update_policy.type == rollout.SEQUENTIAL:
                self._mark(key)

    def resolve(self, cluster: str, result: agent_pb2.OperationResult) -> None:
        session = self._sessions.get(cluster)
        if session is not None:
            session.resolve(result)

    # -- reads -----------------------------------------------------------------------------

    def fleet_status(self, fleet: fleet_pb2.Fleet) -> fleet_pb2.FleetStatus:
        key = _key(fleet)
        cached = self._placements.get(key)
        current = (fleet.metadata.revision, self._cluster_state_version)
        if cached is not None and cached[:2] == current:
            placement = cached[2]
        else:
            placement = self._assign(fleet)
        reports = {
            name: fleet_status.ClusterReport(
                self.phase(name), self._live.get(name, _ClusterLive()).sets.get(key)
            )
            for name in self._clusters
        }
        return fleet_status.fleet_status(fleet, placement, reports)

    def with_status(self, fleet: fleet_pb2.Fleet) -> fleet_pb2.Fleet:
        fleet.status.CopyFrom(self.fleet_status(fleet))
        return fleet

    def phase(self, cluster: str) -> health.Phase:
        record = self._clusters.get(cluster)
        if record is not None and record.spec.cordoned:
            return health.Phase.CORDONED
        live = self._live.get(cluster)
        return live.liveness.phase if live is not None else health.Phase.UNKNOWN

    def cluster_status(self, cluster: cluster_pb2.Cluster) -> cluster_pb2.Cluster:
        name = cluster.metadata.name
        live = self._live.get(name, _ClusterLive())
        status = cluster.status
        status.Clear()
        status.phase = (
            health.Phase.CORDONED.value if cluster.spec.cordoned else live.liveness.phase.value
        )
        if live.hello is not None:
            status.agent_version = live.hello.agent_version
            status.network_plugins.extend(live.hello.network_plugins)
        if live.capacity is not None:
            status.capacity.CopyFrom(live.capacity)
        if live.last_heartbeat_wall is not None:
            status.last_heartbeat_time.CopyFrom(live.last_heartbeat_wall)
        return cluster

    def game_servers(
        self,
        namespace: str = "",
        fleet: str = "",
        cluster: str = "",
        state: str = "",
        ops_state: str = "",
        selector: selectors.Selector | None = None,
        after: tuple[str, ...] | None = None,
        limit: int | None = None,
    ) -> list[gameserver_pb2.GameServer]:
        """The live servers that match, ordered by (cluster, namespace, name): those after
        ``after`` in that order, at most ``limit`` of them."""
        found = []
        for name in sorted(self._live):
            if (cluster and name != cluster) or (after is not None and name < after[0]):
                continue
            for key in sorted(self._live[name].servers):
                if after is not None and (name, *key) <= after:
                    continue
                server = self._live[name].servers[key]
                if (
                    (namespace and server.namespace != namespace)
                    or (fleet and server.fleet != fleet)
                    or (state and server.state != state)
                    or (ops_state and server.ops_state != ops_state)
                    or (selector is not None and not selector.matches(server.labels))
                ):
                    continue
                found.append(server.decode())
                if limit is not None and len(found) >= limit:
                    return found
        return found

    async def update_game_servers(
        self,
        servers: Iterable[gameserver_pb2.GameServer],
        patch: gameserver_pb2.GameServerPatch,
        timeout: float = 10.0,
    ) -> tuple[list[str], dict[str, str]]:
        """Route the patch to each owning agent; return updated names and per-server errors."""
        by_target: dict[tuple[str, str], list[str]] = {}
        for server in servers:
            by_target.setdefault((server.cluster, server.namespace), []).append(server.name)
        updated: list[str] = []
        errors: dict[str, str] = {}

        async def one(cluster: str, namespace: str, names: list[str]) -> None:
            session = self._sessions.get(cluster)
            if session is None:
                for name in names:
                    errors[f"{cluster}/{name}"] = f"cluster {cluster} is not connected"
                return
            operation = agent_pb2.TargetedOperation(
                namespace=namespace, game_servers=names, patch=patch
            )
            try:
                result = await session.operate(operation, timeout)
            except (TimeoutError, ConnectionError) as exc:
                for name in names:
                    errors[f"{cluster}/{name}"] = str(exc) or "timed out"
                return
            updated.extend(f"{cluster}/{name}" for name in result.updated)
            errors.update({f"{cluster}/{name}": why for name, why in result.errors.items()})

        await asyncio.gather(*(one(c, ns, names) for (c, ns), names in by_target.items()))
        return sorted(updated), errors

    def has_fleet(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self._fleets

    def ready_clusters(self) -> list[str]:
        """Clusters whose agent is connected and Ready (not Unknown, not cordoned)."""
        return [
            name
            for name in self._clusters
            if name in self._sessions and self.phase(name) is health.Phase.READY
        ]

    def fleet_servers(self, namespace: str, fleet: str) -> list[gameserver_pb2.GameServer]:
        """Every live game server of one fleet, in every cluster."""
        found = []
        for live in self._live.values():
            for server in live.servers.values():
                if server.fleet == fleet and server.namespace == namespace:
                    found.append(server.decode())
        return found

    async def allocate_on(
        self,
        server: gameserver_pb2.GameServer,
        request_id: str,
        labels: dict[str, str],
        annotations: dict[str, str],
        timeout: float = 10.0,
    ) -> gameserver_pb2.GameServer | None:
        """Have the owning agent set ``server`` Allocated, stamped with ``request_id``, if it is
        still Ready with opsState None; return the server as allocated, or None on a conflict.

        Raises ConnectionError or TimeoutError when the agent does not answer, RuntimeError
        when it reports an error.
        """
        session = self._sessions.get(server.cluster)
        if session is None:
            raise NotConnectedError(f"cluster {server.cluster} is not connected")
        operation = agent_pb2.TargetedOperation(
            namespace=server.namespace,
            game_servers=[server.name],
            patch=gameserver_pb2.GameServerPatch(ops_state=ALLOCATED),
            require_ready_unallocated=True,
            labels=labels,
            annotations={**annotations, protocol.ALLOCATION_REQUEST_ANNOTATION: request_id},
        )
        result = await session.operate(operation, timeout)
        if server.name in result.conflicts:
            return None
        if server.name not in result.updated:
            raise RuntimeError(result.errors.get(server.name, "the agent did not update it"))
        allocated = gameserver_pb2.GameServer()
        allocated.CopyFrom(server)
        allocated.ops_state = ALLOCATED
        allocated.labels.update(labels)
        allocated.allocation_request_id = request_id
        # The agent's next status report says the same; until then, the hub already knows.
        live = self._live.get(server.cluster)
        if live is not None and (server.namespace, server.name) in live.servers:
            self._hold(live, LiveServer.of(allocated, server.cluster))
        return allocated

    async def release_allocation(
        self, server: gameserver_pb2.GameServer, timeout: float = 10.0
    ) -> bool:
        """Have the owning agent set ``server`` back to opsState None if it is still Allocated
        for ``server.allocation_request_id``; True when it did, False when it was not (then
        nothing was changed).

        Raises ConnectionError or TimeoutError when the agent does not answer, RuntimeError
        when it reports an error.
        """
        session = self._sessions.get(server.cluster)
        if session is None:
            raise NotConnectedError(f"cluster {server.cluster} is not connected")
        operation = agent_pb2.TargetedOperation(
            namespace=server.namespace,
            game_servers=[server.name],
            patch=gameserver_pb2.GameServerPatch(ops_state="None"),
            release_request_id=server.allocation_request_id,
        )
        result = await session.operate(operation, timeout)
        if server.name in result.updated:
            return True
        if server.name in result.conflicts:
            return False
        raise RuntimeError(result.errors.get(server.name, "the agent did not answer for it"))

    def live_server(
        self, cluster: str, namespace: str, name: str
    ) -> gameserver_pb2.GameServer | None:
        """The server as its agent last reported it, if it did."""
        live = self._live.get(cluster)
        server = live.servers.get((namespace, name)) if live is not None else None
        return None if server is None else server.decode()

    async def wait_connected(self, cluster: str, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until ``cluster``'s agent is connected."""
        if cluster in self._sessions:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._connect_waiters.setdefault(cluster, []).append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            return False
        finally:
            waiters = self._connect_waiters.get(cluster, [])
            if waiter in waiters:
                waiters.remove(waiter)
        return True

    def allocated_for(
        self, namespace: str, fleet: str, request_id: str
    ) -> gameserver_pb2.GameServer | None:
        """The live server an allocation with ``request_id`` set Allocated, if it still is."""
        found = self._by_request.get((namespace, fleet, request_id))
        if found is None:
            return None
        cluster, name = found
        live = self._live.get(cluster)
        server = live.servers.get((namespace, name)) if live is not None else None
        if server is None or server.ops_state != ALLOCATED:
            return None
        return server.decode() if server.allocation_request_id == request_id else None

    def _hold(self, live: _ClusterLive, server: LiveServer) -> None:
        """Keep ``server`` as its cluster's latest report of it, in every index."""
        key = (server.namespace, server.name)
        before = live.servers.get(key)
        if before is not None and before.fleet != server.fleet:
            self._pool(before).remove(before.view.key)
        live.servers[key] = server
        self._pool(server).put(server.view)
        self._track_request(before, server)

    def _track_request(self, before: LiveServer | None, after: LiveServer | None) -> None:
        old = before.allocation_request_id if before is not None else ""
        new = after.allocation_request_id if after is not None else ""
        if before is not None and old and old != new:
            key = (before.namespace, before.fleet, old)
            if self._by_request.get(key) == (before.cluster, before.name):
                del self._by_request[key]
        if after is not None and new:
            self._by_request[(after.namespace, after.fleet, new)] = (after.cluster, after.name)

    def choose_allocation(
        self,
        namespace: str,
        fleet: str,
        selectors: Sequence[Mapping[str, str]] = (),
        scheduling: allocation.Scheduling = allocation.Scheduling.PACKED,
        preferred: Sequence[str] = (),
        reserved: Iterable[tuple[str, str]] = (),
        tried: Iterable[tuple[str, str]] = (),
    ) -> gameserver_pb2.GameServer | None:
        """The game server of the fleet to try first for an allocation (see hub.core.allocation);
        ``reserved`` and ``tried`` are (cluster, name)."""
        pool = self._pools.get((namespace, fleet))
        if pool is None:
            return None
        best = pool.best(self.ready_clusters(), selectors, scheduling, preferred, reserved, tried)
        if best is None:
            return None
        return self._live[best.cluster].servers[(namespace, best.name)].decode()

    def _pool(self, server: LiveServer) -> allocation.Pool:
        pool = self._pools.get((server.namespace, server.fleet))
        if pool is None:  # not setdefault: a Pool per call costs a quarter of an ingest
            pool = self._pools[(server.namespace, server.fleet)] = allocation.Pool()
        return pool

    async def live_counts(self, chunk: int = 5000) -> LiveCounts:
        """How much live state this federation holds, for metrics.

        Counting game servers walks every one (about 0.5 µs each), so it lets the loop run
        after every ``chunk`` of them: a scrape never holds up the hub for long.
        """
        clusters: dict[tuple[str, bool], int] = {}
        for name, record in self._clusters.items():
            live = self._live.get(name)
            phase = live.liveness.phase if live is not None else health.Phase.UNKNOWN
            key = (phase.value, record.spec.cordoned)
            clusters[key] = clusters.get(key, 0) + 1
        fleets, sessions, stats = len(self._fleets), len(self._sessions), self.stats.copy()
        servers: collections.Counter[tuple[str, str]] = collections.Counter()
        for live in list(self._live.values()):
            reported = list(live.servers.values())
            for start in range(0, len(reported), chunk):
                servers.update(map(_STATE_OF, reported[start : start + chunk]))
                await asyncio.sleep(0)
        return LiveCounts(
            fleets=fleets,
            sessions=sessions,
            clusters=clusters,
            game_servers=dict(servers),
            stats=stats,
        )

    def subscribe(self) -> StatusWatcher:
        return self._broadcast.subscribe()

    def unsubscribe(self, watcher: StatusWatcher) -> None:
        self._broadcast.unsubscribe(watcher)

    # -- internals -------------------------------------------------------------------------

    def _status_hashes(self, live: _ClusterLive) -> dict[str, str]:
        hashes = {
            protocol.set_key(*key): protocol.status_hash(status)
            for key, status in live.sets.items()
        }
        for key, server in live.servers.items():
            hashes[protocol.game_server_key(*key)] = server.status_hash()
        return hashes

    def _phase_changed(self, cluster: str, before: health.Phase, after: health.Phase) -> None:
        log.info("cluster %s: %s -> %s", cluster, before.value, after.value)
        self._cluster_state_version += 1
        self._mark()
        for key in self._fleets:
            self._broadcast.notify(key)

    def _cluster_states(self, key: SetKey) -> list[assignment.ClusterState]:
        states = []
        for name, record in sorted(self._clusters.items()):
            live = self._live.get(name, _ClusterLive())
            reported = live.sets.get(key)
            states.append(
                assignment.ClusterState(
                    name=name,
                    labels=dict(record.metadata.labels),
                    phase=self.phase(name),
                    unknown_since=live.liveness.unknown_since,
                    allocated=reported.counts.allocated if reported is not None else 0,
                )
            )
        return states

    def _assign(self, fleet: fleet_pb2.Fleet) -> Placement:
        key = _key(fleet)
        return assignment.assign(
            fleet, self._cluster_states(key), self._previous.get(key, {}), self._clock()
        )

    def _starting(self) -> bool:
        """Right after start, wait for every registered agent (or the grace period) before
        placing, so that a hub restart does not move replicas off clusters not yet back."""
        if self._clock() - self._started_at > self.policy.grace:
            return False
        return any(name not in self._sessions for name in self._clusters)

    def _mark(self, key: SetKey | None = None) -> None:
        """Reconcile ``key`` soon, or every fleet when None (cluster or session changes)."""
        if key is None:
            self._pending_all = True
        else:
            self._pending.add(key)
        self._dirty.set()

    def _reconcile(self) -> None:
        self._deferred = self._starting()
        if self._deferred:
            return
        if self._pending_all:
            keys = set(self._fleets)
            for session in self._sessions.values():
                keys.update(session.held)
        else:
            keys = set(self._pending)
        self._pending_all = False
        self._pending.clear()
        messages: dict[str, agent_pb2.DesiredSets] = {}
        silent = {n for n in self._sessions if self.phase(n) is health.Phase.UNKNOWN}
        for key in sorted(keys):
            rendered = self._render(key)
            held = {name: session.held.get(key) for name, session in self._sessions.items()}
            for name, entry in desired_sets.changes(key, rendered, held, silent).items():
                messages.setdefault(name, agent_pb2.DesiredSets()).sets.append(entry)
                if entry.deleted:
                    self._sessions[name].held.pop(key, None)
                else:
                    self._sessions[name].held[key] = entry.hash
        for name, message in messages.items():
            self._sessions[name].send(agent_pb2.HubMessage(desired=message))
        self.stats.desired_messages += len(messages)

    def _render(self, key: SetKey) -> dict[str, agent_pb2.DesiredSet]:
        """The set each cluster should hold for fleet ``key`` (none when the fleet is gone)."""
        fleet = self._fleets.get(key)
        if fleet is None:
            if self._previous.pop(key, None) is not None:
                self._persist(key, None)
            return {}
        placement = self._assign(fleet)
        self._placements[key] = (
            fleet.metadata.revision,
            self._cluster_state_version,
            placement,
        )
        assigned = placement.replicas_by_cluster()
        if self._previous.get(key) != assigned:
            self._persist(key, assigned)
        self._previous[key] = assigned
        rendered = {
            share.cluster: desired_sets.desired_set(fleet, share) for share in placement.assignments
        }
        for cluster in self._held_back(fleet, rendered):
            # Keep what the cluster holds: the same hash sends nothing.
            rendered[cluster].hash = self._sessions[cluster].held[key]
        self._broadcast.notify(key)
        return rendered

    def _held_back(
        self, fleet: fleet_pb2.Fleet, rendered: dict[str, agent_pb2.DesiredSet]
    ) -> set[str]:
        key = _key(fleet)
        held: dict[str, str | None] = {}
        settled: dict[str, bool] = {}
        for cluster, desired_set in rendered.items():
            session = self._sessions.get(cluster)
            held[cluster] = session.held.get(key) if session is not None else None
            reported = self._live.get(cluster, _ClusterLive()).sets.get(key)
            settled[cluster] = reported is not None and (
                reported.applied_hash == desired_set.hash
                and reported.counts.updated_ready == reported.desired_replicas
            )
        waiting = rollout.held_back(fleet, {c: s.hash for c, s in rendered.items()}, held, settled)
        return {cluster for cluster in waiting if cluster in self._sessions}

    def _persist(self, key: SetKey, assigned: dict[str, int] | None) -> None:
        if self._assignment_registry is not None:
            self._unsaved[key] = dict(assigned) if assigned is not None else None
            self._unsaved_changed.set()

    async def _persist_loop(self, registry: AssignmentRegistry) -> None:
        """Write the assignments that changed, latest value per fleet, off the reconcile path.
        An entry leaves the queue only once written (or replaced by a newer one meanwhile), so
        a cancelled or failed write is retried, at stop or here a second later."""
        while True:
            await self._unsaved_changed.wait()
            self._unsaved_changed.clear()
            while self._unsaved:
                key = next(iter(self._unsaved))
                assigned = self._unsaved[key]
                try:
                    await self._write_assignment(registry, key, assigned)
                except Exception:
                    log.exception("saving the assignment of %s/%s; retrying", *key)
                    await asyncio.sleep(1.0)
                    continue
                if key in self._unsaved and self._unsaved[key] is assigned:
                    del self._unsaved[key]

    @staticmethod
    async def _write_assignment(
        registry: AssignmentRegistry, key: SetKey, assigned: dict[str, int] | None
    ) -> None:
        if assigned is None:
            await registry.forget(key)
        else:
            await registry.save(key, assigned)

    async def _reconcile_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            began = time.perf_counter()
            try:
                self._reconcile()
            except Exception:
                log.exception("reconcile failed; retrying on the next change")
            if not self._deferred:
                self.stats.observe_reconcile(time.perf_counter() - began)

    async def _tick_health(self) -> None:
        while True:
            await asyncio.sleep(self._tick)
            now = self._clock()
            for name in list(self._clusters):
                live = self._live.setdefault(name, _ClusterLive())
                before = live.liveness.phase
                live.liveness = health.on_tick(live.liveness, now, self.policy)
                if live.liveness.phase is not before:
                    self._phase_changed(name, before, live.liveness.phase)
            failover_pending = any(
                f.spec.placement.failover.enabled for f in self._fleets.values()
            ) and any(self.phase(n) is health.Phase.UNKNOWN for n in self._clusters)
            if self._deferred and not self._starting():
                self._mark()
            elif failover_pending:
                for key, fleet in self._fleets.items():
                    if fleet.spec.placement.failover.enabled:
                        self._mark(key)

    async def _follow_fleets(self, start_revision: int) -> None:
        async for event in self._watch(self._fleet_registry.watch, start_revision, "fleets"):
            key = (event.fleet.metadata.namespace, event.fleet.metadata.name)
            if event.type == "DELETED":
                self._fleets.pop(key, None)
                self._placements.pop(key, None)
            else:
                self._fleets[key] = event.fleet
            self._mark(key)

    async def _follow_clusters(self, start_revision: int) -> None:
        revision = start_revision
        while True:
            try:
                async for event in self._cluster_registry.watch(revision):
                    revision = event.revision + 1
                    name = event.kv.key.removeprefix(codec.CLUSTERS_PREFIX)
                    if event.type is store_api.EventType.DELETE:
                        self._forget_cluster(name)
                    else:
                        record = codec.decode(event.kv.value, cluster_pb2.Cluster)
                        record.metadata.revision = event.kv.mod_revision
                        self._clusters[name] = record
                    self._cluster_state_version += 1
                    self._mark()
                    for key in self._fleets:
                        self._broadcast.notify(key)
            except store_api.CompactedError:
                clusters, listed_at = await self._cluster_registry.list_at()
                self._clusters = {c.metadata.name: c for c in clusters}
                revision = listed_at + 1
                self._mark()

    async def _watch(
        self,
        watch: Callable[..., AsyncIterator[fleet_pb2.FleetEvent]],
        start_revision: int,
        what: str,
    ) -> AsyncIterator[fleet_pb2.FleetEvent]:
        revision = start_revision
        while True:
            try:
                async for event in watch("", None, revision):
                    revision = event.revision + 1
                    yield event
            except Exception as exc:  # compaction or a store outage: list again and go on
                log.warning("watch of %s ended (%s); listing again", what, exc)
                fleets, listed_at = await self._fleet_registry.list()
                self._fleets = {_key(f): f for f in fleets}
                self._mark()
                revision = listed_at + 1
                await asyncio.sleep(1.0)


_STATE_OF = operator.attrgetter("state", "ops_state")


def _key(fleet: fleet_pb2.Fleet) -> SetKey:
    return (fleet.metadata.namespace, fleet.metadata.name)
