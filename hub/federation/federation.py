"""The live federation: agents' sessions and health, placement over time, status aggregation.

Durable intent (fleets, clusters) is read from the registries and followed by watches; all
else here is soft state, rebuilt from the agents when they reconnect (principle 2).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import operator
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from gamefleet import protocol, telemetry
from gamefleet.v1 import agent_pb2, allocation_pb2, cluster_pb2, fleet_pb2, gameserver_pb2
from google.protobuf import timestamp_pb2

from hub.core import (
    agent_limits,
    allocation,
    assignment,
    deletion,
    desired_sets,
    drain,
    fleet_status,
    health,
    limits,
    rollout,
    rollout_observed,
    rollout_status,
    rollout_waves,
    selectors,
)
from hub.core.autoscaling import demand
from hub.core.desired_sets import SetKey
from hub.core.fleet_status import ClusterReport
from hub.core.placement import Placement
from hub.registry import errors as registry_errors
from hub.registry.assignments import AssignmentRegistry
from hub.registry.clusters import ClusterRegistry
from hub.registry.fleets import DEFAULT_NAMESPACE, FleetRegistry
from hub.registry.rollouts import RolloutRegistry
from okg import capacity

from . import recording
from .assignment_writer import AssignmentWriter
from .events import EventRecorder, fleet_ref
from .intent import IntentMirror, fleet_key
from .live_index import LiveIndex
from .live_servers import LiveServer, ServerFilter
from .rollouts import RolloutTracker
from .session import AgentSession
from .stats import FederationStats, LiveCounts
from .supervisor import Supervisor
from .traces import ApplyTraces
from .watchers import ServerBroadcast, ServerWatcher, StatusBroadcast, StatusWatcher

log = logging.getLogger(__name__)

Clock = Callable[[], float]
ALLOCATED = protocol.ALLOCATED
NOTHING_PLACED = Placement((), 0, ())
# What the hub did with a message or entry an agent sent beyond the limits: ended the stream
# (refused), or ignored that entry and kept the rest (dropped).
REFUSED = "refused"
DROPPED = "dropped"
# Refusals logged (once each per cluster, field and action) before the hub stops noting new ones.
_LOGGED_REFUSALS_KEPT = 10_000


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
        # Deleting fleets every cluster has let go of: removed from the store by _removal_loop,
        # guarded by the revision they were deleting at.
        self._removable: dict[SetKey, int] = {}
        self._removable_changed = asyncio.Event()
        self.policy = policy
        self._clock = clock
        self._tick = tick
        self._rollouts = RolloutTracker(rollouts, clock)
        self._records_rollout_failures = rollouts is not None
        self._intent = IntentMirror(fleets, clusters, self)
        self._live: dict[str, _ClusterLive] = {}
        self._index = LiveIndex()
        self._sessions: dict[str, AgentSession] = {}
        # Callers waiting for a cluster's agent to connect.
        self._connect_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._previous: dict[SetKey, dict[str, int]] = {}
        # Fleets the hub had no assignment record of when it began to lead, with their replicas
        # then: only for these does it take an agent's word for what it holds (see _claim).
        self._claimable: dict[SetKey, int] = {}
        # Per fleet, clusters whose entry in _previous is an agent's claim, not the hub's choice.
        self._claimed: dict[SetKey, set[str]] = {}
        # Per fleet, clusters whose set is too large to send them, and its size in bytes.
        self._too_large: dict[SetKey, dict[str, int]] = {}
        self._logged_refusals: set[tuple[str, str, str]] = set()
        # Per fleet, its drain of each draining cluster it has a share of (as last placed).
        self._drains: dict[SetKey, Mapping[str, drain.DrainProgress]] = {}
        # Placement of each fleet as of (fleet revision, cluster state version).
        self._placements: dict[SetKey, tuple[int, int, Placement]] = {}
        self._cluster_state_version = 0
        self._dirty = asyncio.Event()
        self._pending: set[SetKey] = set()
        self._pending_all = False
        self._broadcast = StatusBroadcast()
        self._server_broadcast = ServerBroadcast()
        self.events = EventRecorder()
        self._started_at = 0.0
        self._deferred = False
        self.leading = False
        self.stats = FederationStats()
        self.apply_traces = ApplyTraces()
        self._supervisor = Supervisor(self.stats.task_restarts)

    @property
    def _fleets(self) -> dict[SetKey, fleet_pb2.Fleet]:
        return self._intent.fleets

    @property
    def _clusters(self) -> dict[str, cluster_pb2.Cluster]:
        return self._intent.clusters

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._started_at = self._clock()
        await self._intent.load()
        if self._assignment_registry is not None:
            self._previous = await self._assignment_registry.load()
        self._claimable = {
            key: fleet.spec.replicas
            for key, fleet in self._fleets.items()
            if key not in self._previous
        }
        supervise = self._supervisor.start
        supervise("follow-fleets", self._intent.follow_fleets)
        supervise("follow-clusters", self._intent.follow_clusters)
        supervise("health", self._tick_health)
        supervise("reconcile", self._reconcile_loop)
        supervise("remove-deleted-fleets", self._removal_loop)
        if self._writer is not None:
            supervise("persist-assignments", self._writer.run)
        if self._records_rollout_failures:
            supervise("record-rollout-failures", self._rollouts.run)
        self._mark()

    async def stop(self) -> None:
        for session in list(self._sessions.values()):
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
        old = self._sessions.pop(name, None)
        if old is not None:
            old.close()
        kept = [s for s in hello.held_sets if not s.retiring]
        held = {(s.namespace, s.name): s.hash for s in kept}
        for held_set in kept:
            self._claim((held_set.namespace, held_set.name), name, held_set.replicas)
        session = AgentSession(name, held, self.limits, reads_spec_json=hello.reads_spec_json)
        session.retiring = {(s.namespace, s.name) for s in hello.held_sets if s.retiring}
        self._sessions[name] = session
        for waiter in self._connect_waiters.pop(name, []):
            if not waiter.done():
                waiter.set_result(None)
        live = self._live.setdefault(name, _ClusterLive())
        live.hello = hello
        live.capacity = hello.capacity
        # The namespaces it serves decide where fleets may be placed.
        self._cluster_state_version += 1
        self.heartbeat(name, None)
        session.send(
            agent_pb2.HubMessage(
                status_hashes=agent_pb2.StatusHashes(hashes=self._status_hashes(name, live))
            )
        )
        self._mark()
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
            self._placements.pop(key, None)
            self._drains.pop(key, None)
            self._claimable.pop(key, None)
            self._claimed.pop(key, None)
        else:
            self.apply_traces.changed(key, after.metadata.revision)
        recording.fleet_changed(self.events, before, after)
        self._mark(key)

    def cluster_changed(
        self, name: str, before: cluster_pb2.Cluster | None, after: cluster_pb2.Cluster | None
    ) -> None:
        if after is None:
            self._forget_live_cluster(name)
        recording.cluster_changed(self.events, before, after)
        self._cluster_state_version += 1
        self._mark()
        for key in self._fleets:
            self._broadcast.notify(key)

    def _forget_live_cluster(self, name: str) -> None:
        self._live.pop(name, None)
        gone = self._index.drop_cluster(name)
        if self._server_broadcast.watched:
            for namespace, server in gone:
                self._server_broadcast.notify((name, namespace, server))
        for claimed in self._claimed.values():
            claimed.discard(name)

    def disconnect(self, session: AgentSession) -> None:
        session.close()
        if self._sessions.get(session.cluster) is session:
            del self._sessions[session.cluster]
            log.info("agent of %s disconnected", session.cluster)
            recording.agent_disconnected(self.events, session.cluster)

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
        """Take ``cluster``'s status changes; an entry beyond the limits is dropped (counted
        and logged), the rest are kept. The message's size was checked at the edge."""
        self.stats.status_deltas += 1
        live = self._live.setdefault(cluster, _ClusterLive())
        touched: set[SetKey] = set()
        session = self._sessions.get(cluster)
        if self._server_broadcast.watched:
            for reported in delta.game_servers:
                self._server_broadcast.notify((cluster, reported.namespace, reported.name))
        for index, set_status in enumerate(delta.sets):
            key = (set_status.namespace, set_status.name)
            refusal = agent_limits.set_status_refusal(set_status, index, self.limits)
            if refusal is None and key not in live.sets and not set_status.deleted:
                refusal = agent_limits.per_cluster_refusal(
                    "status.sets", index, len(live.sets) + 1, self.limits.sets_per_cluster, "sets"
                )
            if refusal is not None:
                self.refused(cluster, refusal, DROPPED)
                continue
            touched.add(key)
            before = live.sets.get(key)
            if set_status.deleted:
                live.sets.pop(key, None)
                if session is not None:
                    session.retiring.discard(key)
            else:
                live.sets[key] = set_status
                if not set_status.refused:
                    self._claim(key, cluster, set_status.desired_replicas)
            self._note_set_change(cluster, key, before, set_status)
        for index, server in enumerate(delta.game_servers):
            if server.deleted:
                touched.add((server.namespace, server.fleet))
                self._index.forget(cluster, (server.namespace, server.name))
                continue
            held = LiveServer.of(server, cluster)
            refusal = agent_limits.game_server_refusal(
                held, index, self.limits
            ) or self._index.room_refusal(held, index, self.limits)
            if refusal is not None:
                self.refused(cluster, refusal, DROPPED)
                continue
            touched.add((held.namespace, held.fleet))
            self._index.hold(held, _since(server))
        for key in touched:
            self._broadcast.notify(key)
            fleet = self._fleets.get(key)
            # A drain moves on as the servers it waits for turn Ready or their games end.
            if fleet is not None and (
                key in self._drains
                or fleet.spec.update_policy.type == rollout.SEQUENTIAL
                or fleet.spec.HasField("rollout")
                or fleet.metadata.HasField("deletion_time")
            ):
                self._mark(key)

    def _note_set_change(
        self,
        cluster: str,
        key: SetKey,
        before: agent_pb2.GameServerSetStatus | None,
        after: agent_pb2.GameServerSetStatus,
    ) -> None:
        """Act on what a set's new status tells beyond its counts: drift to put back (and the
        events of its start and end), a refusal."""
        was = list(before.drift) if before is not None else []
        now = [] if after.deleted or after.refused else list(after.drift)
        session = self._sessions.get(cluster)
        if session is not None:
            mark = desired_sets.drift_to_put_back(after, session.resent_for.get(key))
            if mark is not None:
                session.resent_for[key] = mark
                session.resend.add(key)
                self._mark(key)
            elif not now:
                session.resent_for.pop(key, None)
        if now and now != was:
            self._event(key, "Warning", "DriftDetected", f"{cluster}: {'; '.join(now)}")
        elif was and not now and not after.deleted:
            self._event(key, "Normal", "DriftCorrected", f"{cluster}: the hub's spec holds again")
        if after.refused and (before is None or before.refused != after.refused):
            self._event(key, "Warning", "SetRefused", f"{cluster}: {after.refused}")

    def _event(self, key: SetKey, kind: str, reason: str, message: str) -> None:
        """Record an event about fleet ``key`` (and log it)."""
        level = logging.WARNING if kind == "Warning" else logging.INFO
        log.log(level, "fleet %s/%s: %s: %s", key[0], key[1], reason, message)
        self.events.record(fleet_ref(*key), kind, reason, message, recording.FEDERATION)

    def resolve(self, cluster: str, result: agent_pb2.OperationResult) -> None:
        session = self._sessions.get(cluster)
        if session is not None:
            session.resolve(result)

    def refused(self, cluster: str, refusal: agent_limits.Refusal, action: str) -> None:
        """Count what the hub refused of ``cluster``'s agent; log it once per cluster, field
        and action (a misbehaving agent repeats itself)."""
        key = (refusal.field, action)
        self.stats.agent_refusals[key] = self.stats.agent_refusals.get(key, 0) + 1
        noted = (cluster, refusal.field, action)
        if (
            noted not in self._logged_refusals
            and len(self._logged_refusals) < _LOGGED_REFUSALS_KEPT
        ):
            self._logged_refusals.add(noted)
            log.warning(
                "agent of %s sent what the hub does not take (%s; logged once): %s",
                cluster or "a cluster without a valid name",
                action,
                refusal,
            )

    # -- reads -----------------------------------------------------------------------------

    def fleet_status(self, fleet: fleet_pb2.Fleet) -> fleet_pb2.FleetStatus:
        key = fleet_key(fleet)
        if fleet.metadata.HasField("deletion_time"):
            waiting = deletion.waiting_for(self._copies(key))
            return fleet_status.fleet_status(fleet, NOTHING_PLACED, self._reports(key), waiting)
        cached = self._placements.get(key)
        current = (fleet.metadata.revision, self._cluster_state_version)
        if cached is not None and cached[:2] == current:
            placement = cached[2]
        else:
            placement = self._assign(fleet)
        pool = self._index.pool(key) or allocation.Pool()
        stalled = fleet_status.stalled_update(
            pool.longest_updating(), time.time(), self.policy.update_deadline
        )
        status = fleet_status.fleet_status(
            fleet,
            placement,
            self._reports(key, fleet),
            too_large=self._too_large.get(key, {}),
            stalled=stalled,
        )
        progress = self._rollouts.progress.get(key)
        generation = fleet.metadata.generation
        if fleet.spec.HasField("rollout") and progress is not None and progress[0] == generation:
            status.rollout.CopyFrom(rollout_status.rollout_status(progress[1], generation))
            paused = rollout_status.paused_condition(progress[1], fleet.rollout_control, generation)
            status.conditions.append(paused.to_proto(generation))
        return status

    def _reports(
        self, key: SetKey, fleet: fleet_pb2.Fleet | None = None
    ) -> dict[str, ClusterReport]:
        """Each cluster's report of fleet ``key``; with the fleet, which of the clusters its
        selector matches do not serve its namespace."""
        reports = {}
        selector: selectors.Selector | None = None
        pool = self._index.pool(key) or allocation.Pool()
        ready = set(self.ready_clusters())
        for name, record in self._clusters.items():
            live = self._live.get(name, _ClusterLive())
            serves_only: tuple[str, ...] = ()
            if fleet is not None and not self._serves(name, key[0]):
                if selector is None:
                    selector = selectors.selector_from_proto(fleet.spec.placement.cluster_selector)
                if selector.matches(record.metadata.labels) and live.hello is not None:
                    serves_only = tuple(live.hello.namespaces)
            reports[name] = ClusterReport(
                self.phase(name),
                live.sets.get(key),
                serves_only,
                # Allocation picks from every Ready cluster, also one the fleet is leaving.
                allocatable=pool.candidates(name) if name in ready else 0,
                updating=pool.updating(name),
            )
        return reports

    def _serves(self, cluster: str, namespace: str) -> bool:
        """Whether the cluster's agent reconciles ``namespace`` (true until it has said)."""
        live = self._live.get(cluster)
        if live is None or live.hello is None or not live.hello.namespaces:
            return True
        return namespace in live.hello.namespaces

    def _copies(self, key: SetKey) -> list[deletion.ClusterCopy]:
        """Where a deleting fleet's set may still be, cluster by cluster."""
        assigned = self._previous.get(key, {})
        copies = []
        for name in self._clusters:
            live = self._live.get(name)
            reported = live.sets.get(key) if live is not None else None
            if reported is not None and (reported.deleted or reported.refused):
                reported = None
            session = self._sessions.get(name)
            if session is not None:
                holds = key in session.held or key in session.retiring or reported is not None
            else:
                holds = name in assigned or reported is not None
            copies.append(deletion.ClusterCopy(name, session is not None, holds, reported))
        return copies

    async def delete_fleet(
        self, namespace: str, name: str, expected_revision: int | None = None
    ) -> tuple[fleet_pb2.Fleet, bool]:
        """Delete the fleet at once when no cluster holds any of it (True); else mark it
        deleting and retire its sets: it is removed once every cluster let its set go."""
        key = (namespace or DEFAULT_NAMESPACE, name)
        known = self._fleets.get(key)
        deleting = known is not None and known.metadata.HasField("deletion_time")
        if not deleting and not deletion.waiting_for(self._copies(key)):
            removed = await self._fleet_registry.remove(*key, expected_revision=expected_revision)
            self._forget_fleet(key)
            return removed, True
        fleet = await self._fleet_registry.request_deletion(
            *key, expected_revision=expected_revision
        )
        if known is None or known.metadata.revision <= fleet.metadata.revision:
            self._fleets[key] = fleet
        if not deleting:
            self._event(key, "Normal", "Deleting", "retiring its sets in every cluster")
        self._mark(key)
        return self.with_status(fleet), False

    def _forget_fleet(self, key: SetKey) -> None:
        """The fleet is gone from the store: forget it (its assignment record too)."""
        self._fleets.pop(key, None)
        self._placements.pop(key, None)
        self._drains.pop(key, None)
        self._rollouts.forget(key)
        self._mark(key)

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
        if cluster.spec.draining:
            status.drain.CopyFrom(
                drain.cluster_drain(
                    (d[name] for d in self._drains.values() if name in d),
                    (s.counts for s in live.sets.values() if not s.deleted),
                )
            )
            reachable = live.liveness.phase is health.Phase.READY
            condition = drain.drained(status.drain, reachable)
            status.conditions.append(condition.to_proto(cluster.metadata.generation))
        return cluster

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
        by_target: dict[tuple[str, str], list[gameserver_pb2.GameServer]] = {}
        updated: list[str] = []
        errors: dict[str, str] = {}
        for server in servers:
            refusal = (
                protocol.unallocation_refusal(server.ops_state, patch.ops_state)
                if patch.HasField("ops_state") and not allow_unallocate
                else None
            )
            if refusal is not None:
                errors[f"{server.cluster}/{server.name}"] = refusal
                recording.server_refused(self.events, server, refusal, actor, "the hub")
            else:
                by_target.setdefault((server.cluster, server.namespace), []).append(server)

        def failed(server: gameserver_pb2.GameServer, why: str) -> None:
            errors[f"{server.cluster}/{server.name}"] = why
            recording.server_update_failed(self.events, server, why, actor)

        async def one(cluster: str, namespace: str, group: list[gameserver_pb2.GameServer]) -> None:
            session = self._sessions.get(cluster)
            if session is None:
                for server in group:
                    failed(server, f"cluster {cluster} is not connected")
                return
            operation = agent_pb2.TargetedOperation(
                namespace=namespace,
                game_servers=[server.name for server in group],
                patch=patch,
                allow_unallocate=allow_unallocate,
                allow_custom_ops_state=allow_custom_ops_state,
            )
            try:
                result = await session.operate(operation, timeout)
            except (TimeoutError, ConnectionError) as exc:
                for server in group:
                    failed(server, str(exc) or "timed out")
                return
            by_name = {server.name: server for server in group}
            for name in result.updated:
                updated.append(f"{cluster}/{name}")
                if name in by_name:
                    recording.server_updated(self.events, by_name[name], patch, actor)
            for name, why in result.refused.items():
                errors[f"{cluster}/{name}"] = why
                if name in by_name:
                    by = f"the agent of {cluster}"
                    recording.server_refused(self.events, by_name[name], why, actor, by)
            for name, why in result.errors.items():
                if name in by_name:
                    failed(by_name[name], why)

        await asyncio.gather(*(one(c, ns, group) for (c, ns), group in by_target.items()))
        return sorted(updated), errors

    def has_fleet(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self._fleets

    def cluster_labels(self) -> dict[str, dict[str, str]]:
        """Each registered cluster's labels (region, cloud, ...), as last observed."""
        return {name: dict(c.metadata.labels) for name, c in self._clusters.items()}

    def ready_clusters(self) -> list[str]:
        """Clusters whose agent is connected and Ready (not Unknown, not cordoned)."""
        return [
            name
            for name in self._clusters
            if name in self._sessions and self.phase(name) is health.Phase.READY
        ]

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
        """Have the owning agent set ``server`` Allocated, stamped with ``request_id``, if it is
        still Ready with opsState None; return the server as allocated, or None on a conflict.
        With ``need`` (an allocation by capacity) the agent checks the need's state and bounds
        instead, and applies its actions in the same write.

        Raises ConnectionError or TimeoutError when the agent does not answer, RuntimeError
        when it reports an error.
        """
        session = self._connected(server.cluster)
        operation = agent_pb2.TargetedOperation(
            namespace=server.namespace,
            game_servers=[server.name],
            patch=gameserver_pb2.GameServerPatch(ops_state=ALLOCATED),
            require_ready_unallocated=True,
            labels=labels,
            annotations={**annotations, protocol.ALLOCATION_REQUEST_ANNOTATION: request_id},
            need=need,
        )
        result = await session.operate(operation, timeout)
        if server.name in result.conflicts:
            return None
        if server.name not in result.updated:
            raise RuntimeError(result.errors.get(server.name, "the agent did not update it"))
        allocated = gameserver_pb2.GameServer()
        allocated.CopyFrom(server)
        if server.name in result.written:
            # The counters and lists as the agent wrote them with the allocation.
            written = result.written[server.name]
            allocated.ClearField("counters")
            allocated.ClearField("lists")
            for name, counter in written.counters.items():
                allocated.counters[name].CopyFrom(counter)
            for name, listed in written.lists.items():
                allocated.lists[name].CopyFrom(listed)
        allocated.ops_state = ALLOCATED
        allocated.labels.update(labels)
        allocated.allocation_request_id = request_id
        # The agent's next status report says the same; until then, the hub already knows.
        if self._index.get(server.cluster, server.namespace, server.name) is not None:
            self._index.hold(LiveServer.of(allocated, server.cluster), _since(allocated))
            if self._server_broadcast.watched:
                self._server_broadcast.notify((server.cluster, server.namespace, server.name))
            # The fleet's autoscaler follows allocations as they happen.
            self._broadcast.notify((server.namespace, server.fleet))
        recording.server_allocated(self.events, server, request_id)
        return allocated

    def _connected(self, cluster: str) -> AgentSession:
        """The session of ``cluster``'s agent; NotConnectedError (nothing sent) without one."""
        session = self._sessions.get(cluster)
        if session is None:
            raise NotConnectedError(f"cluster {cluster} is not connected")
        return session

    async def release_allocation(
        self, server: gameserver_pb2.GameServer, timeout: float = 10.0
    ) -> bool:
        """Have the owning agent set ``server`` back to opsState None if it is still Allocated
        for ``server.allocation_request_id``; True when it did, False when it was not (then
        nothing was changed).

        Raises ConnectionError or TimeoutError when the agent does not answer, RuntimeError
        when it reports an error.
        """
        session = self._connected(server.cluster)
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
        server = self._index.get(cluster, namespace, name)
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
        for cluster in self._index.clusters():
            reported = list(self._index.of_cluster(cluster).values())
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

    def autoscaling_snapshot(self, namespace: str, name: str) -> demand.FleetSnapshot | None:
        """The fleet and each cluster as its autoscaler reads them (hub/federation/autoscaler.py),
        or None while the fleet is unknown or the hub waits for its agents after a start."""
        key = (namespace, name)
        fleet = self._fleets.get(key)
        if fleet is None or self._starting():
            return None
        pool = self._index.pool(key)
        tally = pool.tally() if pool is not None else {}
        assigned = self._previous.get(key, {})
        selector = selectors.selector_from_proto(fleet.spec.placement.cluster_selector)
        clusters = []
        for state in self._cluster_states(key):
            allocated, idle = tally.get(state.name, (0, 0))
            reported = self._live.get(state.name, _ClusterLive()).sets.get(key)
            # A set whose replicas a local owner (an HPA, KEDA) sets keeps its share and takes
            # no buffer, as a cordoned cluster does: the hub does not fight that owner.
            owned_locally = reported is not None and bool(reported.replicas_owner)
            clusters.append(
                demand.ClusterSnapshot(
                    name=state.name,
                    labels=state.labels,
                    phase=health.Phase.CORDONED if owned_locally else state.phase,
                    eligible=state.serves and selector.matches(state.labels),
                    assigned=assigned.get(state.name, 0),
                    allocated=max(allocated, state.allocated),
                    idle=idle,
                )
            )
        return demand.FleetSnapshot(fleet, tuple(clusters))

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

    def _status_hashes(self, cluster: str, live: _ClusterLive) -> dict[str, str]:
        """The hashes of what the hub holds of ``cluster``, within one message an agent
        receives. Past that, the hub forgets the servers left out: the agent, not finding
        their hashes, sends them again (an agent that understood several such messages would
        need a new protocol; this keeps the old one)."""
        hashes = {
            protocol.set_key(*key): protocol.status_hash(status)
            for key, status in live.sets.items()
        }
        room = limits.AGENT_RECEIVE_BYTES - _HASHES_HEADROOM
        room -= sum(len(k) + len(v) + _HASH_ENTRY_FRAMING for k, v in hashes.items())
        left_out = []
        for key, server in self._index.of_cluster(cluster).items():
            name, digest = protocol.game_server_key(*key), server.status_hash()
            room -= len(name) + len(digest) + _HASH_ENTRY_FRAMING
            if room < 0:
                left_out.append(key)
            else:
                hashes[name] = digest
        for key in left_out:
            self._index.forget(cluster, key)
        if left_out:
            log.info(
                "status hashes of %s: %d servers do not fit one message; the agent resends them",
                cluster,
                len(left_out),
            )
        return hashes

    def _phase_changed(self, cluster: str, before: health.Phase, after: health.Phase) -> None:
        log.info("cluster %s: %s -> %s", cluster, before.value, after.value)
        recording.phase_changed(self.events, cluster, before, after, self.policy)
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
                    serves=self._serves(name, key[0]),
                    ready=reported.counts.ready if reported is not None else 0,
                    draining=record.spec.draining,
                    # Its Allocated count is known only once it reported the set (status is
                    # soft: after a hub restart, not before its agent resends it).
                    reachable=live.liveness.phase is health.Phase.READY and reported is not None,
                )
            )
        return states

    def _assign(self, fleet: fleet_pb2.Fleet) -> Placement:
        return self._plan(fleet).placement

    def _plan(self, fleet: fleet_pb2.Fleet) -> assignment.Plan:
        key = fleet_key(fleet)
        return assignment.plan(
            fleet,
            self._cluster_states(key),
            self._previous.get(key, {}),
            self._clock(),
            assignment.Claims(frozenset(self._claimed.get(key, ())), self._claimable.get(key, 0)),
        )

    def _claim(self, key: SetKey, cluster: str, replicas: int) -> None:
        """Take an agent's word for the replicas it holds of a fleet, where the hub knows
        nothing better: only for fleets it found without an assignment record when it began to
        lead (so a restart moves nothing), only for a cluster not in the fleet's assignment yet,
        and at most the fleet's replicas. The entry stays marked a claim until the cluster is
        Ready: assignment.assign keeps a claim of a cluster that is not Ready only from the
        replicas the Ready clusters do not hold, so a claim never lowers another cluster's share.
        """
        fleet = self._fleets.get(key)
        if fleet is None or key not in self._claimable:
            return
        previous = self._previous.setdefault(key, {})
        if cluster not in previous:
            previous[cluster] = max(0, min(replicas, fleet.spec.replicas))
            self._claimed.setdefault(key, set()).add(cluster)

    def _remember(self, key: SetKey, assigned: dict[str, int]) -> dict[str, int]:
        """The fleet's last assignment to keep: the placement, where a claim of a cluster not
        Ready yet stays the claim it was (placement may have cut it for now)."""
        claimed = self._claimed.get(key)
        if not claimed:
            return assigned
        claimed -= {name for name in claimed if self.phase(name) is health.Phase.READY}
        if not claimed:
            del self._claimed[key]
            return assigned
        before = self._previous.get(key, {})
        return {**assigned, **{name: before.get(name, 0) for name in claimed}}

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
        messages: dict[str, list[agent_pb2.DesiredSet]] = {}
        silent = {n for n in self._sessions if self.phase(n) is health.Phase.UNKNOWN}
        for key in sorted(keys):
            parent = self.apply_traces.take(key)
            if parent:
                self._reconcile_traced(key, parent, messages, silent)
            else:
                self._reconcile_fleet(key, messages, silent)
        for name, entries in messages.items():
            for part in desired_sets.in_messages(entries):
                self._sessions[name].send(agent_pb2.HubMessage(desired=part))
                self.stats.desired_messages += 1

    def _reconcile_traced(
        self,
        key: SetKey,
        parent: str,
        messages: dict[str, list[agent_pb2.DesiredSet]],
        silent: set[str],
    ) -> None:
        """``_reconcile_fleet`` in the trace of the ApplyFleet call that changed ``key``: the
        sets it sends carry the placement's span, which the agents' applies continue."""
        attributes = {"fleet.namespace": key[0], "fleet.name": key[1]}
        with telemetry.span("fleet.placement", attributes, parent):
            self._reconcile_fleet(key, messages, silent, telemetry.traceparent())

    def _reconcile_fleet(
        self,
        key: SetKey,
        messages: dict[str, list[agent_pb2.DesiredSet]],
        silent: set[str],
        trace_parent: str = "",
    ) -> None:
        """Add to ``messages`` the sets each cluster should get for fleet ``key``, each
        carrying ``trace_parent``."""
        rendered = self._render(key)
        # A set changed in its cluster (drift) goes again, as if the agent held nothing.
        held = {
            name: None if key in session.resend else session.held.get(key)
            for name, session in self._sessions.items()
        }
        for session in self._sessions.values():
            session.resend.discard(key)
        noted = self._too_large.pop(key, {})
        for name, wanted in desired_sets.changes(key, rendered, held, silent).items():
            entry = desired_sets.for_agent(wanted, self._sessions[name].reads_spec_json)
            entry.trace_parent = trace_parent  # before its size is checked: it travels too
            size = entry.ByteSize()
            if size > desired_sets.MAX_SET_BYTES:
                self._refuse_to_send(key, name, size, noted)
                continue
            messages.setdefault(name, []).append(entry)
            if entry.deleted:
                self._sessions[name].held.pop(key, None)
            else:
                self._sessions[name].held[key] = entry.hash
        self._check_deleted(key)

    def _refuse_to_send(self, key: SetKey, cluster: str, size: int, noted: dict[str, int]) -> None:
        """A set no agent could receive is not sent (the agent would fail its stream on it and
        reconnect forever); the fleet's status says why (Degraded, SetTooLarge). Logged when
        first found (``noted``: what the previous reconcile of the fleet found)."""
        too_large = self._too_large.setdefault(key, {})
        if noted.get(cluster) != size:
            log.warning(
                "the set of %s/%s for %s is %d bytes, over the %d an agent receives: not sent",
                *key,
                cluster,
                size,
                desired_sets.MAX_SET_BYTES,
            )
        too_large[cluster] = size

    def _check_deleted(self, key: SetKey) -> None:
        """Queue a deleting fleet for removal once no cluster holds its set any more."""
        fleet = self._fleets.get(key)
        if fleet is None or not fleet.metadata.HasField("deletion_time"):
            return
        copies = self._copies(key)
        assigned = self._previous.get(key)
        let_go = [c.cluster for c in copies if c.connected and not c.holds]
        if assigned is not None and any(name in assigned for name in let_go):
            # Gone from a cluster the hub sees: not waited for if that cluster goes silent.
            for name in let_go:
                assigned.pop(name, None)
            self._persist(key, assigned)
        if not deletion.waiting_for(copies):
            self._removable[key] = fleet.metadata.revision
            self._removable_changed.set()

    def _render(self, key: SetKey) -> dict[str, agent_pb2.DesiredSet]:
        """The set each cluster should hold for fleet ``key`` (none when the fleet is gone or
        deleting)."""
        fleet = self._fleets.get(key)
        if fleet is None or fleet.metadata.HasField("deletion_time"):
            self._drains.pop(key, None)
        if fleet is None:
            if self._previous.pop(key, None) is not None:
                self._persist(key, None)
            return {}
        if fleet.metadata.HasField("deletion_time"):
            self._broadcast.notify(key)
            return {}
        plan = self._plan(fleet)
        placement = plan.placement
        if plan.drains:
            self._drains[key] = plan.drains
        else:
            self._drains.pop(key, None)
        self._placements[key] = (
            fleet.metadata.revision,
            self._cluster_state_version,
            placement,
        )
        assigned = placement.replicas_by_cluster()
        remembered = self._remember(key, assigned)
        if self._previous.get(key) != remembered:
            self._persist(key, assigned)
        self._previous[key] = remembered
        rendered = {
            share.cluster: desired_sets.desired_set(fleet, share) for share in placement.assignments
        }
        for cluster in self._held_back(fleet, rendered):
            # Keep what the cluster holds: the same hash sends nothing. Drift there is put
            # right when the rollout reaches it (the hub keeps no copy of the older spec).
            rendered[cluster].hash = self._sessions[cluster].held[key]
            self._sessions[cluster].resend.discard(key)
        self._broadcast.notify(key)
        return rendered

    def _held_back(
        self, fleet: fleet_pb2.Fleet, rendered: dict[str, agent_pb2.DesiredSet]
    ) -> set[str]:
        key = fleet_key(fleet)
        if fleet.spec.HasField("rollout"):
            return self._progressive_held_back(fleet, rendered)
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

    def _progressive_held_back(
        self, fleet: fleet_pb2.Fleet, rendered: dict[str, agent_pb2.DesiredSet]
    ) -> set[str]:
        """The clusters the rollout's gates keep on the template they hold for now."""
        key = fleet_key(fleet)
        qualities = frozenset(fleet.spec.rollout.qualities)
        labels: dict[str, Mapping[str, str]] = {}
        observed = {}
        for cluster, desired_set in rendered.items():
            record = self._clusters.get(cluster)
            labels[cluster] = record.metadata.labels if record is not None else {}
            session = self._sessions.get(cluster)
            template = rollout_observed.template_of(desired_set.hash)
            servers = (
                ()
                if self._rollouts.succeeded(key, cluster, template)
                else (s.decode() for s in self._index.of_fleet_in(cluster, *key))
            )
            observed[cluster] = rollout_observed.observe(
                desired_set.hash,
                session.held.get(key) if session is not None else None,
                self._live.get(cluster, _ClusterLive()).sets.get(key),
                servers,
                qualities,
            )
        waves = rollout_waves.waves(fleet, labels)
        progress = self._rollouts.decide(fleet, waves, observed)
        return {cluster for cluster in progress.held_back if cluster in self._sessions}

    def _persist(self, key: SetKey, assigned: dict[str, int] | None) -> None:
        if self._writer is not None:
            self._writer.save(key, assigned)

    async def _removal_loop(self) -> None:
        """Remove the deleting fleets every cluster has let go of from the store."""
        while True:
            await self._removable_changed.wait()
            self._removable_changed.clear()
            while self._removable:
                key, revision = self._removable.popitem()
                try:
                    await self._fleet_registry.remove(*key, expected_revision=revision)
                except (registry_errors.NotFoundError, registry_errors.RevisionMismatchError):
                    self._mark(key)  # gone already, or changed: look again
                    continue
                except Exception:
                    log.exception("removing the deleted fleet %s/%s; retrying", *key)
                    self._removable.setdefault(key, revision)
                    await asyncio.sleep(1.0)
                    continue
                log.info("fleet %s/%s: every cluster's set is gone: removed", *key)
                self._forget_fleet(key)

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
        wall = time.time()
        while True:
            await asyncio.sleep(self._tick)
            now = self._clock()
            wall, before_wall = time.time(), wall
            self._notify_stalled(before_wall, wall)
            for name in list(self._clusters):
                live = self._live.setdefault(name, _ClusterLive())
                before = live.liveness.phase
                live.liveness = health.on_tick(live.liveness, now, self.policy)
                if live.liveness.phase is not before:
                    self._phase_changed(name, before, live.liveness.phase)
            failover_pending = any(
                f.spec.placement.failover.enabled for f in self._fleets.values()
            ) and any(self.phase(n) is health.Phase.UNKNOWN for n in self._clusters)
            for key in self._rollouts.due():
                self._mark(key)
            if self._deferred and not self._starting():
                self._mark()
            elif failover_pending:
                for key, fleet in self._fleets.items():
                    if fleet.spec.placement.failover.enabled:
                        self._mark(key)

    def _notify_stalled(self, before: float, now: float) -> None:
        """Tell watchers of each fleet whose longest-Updating server passed the update deadline
        between ``before`` and ``now`` (wall seconds): its status turned Degraded by time alone."""
        deadline = self.policy.update_deadline
        for key, pool in self._index.pools():
            longest = pool.longest_updating()
            if longest is not None and before - longest.since <= deadline < now - longest.since:
                self._broadcast.notify(key)


_STATE_OF = operator.attrgetter("state", "ops_state")
# Bytes of a StatusHashes message besides its entries, and the most one entry adds to its key
# and value (a map entry's tags and length prefixes).
_HASHES_HEADROOM = 1024
_HASH_ENTRY_FRAMING = 16


def _since(server: gameserver_pb2.GameServer) -> float:
    """When the server entered its state (epoch seconds), read only while it is Updating: an
    agent that does not say is taken to mean now."""
    if server.state != allocation.UPDATING:
        return 0.0
    stamp = server.last_transition_time
    return stamp.seconds + stamp.nanos / 1e9 if stamp.seconds else time.time()
