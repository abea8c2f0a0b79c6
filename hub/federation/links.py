"""The connected agents: each cluster's session, its liveness and what its agent said.

Soft state, rebuilt from the agents when they reconnect (principle 2).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from gamefleet import protocol
from gamefleet.v1 import agent_pb2, cluster_pb2
from google.protobuf import timestamp_pb2

from hub.core import agent_limits, health, limits
from hub.core.desired_sets import SetKey

from .intent import IntentMirror
from .live_index import LiveIndex
from .session import AgentSession
from .stats import FederationStats

log = logging.getLogger(__name__)

Clock = Callable[[], float]
# What the hub did with a message or entry an agent sent beyond the limits: ended the stream
# (refused), or ignored that entry and kept the rest (dropped).
REFUSED = "refused"
DROPPED = "dropped"
# A cluster's liveness phase before and after a heartbeat or a tick changed it.
PhaseChange = tuple[health.Phase, health.Phase]
# Refusals logged (once each per cluster, field and action) before the hub stops noting new ones.
_LOGGED_REFUSALS_KEPT = 10_000
# Bytes of a StatusHashes message besides its entries, and the most one entry adds to its key
# and value (a map entry's tags and length prefixes).
_HASHES_HEADROOM = 1024
_HASH_ENTRY_FRAMING = 16


class NotConnectedError(ConnectionError):
    """The cluster's agent is not connected: nothing was sent to it."""


@dataclasses.dataclass
class ClusterLive:
    """What the hub knows of a cluster beyond its registration."""

    liveness: health.Liveness = dataclasses.field(default_factory=health.Liveness)
    hello: agent_pb2.AgentHello | None = None
    capacity: cluster_pb2.ClusterCapacity | None = None
    last_heartbeat_wall: timestamp_pb2.Timestamp | None = None
    sets: dict[SetKey, agent_pb2.GameServerSetStatus] = dataclasses.field(default_factory=dict)


