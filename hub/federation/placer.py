"""Placement over time: each fleet's placement as clusters come and go, and the desired sets
it means for each connected agent, sent when a fleet or a cluster changes.

Computes with the pure core (``hub.core.assignment``, ``desired_sets``, ``rollout``) and keeps
what it last decided: each fleet's assignment (persisted through the AssignmentWriter), its
drains, its placement (cached per fleet revision and cluster state) and the sets too large to
send.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from gamefleet import telemetry
from gamefleet.v1 import agent_pb2, fleet_pb2

from hub.core import (
    assignment,
    deletion,
    desired_sets,
    drain,
    health,
)
from hub.core.desired_sets import SetKey
from hub.core.placement import Placement
from hub.registry import errors as registry_errors
from hub.registry.fleets import FleetRegistry

from .assignment_writer import AssignmentWriter
from .holds import RolloutHolds
from .intent import IntentMirror, fleet_key
from .links import AgentLinks, ClusterLive
from .live_index import LiveIndex
from .rollouts import RolloutTracker
from .stats import FederationStats
from .traces import ApplyTraces
from .watchers import StatusBroadcast

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class Placer:
    """Keeps every connected agent's desired sets those of the fleets' placement."""

    def __init__(
        self,
        intent: IntentMirror,
        links: AgentLinks,
        index: LiveIndex,
        rollouts: RolloutTracker,
        *,
        fleet_registry: FleetRegistry,
        writer: AssignmentWriter | None,
        policy: health.HealthPolicy,
        clock: Clock,
        broadcast: StatusBroadcast,
        traces: ApplyTraces,
        stats: FederationStats,
    ) -> None:
        self._intent = intent
        self._links = links
        self._index = index
        self._rollouts = rollouts
        self._holds = RolloutHolds(intent, links, index, rollouts)
        self._fleet_registry = fleet_registry
        self._writer = writer
        self._policy = policy
        self._clock = clock
        self._broadcast = broadcast
        self._traces = traces
        self._stats = stats
        # Each fleet's last assignment: replicas by cluster.
        self.previous: dict[SetKey, dict[str, int]] = {}
        # Fleets the hub had no assignment record of when it began to lead, with their replicas
        # then: only for these does it take an agent's word for what it holds (see claim).
        self._claimable: dict[SetKey, int] = {}
        # Per fleet, clusters whose entry in previous is an agent's claim, not the hub's choice.
        self._claimed: dict[SetKey, set[str]] = {}
        # Per fleet, clusters whose set is too large to send them, and its size in bytes.
        self.too_large: dict[SetKey, dict[str, int]] = {}
        # Per fleet, its drain of each draining cluster it has a share of (as last placed).
        self.drains: dict[SetKey, Mapping[str, drain.DrainProgress]] = {}
        # Placement of each fleet as of (fleet revision, cluster state version).
        self._placed: dict[SetKey, tuple[int, int, Placement]] = {}
        self._clusters_version = 0
        # Deleting fleets every cluster has let go of: removed from the store by
        # remove_deleted, guarded by the revision they were deleting at.
        self._removable: dict[SetKey, int] = {}
        self._removable_changed = asyncio.Event()
        self._dirty = asyncio.Event()
        self._pending: set[SetKey] = set()
        self._pending_all = False
        self._started_at = 0.0
        # The last reconcile waited for the agents after a start (placed nothing).
        self.deferred = False

    def begin(self, previous: dict[SetKey, dict[str, int]], started_at: float) -> None:
        """Start from the stored assignments ``previous``: placement waits for the agents
        until the grace period from ``started_at`` ends (see ``starting``)."""
        self._started_at = started_at
        self.previous = previous
        self._claimable = {
            key: fleet.spec.replicas
            for key, fleet in self._intent.fleets.items()
            if key not in self.previous
        }

    def clusters_changed(self) -> None:
        """A cluster's registration, session or phase changed: place every fleet again."""
        self._clusters_version += 1
        self.mark()

    def fleet_gone(self, key: SetKey) -> None:
        self._placed.pop(key, None)
        self.drains.pop(key, None)
        self._claimable.pop(key, None)
        self._claimed.pop(key, None)

    def cluster_gone(self, name: str) -> None:
        for claimed in self._claimed.values():
            claimed.discard(name)

    def placement(self, fleet: fleet_pb2.Fleet) -> Placement:
        """The fleet's placement now (as last reconciled while nothing changed since)."""
        cached = self._placed.get(fleet_key(fleet))
        if cached is not None and cached[:2] == (fleet.metadata.revision, self._clusters_version):
            return cached[2]
        return self._plan(fleet).placement

    def copies(self, key: SetKey) -> list[deletion.ClusterCopy]:
        """Where a deleting fleet's set may still be, cluster by cluster."""
        assigned = self.previous.get(key, {})
        copies = []
        for name in self._intent.clusters:
            live = self._links.live.get(name)
            reported = live.sets.get(key) if live is not None else None
            if reported is not None and (reported.deleted or reported.refused):
                reported = None
            session = self._links.sessions.get(name)
            if session is not None:
                holds = key in session.held or key in session.retiring or reported is not None
            else:
                holds = name in assigned or reported is not None
            copies.append(deletion.ClusterCopy(name, session is not None, holds, reported))
        return copies

    def forget_fleet(self, key: SetKey) -> None:
        """The fleet is gone from the store: forget it (its assignment record too)."""
        self._intent.fleets.pop(key, None)
        self._placed.pop(key, None)
        self.drains.pop(key, None)
        self._rollouts.forget(key)
        self.mark(key)

    def cluster_states(self, key: SetKey) -> list[assignment.ClusterState]:
        states = []
        pool = self._index.pool(key)
        for name, record in sorted(self._intent.clusters.items()):
            live = self._links.live.get(name, ClusterLive())
            reported = live.sets.get(key)
            # In use: the set's Allocated count, or more from the servers (players on them).
            in_use = pool.in_use(name) if pool is not None else 0
            states.append(
                assignment.ClusterState(
                    name=name,
                    labels=dict(record.metadata.labels),
                    phase=self._links.phase(name),
                    unknown_since=live.liveness.unknown_since,
                    allocated=(
                        max(reported.counts.allocated, in_use) if reported is not None else 0
                    ),
                    serves=self._links.serves(name, key[0]),
                    ready=reported.counts.ready if reported is not None else 0,
                    draining=record.spec.draining,
                    # Its Allocated count is known only once it reported the set (status is
                    # soft: after a hub restart, not before its agent resends it).
                    reachable=live.liveness.phase is health.Phase.READY and reported is not None,
                )
            )
        return states

    def _plan(self, fleet: fleet_pb2.Fleet) -> assignment.Plan:
        key = fleet_key(fleet)
        return assignment.plan(
            fleet,
            self.cluster_states(key),
            self.previous.get(key, {}),
            self._clock(),
            assignment.Claims(frozenset(self._claimed.get(key, ())), self._claimable.get(key, 0)),
        )

    def claim(self, key: SetKey, cluster: str, replicas: int) -> None:
        """Take an agent's word for the replicas it holds of a fleet, where the hub knows
        nothing better: only for fleets it found without an assignment record when it began to
        lead (so a restart moves nothing), only for a cluster not in the fleet's assignment yet,
        and at most the fleet's replicas. The entry stays marked a claim until the cluster is
        Ready: assignment.assign keeps a claim of a cluster that is not Ready only from the
        replicas the Ready clusters do not hold, so a claim never lowers another cluster's share.
        """
        fleet = self._intent.fleets.get(key)
        if fleet is None or key not in self._claimable:
            return
        previous = self.previous.setdefault(key, {})
        if cluster not in previous:
            previous[cluster] = max(0, min(replicas, fleet.spec.replicas))
            self._claimed.setdefault(key, set()).add(cluster)

    def _remember(self, key: SetKey, assigned: dict[str, int]) -> dict[str, int]:
        """The fleet's last assignment to keep: the placement, where a claim of a cluster not
        Ready yet stays the claim it was (placement may have cut it for now)."""
        claimed = self._claimed.get(key)
        if not claimed:
            return assigned
        claimed -= {name for name in claimed if self._links.phase(name) is health.Phase.READY}
        if not claimed:
            del self._claimed[key]
            return assigned
        before = self.previous.get(key, {})
        return {**assigned, **{name: before.get(name, 0) for name in claimed}}

    def starting(self) -> bool:
        """Right after start, wait for every registered agent (or the grace period) before
        placing, so that a hub restart does not move replicas off clusters not yet back."""
        if self._clock() - self._started_at > self._policy.grace:
            return False
        return any(name not in self._links.sessions for name in self._intent.clusters)

    def mark(self, key: SetKey | None = None) -> None:
        """Reconcile ``key`` soon, or every fleet when None (cluster or session changes)."""
        if key is None:
            self._pending_all = True
        else:
            self._pending.add(key)
        self._dirty.set()

    def _reconcile(self) -> None:
        self.deferred = self.starting()
        if self.deferred:
            return
        if self._pending_all:
            keys = set(self._intent.fleets)
            for session in self._links.sessions.values():
                keys.update(session.held)
        else:
            keys = set(self._pending)
        self._pending_all = False
        self._pending.clear()
        messages: dict[str, list[agent_pb2.DesiredSet]] = {}
        silent = {n for n in self._links.sessions if self._links.phase(n) is health.Phase.UNKNOWN}
        for key in sorted(keys):
            parent = self._traces.take(key)
            if parent:
                self._reconcile_traced(key, parent, messages, silent)
            else:
                self._reconcile_fleet(key, messages, silent)
        for name, entries in messages.items():
            for part in desired_sets.in_messages(entries):
                self._links.sessions[name].send(agent_pb2.HubMessage(desired=part))
                self._stats.desired_messages += 1

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
            for name, session in self._links.sessions.items()
        }
        for session in self._links.sessions.values():
            session.resend.discard(key)
        noted = self.too_large.pop(key, {})
        for name, wanted in desired_sets.changes(key, rendered, held, silent).items():
            entry = desired_sets.for_agent(wanted, self._links.sessions[name].reads_spec_json)
            entry.trace_parent = trace_parent  # before its size is checked: it travels too
            size = entry.ByteSize()
            if size > desired_sets.MAX_SET_BYTES:
                self._refuse_to_send(key, name, size, noted)
                continue
            messages.setdefault(name, []).append(entry)
            if entry.deleted:
                self._links.sessions[name].held.pop(key, None)
            else:
                self._links.sessions[name].held[key] = entry.hash
        self._check_deleted(key)

    def _refuse_to_send(self, key: SetKey, cluster: str, size: int, noted: dict[str, int]) -> None:
        """A set no agent could receive is not sent (the agent would fail its stream on it and
        reconnect forever); the fleet's status says why (Degraded, SetTooLarge). Logged when
        first found (``noted``: what the previous reconcile of the fleet found)."""
        too_large = self.too_large.setdefault(key, {})
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
        fleet = self._intent.fleets.get(key)
        if fleet is None or not fleet.metadata.HasField("deletion_time"):
            return
        copies = self.copies(key)
        assigned = self.previous.get(key)
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
        fleet = self._intent.fleets.get(key)
        if fleet is None or fleet.metadata.HasField("deletion_time"):
            self.drains.pop(key, None)
        if fleet is None:
            if self.previous.pop(key, None) is not None:
                self._persist(key, None)
            return {}
        if fleet.metadata.HasField("deletion_time"):
            self._broadcast.notify(key)
            return {}
        plan = self._plan(fleet)
        placement = plan.placement
        if plan.drains:
            self.drains[key] = plan.drains
        else:
            self.drains.pop(key, None)
        self._placed[key] = (
            fleet.metadata.revision,
            self._clusters_version,
            placement,
        )
        assigned = placement.replicas_by_cluster()
        remembered = self._remember(key, assigned)
        if self.previous.get(key) != remembered:
            self._persist(key, assigned)
        self.previous[key] = remembered
        rendered = {
            share.cluster: desired_sets.desired_set(fleet, share) for share in placement.assignments
        }
        for cluster in self._holds.held_back(fleet, rendered):
            # Keep what the cluster holds: the same hash sends nothing. Drift there is put
            # right when the rollout reaches it (the hub keeps no copy of the older spec).
            rendered[cluster].hash = self._links.sessions[cluster].held[key]
            self._links.sessions[cluster].resend.discard(key)
        self._broadcast.notify(key)
        return rendered

    def _persist(self, key: SetKey, assigned: dict[str, int] | None) -> None:
        if self._writer is not None:
            self._writer.save(key, assigned)

    async def remove_deleted(self) -> None:
        """Remove the deleting fleets every cluster has let go of from the store."""
        while True:
            await self._removable_changed.wait()
            self._removable_changed.clear()
            while self._removable:
                key, revision = self._removable.popitem()
                try:
                    await self._fleet_registry.remove(*key, expected_revision=revision)
                except (registry_errors.NotFoundError, registry_errors.RevisionMismatchError):
                    self.mark(key)  # gone already, or changed: look again
                    continue
                except Exception:
                    log.exception("removing the deleted fleet %s/%s; retrying", *key)
                    self._removable.setdefault(key, revision)
                    await asyncio.sleep(1.0)
                    continue
                log.info("fleet %s/%s: every cluster's set is gone: removed", *key)
                self.forget_fleet(key)

    async def reconcile_changes(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            began = time.perf_counter()
            try:
                self._reconcile()
            except Exception:
                log.exception("reconcile failed; retrying on the next change")
            if not self.deferred:
                self._stats.observe_reconcile(time.perf_counter() - began)
