"""What the federation reads out: each fleet's and cluster's status, the live counts for
metrics, and a fleet as its autoscaler sees it, from the intent, the agents' reports and the
placement."""

from __future__ import annotations

import asyncio
import collections
import operator
import time

from gamefleet.v1 import agent_pb2, cluster_pb2, fleet_pb2, gameserver_pb2

from hub.core import (
    allocation,
    deletion,
    drain,
    fleet_status,
    health,
    rollout_status,
    selectors,
)
from hub.core.autoscaling import demand
from hub.core.desired_sets import SetKey
from hub.core.fleet_status import ClusterReport
from hub.core.placement import Placement

from .intent import IntentMirror, fleet_key
from .links import AgentLinks, ClusterLive
from .live_index import LiveIndex
from .placer import Placer
from .rollouts import RolloutTracker
from .stats import FederationStats, LiveCounts

NOTHING_PLACED = Placement((), 0, ())
_STATE_OF = operator.attrgetter("state", "ops_state")


class StatusReads:
    """Reads of the federation's state; they change nothing."""

    def __init__(
        self,
        intent: IntentMirror,
        links: AgentLinks,
        index: LiveIndex,
        placer: Placer,
        rollouts: RolloutTracker,
        policy: health.HealthPolicy,
        stats: FederationStats,
    ) -> None:
        self._intent = intent
        self._links = links
        self._index = index
        self._placer = placer
        self._rollouts = rollouts
        self._policy = policy
        self._stats = stats

    def fleet_status(self, fleet: fleet_pb2.Fleet) -> fleet_pb2.FleetStatus:
        key = fleet_key(fleet)
        if fleet.metadata.HasField("deletion_time"):
            waiting = deletion.waiting_for(self._placer.copies(key))
            return fleet_status.fleet_status(fleet, NOTHING_PLACED, self.reports(key), waiting)
        placement = self._placer.placement(fleet)
        pool = self._index.pool(key) or allocation.Pool()
        stalled = fleet_status.stalled_update(
            pool.longest_updating(), time.time(), self._policy.update_deadline
        )
        status = fleet_status.fleet_status(
            fleet,
            placement,
            self.reports(key, fleet),
            too_large=self._placer.too_large.get(key, {}),
            stalled=stalled,
        )
        progress = self._rollouts.progress.get(key)
        generation = fleet.metadata.generation
        if fleet.spec.HasField("rollout") and progress is not None and progress[0] == generation:
            status.rollout.CopyFrom(rollout_status.rollout_status(progress[1], generation))
            paused = rollout_status.paused_condition(progress[1], fleet.rollout_control, generation)
            status.conditions.append(paused.to_proto(generation))
        return status

    def reports(
        self, key: SetKey, fleet: fleet_pb2.Fleet | None = None
    ) -> dict[str, ClusterReport]:
        """Each cluster's report of fleet ``key``; with the fleet, which of the clusters its
        selector matches do not serve its namespace."""
        reports = {}
        selector: selectors.Selector | None = None
        pool = self._index.pool(key) or allocation.Pool()
        ready = set(self._links.ready_clusters())
        for name, record in self._intent.clusters.items():
            live = self._links.live.get(name, ClusterLive())
            serves_only: tuple[str, ...] = ()
            if fleet is not None and not self._links.serves(name, key[0]):
                if selector is None:
                    selector = selectors.selector_from_proto(fleet.spec.placement.cluster_selector)
                if selector.matches(record.metadata.labels) and live.hello is not None:
                    serves_only = tuple(live.hello.namespaces)
            reports[name] = ClusterReport(
                self._links.phase(name),
                live.sets.get(key),
                serves_only,
                # Allocation picks from every Ready cluster, also one the fleet is leaving.
                allocatable=pool.candidates(name) if name in ready else 0,
                updating=pool.updating(name),
            )
        return reports

    def cluster_status(self, cluster: cluster_pb2.Cluster) -> cluster_pb2.Cluster:
        name = cluster.metadata.name
        live = self._links.live.get(name, ClusterLive())
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
                    (d[name] for d in self._placer.drains.values() if name in d),
                    (self._in_use_counts(name, key, s) for key, s in live.sets.items()),
                )
            )
            reachable = live.liveness.phase is health.Phase.READY
            condition = drain.drained(status.drain, reachable)
            status.conditions.append(condition.to_proto(cluster.metadata.generation))
        return cluster

    def _in_use_counts(
        self, cluster: str, key: SetKey, reported: agent_pb2.GameServerSetStatus
    ) -> gameserver_pb2.GameServerCounts:
        """The set's counts with its servers holding players counted as Allocated (in use)."""
        counts = gameserver_pb2.GameServerCounts()
        if reported.deleted:
            return counts
        counts.CopyFrom(reported.counts)
        pool = self._index.pool(key)
        if pool is not None:
            counts.allocated = max(counts.allocated, pool.in_use(cluster))
        return counts

    async def live_counts(self, chunk: int = 5000) -> LiveCounts:
        """How much live state this federation holds, for metrics.

        Counting game servers walks every one (about 0.5 µs each), so it lets the loop run
        after every ``chunk`` of them: a scrape never holds up the hub for long.
        """
        clusters: dict[tuple[str, bool], int] = {}
        for name, record in self._intent.clusters.items():
            live = self._links.live.get(name)
            phase = live.liveness.phase if live is not None else health.Phase.UNKNOWN
            key = (phase.value, record.spec.cordoned)
            clusters[key] = clusters.get(key, 0) + 1
        fleets, sessions, stats = (
            len(self._intent.fleets),
            len(self._links.sessions),
            self._stats.copy(),
        )
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
        fleet = self._intent.fleets.get(key)
        if fleet is None or self._placer.starting():
            return None
        pool = self._index.pool(key)
        tally = pool.tally() if pool is not None else {}
        assigned = self._placer.previous.get(key, {})
        selector = selectors.selector_from_proto(fleet.spec.placement.cluster_selector)
        clusters = []
        for state in self._placer.cluster_states(key):
            allocated, idle = tally.get(state.name, (0, 0))
            reported = self._links.live.get(state.name, ClusterLive()).sets.get(key)
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