class AgentLinks:
    """Every agent's session (one per cluster) and every registered cluster's liveness."""

    def __init__(
        self,
        intent: IntentMirror,
        policy: health.HealthPolicy,
        clock: Clock,
        bounds: agent_limits.AgentLimits,
        stats: FederationStats,
    ) -> None:
        self._intent = intent
        self._policy = policy
        self._clock = clock
        self._limits = bounds
        self._stats = stats
        self.sessions: dict[str, AgentSession] = {}
        self.live: dict[str, ClusterLive] = {}
        # Callers waiting for a cluster's agent to connect.
        self._connect_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._logged_refusals: set[tuple[str, str, str]] = set()

    def open(self, hello: agent_pb2.AgentHello) -> AgentSession:
        """The new session of ``hello.cluster``'s agent, replacing (and closing) an older one."""
        name = hello.cluster
        old = self.sessions.pop(name, None)
        if old is not None:
            old.close()
        held = {(s.namespace, s.name): s.hash for s in hello.held_sets if not s.retiring}
        session = AgentSession(name, held, self._limits, reads_spec_json=hello.reads_spec_json)
        session.retiring = {(s.namespace, s.name) for s in hello.held_sets if s.retiring}
        self.sessions[name] = session
        for waiter in self._connect_waiters.pop(name, []):
            if not waiter.done():
                waiter.set_result(None)
        live = self.live.setdefault(name, ClusterLive())
        live.hello = hello
        live.capacity = hello.capacity
        return session

    def close(self, session: AgentSession) -> bool:
        """Close ``session``; True when it was its cluster's current one (now gone)."""
        session.close()
        if self.sessions.get(session.cluster) is not session:
            return False
        del self.sessions[session.cluster]
        return True

    def heartbeat(self, cluster: str, beat: agent_pb2.Heartbeat | None) -> PhaseChange | None:
        live = self.live.setdefault(cluster, ClusterLive())
        before = live.liveness.phase
        live.liveness = health.on_heartbeat(live.liveness, self._clock(), self._policy)
        stamp = timestamp_pb2.Timestamp()
        stamp.GetCurrentTime()
        live.last_heartbeat_wall = stamp
        if beat is not None and beat.HasField("capacity"):
            live.capacity = beat.capacity
        after = live.liveness.phase
        return None if after is before else (before, after)

    def tick(self) -> dict[str, PhaseChange]:
        """Age every registered cluster's liveness to now; the clusters whose phase changed."""
        now = self._clock()
        changed = {}
        for name in list(self._intent.clusters):
            live = self.live.setdefault(name, ClusterLive())
            before = live.liveness.phase
            live.liveness = health.on_tick(live.liveness, now, self._policy)
            if live.liveness.phase is not before:
                changed[name] = (before, live.liveness.phase)
        return changed

    def phase(self, cluster: str) -> health.Phase:
        record = self._intent.clusters.get(cluster)
        if record is not None and record.spec.cordoned:
            return health.Phase.CORDONED
        live = self.live.get(cluster)
        return live.liveness.phase if live is not None else health.Phase.UNKNOWN

    def serves(self, cluster: str, namespace: str) -> bool:
        """Whether the cluster's agent reconciles ``namespace`` (true until it has said)."""
        live = self.live.get(cluster)
        if live is None or live.hello is None or not live.hello.namespaces:
            return True
        return namespace in live.hello.namespaces

    def ready_clusters(self) -> list[str]:
        """Clusters whose agent is connected and Ready (not Unknown, not cordoned)."""
        return [
            name
            for name in self._intent.clusters
            if name in self.sessions and self.phase(name) is health.Phase.READY
        ]

    def connected(self, cluster: str) -> AgentSession:
        """The session of ``cluster``'s agent; NotConnectedError (nothing sent) without one."""
        session = self.sessions.get(cluster)
        if session is None:
            raise NotConnectedError(f"cluster {cluster} is not connected")
        return session

    async def wait_connected(self, cluster: str, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until ``cluster``'s agent is connected."""
        if cluster in self.sessions:
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

    def resolve(self, cluster: str, result: agent_pb2.OperationResult) -> None:
        session = self.sessions.get(cluster)
        if session is not None:
            session.resolve(result)

    def refused(self, cluster: str, refusal: agent_limits.Refusal, action: str) -> None:
        """Count what the hub refused of ``cluster``'s agent; log it once per cluster, field
        and action (a misbehaving agent repeats itself)."""
        key = (refusal.field, action)
        self._stats.agent_refusals[key] = self._stats.agent_refusals.get(key, 0) + 1
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

    def status_hashes(self, cluster: str, index: LiveIndex) -> dict[str, str]:
        """The hashes of what the hub holds of ``cluster``, within one message an agent
        receives. Past that, the hub forgets the servers left out: the agent, not finding
        their hashes, sends them again (an agent that understood several such messages would
        need a new protocol; this keeps the old one)."""
        live = self.live.setdefault(cluster, ClusterLive())
        hashes = {
            protocol.set_key(*key): protocol.status_hash(status)
            for key, status in live.sets.items()
        }
        room = limits.AGENT_RECEIVE_BYTES - _HASHES_HEADROOM
        room -= sum(len(k) + len(v) + _HASH_ENTRY_FRAMING for k, v in hashes.items())
        left_out = []
        for key, server in index.of_cluster(cluster).items():
            name, digest = protocol.game_server_key(*key), server.status_hash()
            room -= len(name) + len(digest) + _HASH_ENTRY_FRAMING
            if room < 0:
                left_out.append(key)
            else:
                hashes[name] = digest
        for key in left_out:
            index.forget(cluster, key)
        if left_out:
            log.info(
                "status hashes of %s: %d servers do not fit one message; the agent resends them",
                cluster,
                len(left_out),
            )
        return hashes
