"""What happened to each object, as Kubernetes events: a bounded history kept in memory.

Each object (kind, namespace, name) keeps its last ``per_object`` distinct events; a repeat of
the same type, reason, message and source folds into the earlier one (its count and last time
move), as Kubernetes' event correlator does. At most ``max_objects`` objects are kept; the one
whose last event is oldest goes first. Nothing here is durable: a restarted or new leader starts
empty (principle 2: the hub stores intent durably, the rest is soft).
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable
from typing import NamedTuple

NORMAL = "Normal"
WARNING = "Warning"

FLEET = "Fleet"
CLUSTER = "Cluster"
GAME_SERVER = "GameServer"


class ObjectRef(NamedTuple):
    kind: str
    namespace: str
    name: str


def fleet_ref(namespace: str, name: str) -> ObjectRef:
    return ObjectRef(FLEET, namespace, name)


def cluster_ref(name: str) -> ObjectRef:
    return ObjectRef(CLUSTER, "", name)


def game_server_ref(namespace: str, cluster: str, name: str) -> ObjectRef:
    """Game servers are named CLUSTER/NAME: names repeat across clusters."""
    return ObjectRef(GAME_SERVER, namespace, f"{cluster}/{name}")


@dataclasses.dataclass
class Event:
    involved: ObjectRef
    type: str
    reason: str
    message: str
    source: str
    count: int
    first_time: float
    last_time: float


_Identity = tuple[str, str, str, str]  # type, reason, message, source


class EventRecorder:
    def __init__(
        self,
        per_object: int = 20,
        max_objects: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_object = per_object
        self.max_objects = max_objects
        self._clock = clock
        # Least recently recorded object first; in each, least recently recorded event first.
        self._objects: collections.OrderedDict[
            ObjectRef, collections.OrderedDict[_Identity, Event]
        ] = collections.OrderedDict()

    def record(
        self, ref: ObjectRef, type_: str, reason: str, message: str, source: str = "hub"
    ) -> Event:
        """Record one occurrence; returns the event it was folded into or added as."""
        now = self._clock()
        ring = self._objects.get(ref)
        if ring is None:
            ring = self._objects[ref] = collections.OrderedDict()
            while len(self._objects) > self.max_objects:
                self._objects.popitem(last=False)
        else:
            self._objects.move_to_end(ref)
        identity = (type_, reason, message, source)
        event = ring.get(identity)
        if event is None:
            event = ring[identity] = Event(ref, type_, reason, message, source, 0, now, now)
            while len(ring) > self.per_object:
                ring.popitem(last=False)
        else:
            ring.move_to_end(identity)
        event.count += 1
        event.last_time = now
        return event

    def normal(self, ref: ObjectRef, reason: str, message: str, source: str = "hub") -> Event:
        return self.record(ref, NORMAL, reason, message, source)

    def warning(self, ref: ObjectRef, reason: str, message: str, source: str = "hub") -> Event:
        return self.record(ref, WARNING, reason, message, source)

    def events(
        self, kind: str = "", namespace: str = "", name: str = "", limit: int = 100
    ) -> list[Event]:
        """The ``limit`` most recent events of the objects that match (empty filters match
        every object), oldest first."""
        if kind and name:
            ring = self._objects.get(ObjectRef(kind, namespace, name))
            found = list(ring.values()) if ring is not None else []
        else:
            found = [
                event
                for ref, ring in self._objects.items()
                if (not kind or ref.kind == kind)
                and (not namespace or ref.namespace == namespace)
                and (not name or ref.name == name)
                for event in ring.values()
            ]
        found.sort(key=lambda event: event.last_time)
        return found[-limit:] if limit > 0 else []
