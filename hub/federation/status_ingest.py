"""The agents' status reports taken in: each cluster's sets and game servers, within the
limits, and what a change in them asks of placement (a drain or rollout moving on, drift to
put back)."""

from __future__ import annotations

from gamefleet.v1 import agent_pb2

from hub.core import agent_limits, desired_sets, rollout
from hub.core.desired_sets import SetKey

from . import live_servers, recording
from .events import EventRecorder
from .intent import IntentMirror
from .links import DROPPED, AgentLinks, ClusterLive
from .live_index import LiveIndex
from .live_servers import LiveServer
from .placer import Placer
from .stats import FederationStats
from .watchers import ServerBroadcast, StatusBroadcast


class StatusIngest:
    """Takes each agent's status deltas into the live state."""

    def __init__(
        self,
        intent: IntentMirror,
        links: AgentLinks,
        index: LiveIndex,
        placer: Placer,
        *,
        bounds: agent_limits.AgentLimits,
        events: EventRecorder,
        broadcast: StatusBroadcast,
        server_broadcast: ServerBroadcast,
        stats: FederationStats,
    ) -> None:
        self._intent = intent
        self._links = links
        self._index = index
        self._placer = placer
        self._limits = bounds
        self._events = events
        self._broadcast = broadcast
        self._server_broadcast = server_broadcast
        self._stats = stats

    def take(self, cluster: str, delta: agent_pb2.StatusDelta) -> None:
        """Take ``cluster``'s status changes; an entry beyond the limits is dropped (counted
        and logged), the rest are kept. The message's size was checked at the edge."""
        self._stats.status_deltas += 1
        live = self._links.live.setdefault(cluster, ClusterLive())
        touched: set[SetKey] = set()
        session = self._links.sessions.get(cluster)
        if self._server_broadcast.watched:
            for reported in delta.game_servers:
                self._server_broadcast.notify((cluster, reported.namespace, reported.name))
        for index, set_status in enumerate(delta.sets):
            key = (set_status.namespace, set_status.name)
            refusal = agent_limits.set_status_refusal(set_status, index, self._limits)
            if refusal is None and key not in live.sets and not set_status.deleted:
                refusal = agent_limits.per_cluster_refusal(
                    "status.sets", index, len(live.sets) + 1, self._limits.sets_per_cluster, "sets"
                )
            if refusal is not None:
                self._links.refused(cluster, refusal, DROPPED)
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
                    self._placer.claim(key, cluster, set_status.desired_replicas)
            self._note_set_change(cluster, key, before, set_status)
        for index, server in enumerate(delta.game_servers):
            if server.deleted:
                touched.add((server.namespace, server.fleet))
                self._index.forget(cluster, (server.namespace, server.name))
                continue
            held = LiveServer.of(server, cluster)
            refusal = agent_limits.game_server_refusal(
                held, index, self._limits
            ) or self._index.room_refusal(held, index, self._limits)
            if refusal is not None:
                self._links.refused(cluster, refusal, DROPPED)
                continue
            touched.add((held.namespace, held.fleet))
            self._index.hold(held, live_servers.updating_since(server))
        for key in touched:
            self._broadcast.notify(key)
            fleet = self._intent.fleets.get(key)
            # A drain moves on as the servers it waits for turn Ready or their games end.
            if fleet is not None and (
                key in self._placer.drains
                or fleet.spec.update_policy.type == rollout.SEQUENTIAL
                or fleet.spec.HasField("rollout")
                or fleet.metadata.HasField("deletion_time")
            ):
                self._placer.mark(key)

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
        session = self._links.sessions.get(cluster)
        if session is not None:
            mark = desired_sets.drift_to_put_back(after, session.resent_for.get(key))
            if mark is not None:
                session.resent_for[key] = mark
                session.resend.add(key)
                self._placer.mark(key)
            elif not now:
                session.resent_for.pop(key, None)
        if now and now != was:
            recording.fleet_event(
                self._events, key, "Warning", "DriftDetected", f"{cluster}: {'; '.join(now)}"
            )
        elif was and not now and not after.deleted:
            recording.fleet_event(
                self._events,
                key,
                "Normal",
                "DriftCorrected",
                f"{cluster}: the hub's spec holds again",
            )
        if after.refused and (before is None or before.refused != after.refused):
            recording.fleet_event(
                self._events, key, "Warning", "SetRefused", f"{cluster}: {after.refused}"
            )

    def _event(self, key: SetKey, kind: str, reason: str, message: str) -> None:
        recording.fleet_event(self._events, key, kind, reason, message)
