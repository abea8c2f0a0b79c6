"""The live federation's facade: builds its parts, runs their loops under one supervisor, and
turns what happens (an agent connects, a fleet or a cluster changes, a phase changes, time
passes) into calls on them. The servicers, the allocator and the autoscaler call only this.

The parts: agent links (``links``), their status reports (``status_ingest``), placement over
time (``placer``, ``holds``), status reads (``status_reads``), operations on game servers
(``operations``), the intent mirror (``intent``) and the live index (``live_index``).
Durable intent (fleets, clusters) is read from the registries and followed by watches; all
else is soft state, rebuilt from the agents when they reconnect (principle 2).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

from gamefleet import protocol
from gamefleet.v1 import agent_pb2, allocation_pb2, cluster_pb2, fleet_pb2, gameserver_pb2

from hub.core import (
    agent_limits,
    allocation,
    deletion,
    health,
)
from hub.core.autoscaling import demand
from hub.core.desired_sets import SetKey
from hub.registry.assignments import AssignmentRegistry
from hub.registry.clusters import ClusterRegistry
from hub.registry.fleets import DEFAULT_NAMESPACE, FleetRegistry
from hub.registry.rollouts import RolloutRegistry
from okg import capacity

from . import recording, status_ingest
from .assignment_writer import AssignmentWriter
from .events import EventRecorder
from .intent import IntentMirror
from .links import AgentLinks
from .live_index import LiveIndex
from .live_servers import LiveServer, ServerFilter
from .operations import ServerOperations
from .placer import Placer
from .rollouts import RolloutTracker
from .session import AgentSession
from .stats import FederationStats, LiveCounts
from .status_reads import StatusReads
from .supervisor import Supervisor
from .traces import ApplyTraces
from .watchers import ServerBroadcast, ServerWatcher, StatusBroadcast, StatusWatcher

log = logging.getLogger(__name__)

Clock = Callable[[], float]
ALLOCATED = protocol.ALLOCATED


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
        agent_limits: agent_limits.AgentLimits = agent_limits.DEFAULT_LIMITS,
        rollouts: RolloutRegistry | None = None,
    ) -> None:
        self.limits = agent_limits
        self._fleet_registry = fleets
        self._cluster_registry = clusters
        self._assignment_registry = assignments
        self._writer = AssignmentWriter(assignments) if assignments is not None else None
        self.policy = policy
        self._clock = clock
        self._tick = tick
        self._rollouts = RolloutTracker(rollouts, clock)
        self._records_rollout_failures = rollouts is not None
        self._intent = IntentMirror(fleets, clusters, self)
        self._index = LiveIndex()
        self.stats = FederationStats()
        self._links = AgentLinks(self._intent, policy, clock, agent_limits, self.stats)
        self._broadcast = StatusBroadcast()
        self._server_broadcast = ServerBroadcast()
        self.events = EventRecorder()
        self.leading = False
        self.apply_traces = ApplyTraces()
        self._placer = Placer(
            self._intent,
            self._links,
            self._index,
            self._rollouts,
            fleet_registry=fleets,
            writer=self._writer,
            policy=policy,
            clock=clock,
            broadcast=self._broadcast,
            traces=self.apply_traces,
            stats=self.stats,
        )
        self._operations = ServerOperations(
            self._links, self._index, self.events, self._broadcast, self._server_broadcast
        )
        self._ingest = status_ingest.StatusIngest(
            self._intent,
            self._links,
            self._index,
            self._placer,
            bounds=agent_limits,
            events=self.events,
            broadcast=self._broadcast,
            server_broadcast=self._server_broadcast,
            stats=self.stats,
        )
        self._reads = StatusReads(
            self._intent,
            self._links,
            self._index,
            self._placer,
            self._rollouts,
            policy,
            self.stats,
        )
        self._supervisor = Supervisor(self.stats.task_restarts)

    @property
    def _fleets(self) -> dict[SetKey, fleet_pb2.Fleet]:
        return self._intent.fleets

    @property
    def _clusters(self) -> dict[str, cluster_pb2.Cluster]:
        return self._intent.clusters

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        began = self._clock()
        await self._intent.load()
        previous = {}
        if self._assignment_registry is not None:
            previous = await self._assignment_registry.load()
        self._placer.begin(previous, began)
        supervise = self._supervisor.start
        supervise("follow-fleets", self._intent.follow_fleets)
        supervise("follow-clusters", self._intent.follow_clusters)
        supervise("health", self._tick_health)
        supervise("reconcile", self._placer.reconcile_changes)
        supervise("remove-deleted-fleets", self._placer.remove_deleted)
        if self._writer is not None:
            supervise("persist-assignments", self._writer.run)
        if self._records_rollout_failures:
            supervise("record-rollout-failures", self._rollouts.run)
        self._placer.mark()

    def supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run ``run()`` as a background task of this federation: logged, counted
        (``gamefleet_hub_task_restarts``) and started again when it fails; stopped with the
        federation, or before by cancelling the task returned."""
        return self._supervisor.start(name, run)

    async def stop(self) -> None:
        for session in list(self._links.sessions.values()):
            session.close()
        await self._supervisor.stop()
        if self._writer is not None:
            await self._writer.flush()

    # -- agents ----------------------------------------------------------------------------

    async def connect(self, hello: agent_pb2.AgentHello) -> AgentSession:
        """Open the session of ``hello.cluster``'s agent, replacing an older one."""
        name = hello.cluster
        if name not in self._clusters:
            registration = cluster_pb2.Cluster()
            registration.metadata.name = name
            registration.metadata.labels.update(hello.labels)
            self._intent.put_cluster(await self._cluster_registry.register(registration))
        for held_set in hello.held_sets:
            if not held_set.retiring:
                self._placer.claim((held_set.namespace, held_set.name), name, held_set.replicas)
        session = self._links.open(hello)
        # The namespaces it serves decide where fleets may be placed.
        self._placer.clusters_changed()
        self.heartbeat(name, None)
        session.send(
            agent_pb2.HubMessage(
                status_hashes=agent_pb2.StatusHashes(
                    hashes=self._links.status_hashes(name, self._index)
                )
            )
        )
        log.info("agent of %s connected (version %s)", name, hello.agent_version)
        recording.agent_connected(self.events, name, hello.agent_version)
        return session

    def observe_cluster(self, record: cluster_pb2.Cluster, removed: bool = False) -> None:
        """Take a registration change at once (the store watch brings the same later), so a
        read right after a cordon already places by it."""
        if removed:
            self._intent.remove_cluster(record.metadata.name)
        else:
            stored = cluster_pb2.Cluster()
            stored.CopyFrom(record)
            stored.ClearField("status")
            self._intent.put_cluster(stored)

    # -- intent changes (IntentListener) ---------------------------------------------------

    def fleet_changed(
        self, key: SetKey, before: fleet_pb2.Fleet | None, after: fleet_pb2.Fleet | None
    ) -> None:
        if after is None:
            self._placer.fleet_gone(key)
        else:
            self.apply_traces.changed(key, after.metadata.revision)
        recording.fleet_changed(self.events, before, after)
        self._placer.mark(key)

    def cluster_changed(
        self, name: str, before: cluster_pb2.Cluster | None, after: cluster_pb2.Cluster | None
    ) -> None:
        if after is None:
            self._forget_live_cluster(name)
        recording.cluster_changed(self.events, before, after)
        self._placer.clusters_changed()
        for key in self._fleets:
            self._broadcast.notify(key)

    def _forget_live_cluster(self, name: str) -> None:
        self._links.live.pop(name, None)
        gone = self._index.drop_cluster(name)
        if self._server_broadcast.watched:
            for namespace, server in gone:
                self._server_broadcast.notify((name, namespace, server))
        self._placer.cluster_gone(name)

    def disconnect(self, session: AgentSession) -> None:
        if self._links.close(session):
            log.info("agent of %s disconnected", session.cluster)
            recording.agent_disconnected(self.events, session.cluster)

    def heartbeat(self, cluster: str, beat: agent_pb2.Heartbeat | None) -> None:
        changed = self._links.heartbeat(cluster, beat)
        if changed is not None:
            self._phase_changed(cluster, *changed)

    def report_status(self, cluster: str, delta: agent_pb2.StatusDelta) -> None:
        """Take ``cluster``'s status changes; an entry beyond the limits is dropped (counted
        and logged), the rest are kept. The message's size was checked at the edge."""
        self._ingest.take(cluster, delta)

    def resolve(self, cluster: str, result: agent_pb2.OperationResult) -> None:
        self._links.resolve(cluster, result)

    def refused(self, cluster: str, refusal: agent_limits.Refusal, action: str) -> None:
        """Count what the hub refused of ``cluster``'s agent; log it once per cluster, field
        and action (a misbehaving agent repeats itself)."""
        self._links.refused(cluster, refusal, action)

    # -- reads -----------------------------------------------------------------------------

    def fleet_status(self, fleet: fleet_pb2.Fleet) -> fleet_pb2.FleetStatus:
        return self._reads.fleet_status(fleet)

    async def delete_fleet(
        self, namespace: str, name: str, expected_revision: int | None = None
    ) -> tuple[fleet_pb2.Fleet, bool]:
        """Delete the fleet at once when no cluster holds any of it (True); else mark it
        deleting and retire its sets: it is removed once every cluster let its set go."""
        key = (namespace or DEFAULT_NAMESPACE, name)
        known = self._fleets.get(key)
        deleting = known is not None and known.metadata.HasField("deletion_time")
        if not deleting and not deletion.waiting_for(self._placer.copies(key)):
            removed = await self._fleet_registry.remove(*key, expected_revision=expected_revision)
            self._placer.forget_fleet(key)
            return removed, True
        fleet = await self._fleet_registry.request_deletion(
            *key, expected_revision=expected_revision
        )
        if known is None or known.metadata.revision <= fleet.metadata.revision:
            self._fleets[key] = fleet
        if not deleting:
            recording.fleet_event(
                self.events, key, "Normal", "Deleting", "retiring its sets in every cluster"
            )
        self._placer.mark(key)
        return self.with_status(fleet), False

    def with_status(self, fleet: fleet_pb2.Fleet) -> fleet_pb2.Fleet:
        fleet.status.CopyFrom(self.fleet_status(fleet))
        return fleet

    def phase(self, cluster: str) -> health.Phase:
        return self._links.phase(cluster)

    def cluster_status(self, cluster: cluster_pb2.Cluster) -> cluster_pb2.Cluster:
        return self._reads.cluster_status(cluster)

    def matching_servers(
        self,
        wanted: ServerFilter,
        after: tuple[str, ...] | None = None,
        limit: int | None = None,
    ) -> list[LiveServer]:
        """The live servers that match, ordered by (cluster, namespace, name): those after
        ``after`` in that order, at most ``limit`` of them; as the hub holds them (not
        decoded)."""
        return self._index.matching(wanted, after, limit)

    def servers_named(self, namespace: str, name: str) -> list[LiveServer]:
        """The game servers called ``name`` in ``namespace``, one per cluster that has one."""
        return self._index.named(namespace, name)

    async def update_game_servers(
        self,
        servers: Iterable[gameserver_pb2.GameServer],
        patch: gameserver_pb2.GameServerPatch,
        timeout: float = 10.0,
        *,
        allow_unallocate: bool = False,
        allow_custom_ops_state: bool = False,
        actor: str = "the API",
    ) -> tuple[list[str], dict[str, str]]:
        """Route the patch to each owning agent; return updated "cluster/name"s and per-server
        errors. Without ``allow_unallocate`` an opsState change of a server Allocated in the
        hub's view is refused here, and the agent refuses one Allocated when it writes."""
        return await self._operations.update_game_servers(
            servers,
            patch,
            timeout,
            allow_unallocate=allow_unallocate,
            allow_custom_ops_state=allow_custom_ops_state,
            actor=actor,
        )

    def has_fleet(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self._fleets

    def cluster_labels(self) -> dict[str, dict[str, str]]:
        """Each registered cluster's labels (region, cloud, ...), as last observed."""
        return {name: dict(c.metadata.labels) for name, c in self._clusters.items()}

    def ready_clusters(self) -> list[str]:
        """Clusters whose agent is connected and Ready (not Unknown, not cordoned)."""
        return self._links.ready_clusters()

    def fleet_views(self, namespace: str, fleet: str) -> list[allocation.Server]:
        """Every live game server of one fleet as the allocation choice sees it (not decoded)."""
        return [server.view for server in self._index.of_fleet(namespace, fleet)]

    def fleet_servers(self, namespace: str, fleet: str) -> list[gameserver_pb2.GameServer]:
        """Every live game server of one fleet, in every cluster."""
        return [server.decode() for server in self._index.of_fleet(namespace, fleet)]

    async def allocate_on(
        self,
        server: gameserver_pb2.GameServer,
        request_id: str,
        labels: dict[str, str],
        annotations: dict[str, str],
        timeout: float = 10.0,
        need: allocation_pb2.AllocationNeed | None = None,
    ) -> gameserver_pb2.GameServer | None:
        """Have the owning agent set ``server`` Allocated (see ServerOperations.allocate_on);
        the server as allocated, or None on a conflict."""
        return await self._operations.allocate_on(
            server, request_id, labels, annotations, timeout, need
        )

    async def release_allocation(
        self, server: gameserver_pb2.GameServer, timeout: float = 10.0
    ) -> bool:
        """Have the owning agent set ``server`` back to opsState None if it is still Allocated
        for its request (see ServerOperations.release_allocation)."""
        return await self._operations.release_allocation(server, timeout)

    def live_server(
        self, cluster: str, namespace: str, name: str
    ) -> gameserver_pb2.GameServer | None:
        """The server as its agent last reported it, if it did."""
        server = self._index.get(cluster, namespace, name)
        return None if server is None else server.decode()

    async def wait_connected(self, cluster: str, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until ``cluster``'s agent is connected."""
        return await self._links.wait_connected(cluster, timeout)

    def allocated_for(
        self, namespace: str, fleet: str, request_id: str
    ) -> gameserver_pb2.GameServer | None:
        """The live server an allocation with ``request_id`` set Allocated, if it still is."""
        server = self._index.allocated_for(namespace, fleet, request_id)
        return server.decode() if server is not None else None

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
        pool = self._index.pool((namespace, fleet))
        if pool is None:
            return None
        best = pool.best(self.ready_clusters(), selectors, scheduling, preferred, reserved, tried)
        if best is None:
            return None
        server = self._index.get(best.cluster, namespace, best.name)
        return server.decode() if server is not None else None

    def choose_by_capacity(
        self,
        namespace: str,
        fleet: str,
        selectors: Sequence[allocation.Selector],
        actions: capacity.Actions,
        scheduling: allocation.Scheduling = allocation.Scheduling.PACKED,
        preferred: Sequence[str] = (),
        reserved: Iterable[tuple[str, str]] = (),
        tried: Iterable[tuple[str, str]] = (),
    ) -> gameserver_pb2.GameServer | None:
        """Like ``choose_allocation`` for an allocation by capacity (counters, lists, actions,
        Allocated servers): it weighs every server of the fleet."""
        pool = self._index.pool((namespace, fleet))
        if pool is None:
            return None
        best = pool.best_by_capacity(
            self.ready_clusters(),
            selectors,
            actions,
            scheduling,
            preferred,
            reserved,
            tried,
        )
        if best is None:
            return None
        server = self._index.get(best.cluster, namespace, best.name)
        return server.decode() if server is not None else None

    async def live_counts(self, chunk: int = 5000) -> LiveCounts:
        """How much live state this federation holds, for metrics."""
        return await self._reads.live_counts(chunk)

    def autoscaling_snapshot(self, namespace: str, name: str) -> demand.FleetSnapshot | None:
        """The fleet and each cluster as its autoscaler reads them (hub/federation/autoscaler.py),
        or None while the fleet is unknown or the hub waits for its agents after a start."""
        return self._reads.autoscaling_snapshot(namespace, name)

    def subscribe(self) -> StatusWatcher:
        return self._broadcast.subscribe()

    def unsubscribe(self, watcher: StatusWatcher) -> None:
        self._broadcast.unsubscribe(watcher)

    def game_server(self, cluster: str, namespace: str, name: str) -> LiveServer | None:
        return self._index.get(cluster, namespace, name)

    def subscribe_servers(self) -> ServerWatcher:
        """(cluster, namespace, name) of each game server whose report changes from now on."""
        return self._server_broadcast.subscribe()

    def unsubscribe_servers(self, watcher: ServerWatcher) -> None:
        self._server_broadcast.unsubscribe(watcher)

    # -- internals -------------------------------------------------------------------------

    def _phase_changed(self, cluster: str, before: health.Phase, after: health.Phase) -> None:
        log.info("cluster %s: %s -> %s", cluster, before.value, after.value)
        recording.phase_changed(self.events, cluster, before, after, self.policy)
        self._placer.clusters_changed()
        for key in self._fleets:
            self._broadcast.notify(key)

    async def _tick_health(self) -> None:
        wall = time.time()
        while True:
            await asyncio.sleep(self._tick)
            wall, before_wall = time.time(), wall
            self._notify_stalled(before_wall, wall)
            for name, changed in self._links.tick().items():
                self._phase_changed(name, *changed)
            failover_pending = any(
                f.spec.placement.failover.enabled for f in self._fleets.values()
            ) and any(self.phase(n) is health.Phase.UNKNOWN for n in self._clusters)
            for key in self._rollouts.due():
                self._placer.mark(key)
            if self._placer.deferred and not self._placer.starting():
                self._placer.mark()
            elif failover_pending:
                for key, fleet in self._fleets.items():
                    if fleet.spec.placement.failover.enabled:
                        self._placer.mark(key)

    def _notify_stalled(self, before: float, now: float) -> None:
        """Tell watchers of each fleet whose longest-Updating server passed the update deadline
        between ``before`` and ``now`` (wall seconds): its status turned Degraded by time alone."""
        deadline = self.policy.update_deadline
        for key, pool in self._index.pools():
            longest = pool.longest_updating()
            if longest is not None and before - longest.since <= deadline < now - longest.since:
                self._broadcast.notify(key)
