"""OKG's metrics over the caches: names, labels and values as openkruise/kruise-game's
pkg/metrics has them, the total of GameServers seen, and the time to Ready."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import prometheus_client

from agent import okg_metrics
from agent.kube.cache import EventType

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

Obj = dict[str, Any]


class _Cache:
    """What the collector reads of a WatchCache."""

    def __init__(self, *objects: Obj) -> None:
        self.objects = list(objects)
        self.handlers: list[Callable[[EventType, Obj], None]] = []

    def all(self) -> Iterable[Obj]:
        return self.objects

    def add_handler(self, handler: Callable[[EventType, Obj], None]) -> None:
        self.handlers.append(handler)

    def event(self, kind: EventType, obj: Obj) -> None:
        for handler in self.handlers:
            handler(kind, obj)


def _gs(name: str, state: str, ops: str = "None", priority: str = "0") -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "labels": {"game.kruise.io/owner-gss": "arena"},
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"opsState": ops},
        "status": {"currentState": state, "updatePriority": priority, "deletionPriority": "3"},
    }


def test_okg_metric_names_labels_and_values() -> None:
    servers = _Cache(_gs("arena-0", "Ready", priority="20"), _gs("arena-1", "Creating", "Kill"))
    sets = _Cache(
        {
            "metadata": {"name": "arena", "namespace": "ns"},
            "status": {"currentReplicas": 2, "readyReplicas": 1, "maintainingReplicas": 0},
        }
    )
    registry = prometheus_client.CollectorRegistry()
    collector = okg_metrics.OkgCollector(sets, servers)  # type: ignore[arg-type]
    registry.register(collector)
    for obj in servers.objects:
        servers.event(EventType.ADDED, obj)
    ready = _gs("arena-1", "Ready", "Kill")
    servers.objects[1] = ready
    servers.event(EventType.MODIFIED, ready)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("okg_gameservers_state_count", state="Ready") == 2
    assert (
        value("okg_gameservers_opsState_count", opsState="Kill", gssName="arena", namespace="ns")
        == 1
    )
    assert value("okg_gameservers_total") == 2
    assert (
        value("okg_gameserversets_replicas_count", gssName="arena", gssNs="ns", gsStatus="current")
        == 2
    )
    assert (
        value(
            "okg_gameserversets_replicas_count",
            gssName="arena",
            gssNs="ns",
            gsStatus="waitToBeDeleted",
        )
        == 0
    )
    assert value("okg_gameserver_update_priority", gsName="arena-0", gsNs="ns") == 20
    assert value("okg_gameserver_deletion_priority", gsName="arena-1", gsNs="ns") == 3
    # Turned Ready after it was first seen: the time since its creation.
    took = value(
        "okg_gameserver_ready_duration_seconds", gsName="arena-1", gsNs="ns", gssName="arena"
    )
    assert took is not None and took > 0
    assert (
        value("okg_gameserver_ready_duration_seconds", gsName="arena-0", gsNs="ns", gssName="arena")
        is None
    )
    servers.event(EventType.DELETED, ready)
    assert (
        value("okg_gameserver_ready_duration_seconds", gsName="arena-1", gsNs="ns", gssName="arena")
        is None
    )
