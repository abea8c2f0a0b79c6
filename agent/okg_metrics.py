"""OKG's Prometheus metrics (openkruise/kruise-game pkg/metrics), beside the agent's own, so
OKG's Grafana board reads the agent as it reads OKG's manager: the same names, labels and
label values.

OKG increments and decrements its gauges on informer events; here the counts are read from the
watch caches at scrape time, so they cannot drift. Only what needs a history is kept from the
events: the total of GameServers seen, and the time each took to turn Ready and network-Ready.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

import prometheus_client.core

from agent import metrics
from agent.core import bodies, intstr, wire
from agent.kube.cache import EventType

if TYPE_CHECKING:
    from collections.abc import Iterator

    from agent.kube.cache import Key, WatchCache

_SET_COUNTS = (
    ("current", "currentReplicas"),
    ("ready", "readyReplicas"),
    ("available", "availableReplicas"),
    ("maintaining", "maintainingReplicas"),
    ("waitToBeDeleted", "waitToBeDeletedReplicas"),
)
"""OKG's `gsStatus` label values and the set status field each reads."""

_READY = "Ready"


class OkgCollector:
    """OKG's metrics over the agent's GameServerSet and GameServer caches."""

    def __init__(self, sets: WatchCache, game_servers: WatchCache) -> None:
        self._sets = sets
        self._game_servers = game_servers
        self._total = 0
        self._seen: dict[Key, tuple[str, str, str]] = {}
        """Per GameServer: its uid, state and network state when last seen."""
        self._ready: dict[Key, tuple[str, float]] = {}
        self._network_ready: dict[Key, tuple[str, float]] = {}
        """Seconds from creation to Ready (network Ready), with the set's name."""
        game_servers.add_handler(self._on_game_server)

    def _on_game_server(self, kind: EventType, obj: bodies.Json) -> None:
        key = bodies.key(obj)
        if kind is EventType.DELETED:
            self._seen.pop(key, None)
            self._ready.pop(key, None)
            self._network_ready.pop(key, None)
            return
        status = bodies.as_game_server(obj).get("status") or {}
        now = (
            str(status.get("currentState") or ""),
            str((status.get("networkStatus") or {}).get("currentNetworkState") or ""),
        )
        old = self._seen.get(key)
        if old is None or old[0] != bodies.uid(obj):
            self._total += 1
            old = None
        self._seen[key] = (bodies.uid(obj), *now)
        created = bodies.parse_time(bodies.meta(obj).get("creationTimestamp"))
        if old is None or created is None:
            return
        owner = bodies.labels_of(obj).get(wire.OWNER_GSS, "")
        if now[0] == _READY and old[1] != _READY:
            self._ready[key] = (owner, time.time() - created)
        if now[1] == _READY and old[2] != _READY:
            self._network_ready[key] = (owner, time.time() - created)

    def collect(self) -> Iterator[prometheus_client.Metric]:
        gauge = prometheus_client.core.GaugeMetricFamily
        states = gauge(
            "okg_gameservers_state_count", "The number of gameservers per state", labels=["state"]
        )
        ops = gauge(
            "okg_gameservers_opsState_count",
            "The number of gameservers per opsState",
            labels=["opsState", "gssName", "namespace"],
        )
        deletion = gauge(
            "okg_gameserver_deletion_priority",
            "The deletionPriority of gameserver.",
            labels=["gsName", "gsNs"],
        )
        update = gauge(
            "okg_gameserver_update_priority",
            "The updatePriority of gameserver.",
            labels=["gsName", "gsNs"],
        )
        by_state: Counter[str] = Counter()
        by_ops: Counter[tuple[str, str, str]] = Counter()
        for obj in self._game_servers.all():
            gs = bodies.as_game_server(obj)
            status = gs.get("status") or {}
            spec = gs.get("spec") or {}
            name, namespace = bodies.name(gs), bodies.namespace(gs)
            by_state[str(status.get("currentState") or "")] += 1
            owner = bodies.labels_of(gs).get(wire.OWNER_GSS, "")
            by_ops[(str(spec.get("opsState") or ""), owner, namespace)] += 1
            deletion.add_metric(
                [name, namespace], intstr.priority_value(status.get("deletionPriority"))
            )
            update.add_metric(
                [name, namespace], intstr.priority_value(status.get("updatePriority"))
            )
        for state, count in sorted(by_state.items()):
            states.add_metric([state], count)
        for labels, count in sorted(by_ops.items()):
            ops.add_metric(list(labels), count)
        total = prometheus_client.core.CounterMetricFamily(
            "okg_gameservers", "The total of gameservers", labels=[]
        )
        total.add_metric([], self._total)
        yield from (states, ops, total, self._set_counts(), deletion, update)
        yield from self._durations()

    def _set_counts(self) -> prometheus_client.Metric:
        family = prometheus_client.core.GaugeMetricFamily(
            "okg_gameserversets_replicas_count",
            "The number of replicas per gameserverset",
            labels=["gssName", "gssNs", "gsStatus"],
        )
        for obj in self._sets.all():
            gss = bodies.as_game_server_set(obj)
            status = bodies.json_of(gss.get("status") or {})
            for label, field in _SET_COUNTS:
                family.add_metric(
                    [bodies.name(gss), bodies.namespace(gss), label], int(status.get(field) or 0)
                )
        return family

    def _durations(self) -> Iterator[prometheus_client.Metric]:
        for name, doc, found in (
            (
                "okg_gameserver_ready_duration_seconds",
                "duration seconds of gameserver from creating to ready",
                self._ready,
            ),
            (
                "okg_gameserver_network_ready_duration_seconds",
                "duration seconds of gameserver from creating to network ready",
                self._network_ready,
            ),
        ):
            family = prometheus_client.core.GaugeMetricFamily(
                name, doc, labels=["gsName", "gsNs", "gssName"]
            )
            for (namespace, gs_name), (owner, seconds) in sorted(found.items()):
                family.add_metric([gs_name, namespace, owner], seconds)
            yield family


def register(sets: WatchCache, game_servers: WatchCache) -> OkgCollector:
    """Serve OKG's metrics from these caches on the agent's registry."""
    collector = OkgCollector(sets, game_servers)
    metrics.REGISTRY.register(collector)
    return collector
