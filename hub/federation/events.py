"""What happened to each object, as Kubernetes events: a bounded history kept in memory.

Each object (kind, namespace, name) keeps its last ``per_object`` distinct events; a repeat of
the same type, reason, message and source folds into the earlier one (its count and last time
move), as Kubernetes' event correlator does. At most ``max_objects`` objects of each kind are
kept, the one whose last event is oldest going first: a busy kind (game servers allocated by
the thousand) never pushes out another's history (fleets, clusters). Nothing here is durable:
a restarted or new leader starts empty (principle 2: the hub stores intent durably, the rest
is soft).
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


@dataclasses.dataclass(slots=True)
class Event:
    involved: ObjectRef
    type: str
    reason: str
    message: str
    source: str
    count: int
    first_time: float
    last_time: float


# An object's events, least recently recorded first (a list: a few, scanned to fold repeats).
_Objects = collections.OrderedDict[ObjectRef, list[Event]]


class EventRecorder:
    def __init__(
        self,
        per_object: int = 10,
        max_objects: int = 5_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_object = per_object
        self.max_objects = max_objects
        self._clock = clock
        # Per kind, least recently recorded object first; in each, least recent event first.
        self._kinds: dict[str, _Objects] = {}

    def record(
        self, ref: ObjectRef, type_: str, reason: str, message: str, source: str = "hub"
    ) -> Event:
        """Record one occurrence; returns the event it was folded into or added as."""
        now = self._clock()
        objects = self._kinds.setdefault(ref.kind, collections.OrderedDict())
        ring = objects.get(ref)
        if ring is None:
            ring = objects[ref] = []
            while len(objects) > self.max_objects:
                objects.popitem(last=False)
        else:
            objects.move_to_end(ref)
        event = next(
            (
                e
                for e in ring
                if (e.reason, e.message, e.type, e.source) == (reason, message, type_, source)
            ),
            None,
        )
        if event is None:
            event = Event(ref, type_, reason, message, source, 0, now, now)
            if len(ring) >= self.per_object:
                del ring[0]
        else:
            ring.remove(event)
        ring.append(event)
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
        if kind:
            kinds = [self._kinds[kind]] if kind in self._kinds else []
        else:
            kinds = list(self._kinds.values())
        if kind and name:
            ring = kinds[0].get(ObjectRef(kind, namespace, name)) if kinds else None
            found = list(ring) if ring is not None else []
        else:
            found = [
                event
                for objects in kinds
                for ref, ring in objects.items()
                if (not namespace or ref.namespace == namespace) and (not name or ref.name == name)
                for event in ring
            ]
        found.sort(key=lambda event: event.last_time)
        return found[-limit:] if limit > 0 else []
