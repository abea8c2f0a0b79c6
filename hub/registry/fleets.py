"""Fleets: validated, versioned desired state in the store."""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import uuid
from collections.abc import AsyncIterator, Mapping

from gamefleet import telemetry
from gamefleet.v1 import fleet_pb2, meta_pb2
from google.protobuf import timestamp_pb2

from hub.core import errors as core_errors
from hub.core import selectors, validation
from hub.store import interface as store_api

from . import codec, revisions
from .clusters import Clock, now
from .errors import (
    DeletingError,
    HistoryCompactedError,
    NotFoundError,
    PreconditionError,
    RevisionMismatchError,
)

DEFAULT_NAMESPACE = "default"


@dataclasses.dataclass(frozen=True)
class ApplyResult:
    fleet: fleet_pb2.Fleet
    created: bool
    changed: bool


@dataclasses.dataclass(frozen=True)
class FleetPage:
    """Fleets in store-key order (namespace/name), and whether more matching fleets follow."""

    fleets: builtins.list[fleet_pb2.Fleet]
    # The store revision of the page's first read.
    revision: int
    more: bool


class FleetRegistry:
    """Create, read, update, delete and watch fleets; every write is a compare-and-swap."""

    def __init__(self, store: store_api.Store, clock: Clock = now) -> None:
        self._store = store
        self._clock = clock

    async def apply(
        self,
        fleet: fleet_pb2.Fleet,
        *,
        expected_revision: int | None = None,
        dry_run: bool = False,
    ) -> ApplyResult:
        incoming = fleet_pb2.Fleet()
        incoming.CopyFrom(fleet)
        incoming.ClearField("status")
        # The hub's fields, not the user's: kept from the stored record.
        incoming.ClearField("replicas_owner")
        incoming.ClearField("cluster_demand")
        incoming.ClearField("rollout_control")
        if not incoming.metadata.namespace:
            incoming.metadata.namespace = DEFAULT_NAMESPACE
        # Off the event loop: checking a large fleet takes up to about a second (limits.py).
        with telemetry.span("fleet.validate"):
            errors = await asyncio.to_thread(validation.validate_fleet, incoming)
        if errors:
            raise core_errors.ValidationError(tuple(errors))
        key = codec.fleet_key(incoming.metadata.namespace, incoming.metadata.name)
        while True:
            stored = await self._store.get(key)
            actual = stored.mod_revision if stored is not None else 0
            if expected_revision is not None and expected_revision != actual:
                raise RevisionMismatchError(key, expected_revision, actual)
            current = codec.decode(stored.value, fleet_pb2.Fleet) if stored else None
            if current is not None and current.metadata.HasField("deletion_time"):
                # As Kubernetes does: a deleting object takes no change until it is gone.
                raise DeletingError(
                    "fleet", f"{incoming.metadata.namespace}/{incoming.metadata.name}"
                )
            record = self._next_record(current, _with_replicas(incoming, current))
            if current is not None and record is current:
                return ApplyResult(_at_revision(current, actual), False, False)
            if dry_run:
                return ApplyResult(_at_revision(record, actual), current is None, True)
            try:
                with telemetry.span("store.commit", {"store.key": key}):
                    revision = await self._store.commit(
                        [
                            store_api.Put(key, codec.encode(record), expected_mod_revision=actual),
                            *await self._history_change(current, record),
                        ]
                    )
            except store_api.ConflictError:
                if expected_revision is not None:
                    raise RevisionMismatchError(key, expected_revision, -1) from None
                continue
            return ApplyResult(_at_revision(record, revision), current is None, True)

    async def get(self, namespace: str, name: str) -> fleet_pb2.Fleet:
        namespace = namespace or DEFAULT_NAMESPACE
        stored = await self._store.get(codec.fleet_key(namespace, name))
        if stored is None:
            raise NotFoundError("fleet", f"{namespace}/{name}")
        return _at_revision(codec.decode(stored.value, fleet_pb2.Fleet), stored.mod_revision)

    async def list(
        self, namespace: str = "", selector: selectors.Selector | None = None
    ) -> tuple[builtins.list[fleet_pb2.Fleet], int]:
        items, revision = await self._store.list(codec.fleet_prefix(namespace))
        fleets = []
        for kv in items:
            fleet = codec.decode(kv.value, fleet_pb2.Fleet)
            if selector is not None and not selector.matches(fleet.metadata.labels):
                continue
            fleets.append(_at_revision(fleet, kv.mod_revision))
        return fleets, revision

    async def page(
        self,
        namespace: str = "",
        selector: selectors.Selector | None = None,
        *,
        after: tuple[str, str] | None = None,
        size: int,
    ) -> FleetPage:
        """At most ``size`` fleets whose key follows the fleet ``after`` (namespace, name).

        Reads the store a page at a time, never the whole listing; with a selector, reads on
        until ``size`` fleets match or the fleets run out.
        """
        if size < 1:
            raise ValueError(f"a page holds at least one fleet, not {size}")
        prefix = codec.fleet_prefix(namespace)
        start_after = codec.fleet_key(*after) if after is not None else ""
        # One more than the page, to tell whether another page follows.
        batch = size + 1
        items, revision = await self._store.list(prefix, start_after=start_after, limit=batch)
        fleets: builtins.list[fleet_pb2.Fleet] = []
        while True:
            for kv in items:
                fleet = codec.decode(kv.value, fleet_pb2.Fleet)
                if selector is None or selector.matches(fleet.metadata.labels):
                    fleets.append(_at_revision(fleet, kv.mod_revision))
            if len(fleets) > size or len(items) < batch:
                break
            items, _ = await self._store.list(prefix, start_after=items[-1].key, limit=batch)
        return FleetPage(fleets[:size], revision, more=len(fleets) > size)

    async def _current(
        self, namespace: str, name: str, expected_revision: int | None
    ) -> tuple[str, store_api.KeyValue]:
        """The fleet's key and stored record, which must be at ``expected_revision`` if given."""
        key = codec.fleet_key(namespace or DEFAULT_NAMESPACE, name)
        stored = await self._store.get(key)
        if stored is None:
            raise NotFoundError("fleet", f"{namespace or DEFAULT_NAMESPACE}/{name}")
        if expected_revision is not None and expected_revision != stored.mod_revision:
            raise RevisionMismatchError(key, expected_revision, stored.mod_revision)
        return key, stored

    async def request_deletion(
        self, namespace: str, name: str, *, expected_revision: int | None = None
    ) -> fleet_pb2.Fleet:
        """Mark the fleet deleting (``metadata.deletion_time``); it stays in the store until
        ``remove``. A fleet already deleting is returned as it is."""
        while True:
            key, stored = await self._current(namespace, name, expected_revision)
            fleet = codec.decode(stored.value, fleet_pb2.Fleet)
            if fleet.metadata.HasField("deletion_time"):
                return _at_revision(fleet, stored.mod_revision)
            fleet.metadata.deletion_time.CopyFrom(self._clock())
            try:
                revision = await self._store.put(
                    key, codec.encode(fleet), expected_mod_revision=stored.mod_revision
                )
            except store_api.ConflictError:
                continue
            return _at_revision(fleet, revision)

    async def remove(
        self, namespace: str, name: str, *, expected_revision: int | None = None
    ) -> fleet_pb2.Fleet:
        """Delete the fleet's record from the store."""
        while True:
            key, stored = await self._current(namespace, name, expected_revision)
            meta = codec.decode(stored.value, fleet_pb2.Fleet).metadata
            history = codec.fleet_revisions_key(meta.namespace, meta.name)
            try:
                await self._store.commit(
                    [
                        store_api.Delete(key, expected_mod_revision=stored.mod_revision),
                        store_api.Delete(history),
                    ]
                )
            except store_api.ConflictError:
                continue
            return _at_revision(codec.decode(stored.value, fleet_pb2.Fleet), stored.mod_revision)

    async def scale(self, namespace: str, name: str, replicas: int) -> fleet_pb2.Fleet:
        while True:
            fleet = await self.get(namespace, name)
            fleet.spec.replicas = replicas
            try:
                result = await self.apply(fleet, expected_revision=fleet.metadata.revision)
            except RevisionMismatchError:
                continue
            return result.fleet

    async def watch(
        self,
        namespace: str = "",
        selector: selectors.Selector | None = None,
        start_revision: int = 0,
    ) -> AsyncIterator[fleet_pb2.FleetEvent]:
        """Changes after ``start_revision``; with 0, first every current fleet as ADDED."""
        if start_revision == 0:
            fleets, listed_at = await self.list(namespace, selector)
            for fleet in fleets:
                yield fleet_pb2.FleetEvent(type="ADDED", fleet=fleet, revision=listed_at)
            start_revision = listed_at + 1
        events = self._store.watch(codec.fleet_prefix(namespace), start_revision)
        try:
            async for event in events:
                change = await self._to_fleet_event(event, selector)
                if change is not None:
                    yield change
        except store_api.CompactedError as exc:
            raise HistoryCompactedError(str(exc)) from exc

    async def _to_fleet_event(
        self, event: store_api.WatchEvent, selector: selectors.Selector | None
    ) -> fleet_pb2.FleetEvent | None:
        if event.type is store_api.EventType.DELETE:
            namespace, _, name = event.kv.key.removeprefix(codec.FLEETS_PREFIX).partition("/")
            fleet = fleet_pb2.Fleet(metadata=meta_pb2.ObjectMeta(namespace=namespace, name=name))
            fleet.metadata.revision = event.revision
            return fleet_pb2.FleetEvent(type="DELETED", fleet=fleet, revision=event.revision)
        fleet = codec.decode(event.kv.value, fleet_pb2.Fleet)
        if selector is not None and not selector.matches(fleet.metadata.labels):
            return None
        kind = "ADDED" if event.kv.create_revision == event.kv.mod_revision else "MODIFIED"
        fleet = _at_revision(fleet, event.kv.mod_revision)
        return fleet_pb2.FleetEvent(type=kind, fleet=fleet, revision=event.revision)

    async def _history_change(
        self, current: fleet_pb2.Fleet | None, record: fleet_pb2.Fleet
    ) -> builtins.list[store_api.Op]:
        """The write that adds ``record``'s template to the revision history, when it is new."""
        if current is not None and current.spec.template == record.spec.template:
            return []
        key = codec.fleet_revisions_key(record.metadata.namespace, record.metadata.name)
        stored = await self._store.get(key)
        # A new fleet starts a new history (one deleted before left none, or a stale one).
        before = None if current is None or stored is None else stored.value
        history = revisions.appended(before, record)
        return [store_api.Put(key, codec.encode(history))]

    def _next_record(
        self, current: fleet_pb2.Fleet | None, incoming: fleet_pb2.Fleet
    ) -> fleet_pb2.Fleet:
        """The record to store; ``current`` itself when nothing the user owns changed."""
        record = fleet_pb2.Fleet()
        record.metadata.name = incoming.metadata.name
        record.metadata.namespace = incoming.metadata.namespace
        record.metadata.labels.update(incoming.metadata.labels)
        record.metadata.annotations.update(incoming.metadata.annotations)
        record.spec.CopyFrom(incoming.spec)
        if current is not None:
            record.replicas_owner = current.replicas_owner
            record.cluster_demand.update(current.cluster_demand)
            record.rollout_control.CopyFrom(current.rollout_control)
        stamp = self._clock()
        if current is None:
            record.metadata.uid = str(uuid.uuid4())
            record.metadata.generation = 1
            record.metadata.create_time.CopyFrom(stamp)
            record.metadata.update_time.CopyFrom(stamp)
            return record
        same_spec = current.spec == record.spec
        same_meta = dict(current.metadata.labels) == dict(record.metadata.labels) and dict(
            current.metadata.annotations
        ) == dict(record.metadata.annotations)
        if same_spec and same_meta:
            return current
        record.metadata.uid = current.metadata.uid
        record.metadata.create_time.CopyFrom(current.metadata.create_time)
        record.metadata.update_time.CopyFrom(stamp)
        record.metadata.generation = current.metadata.generation + (0 if same_spec else 1)
        return record


def _with_replicas(incoming: fleet_pb2.Fleet, current: fleet_pb2.Fleet | None) -> fleet_pb2.Fleet:
    """``incoming`` with its replicas settled: left out, the stored value (0 for a new fleet);
    a change of replicas an autoscaler owns is refused, naming it."""
    settled = fleet_pb2.Fleet()
    settled.CopyFrom(incoming)
    stored = current.spec.replicas if current is not None else 0
    if current is not None:
        current.spec.replicas = stored  # records written before replicas had presence
    if not settled.spec.HasField("replicas"):
        settled.spec.replicas = stored
    elif current is not None and current.replicas_owner and settled.spec.replicas != stored:
        meta = current.metadata
        raise PreconditionError(
            f"spec.replicas: the replicas of fleet {meta.namespace}/{meta.name} are set by "
            f"{current.replicas_owner} (now {stored}); leave spec.replicas out (or at {stored}), "
            f"or delete {current.replicas_owner} to set them yourself"
        )
    return settled


def with_owner(current: fleet_pb2.Fleet, owner: str) -> fleet_pb2.Fleet:
    """The record of ``current`` with its replicas owned by ``owner`` ("" hands them back to
    the user, without the autoscaler's demand)."""
    record = fleet_pb2.Fleet()
    record.CopyFrom(current)
    record.ClearField("status")
    record.replicas_owner = owner
    if not owner:
        record.ClearField("cluster_demand")
    return record


def scaled_by_owner(
    current: fleet_pb2.Fleet,
    replicas: int,
    demand: Mapping[str, int],
    stamp: timestamp_pb2.Timestamp,
) -> fleet_pb2.Fleet:
    """The record of ``current`` with the replicas and per-cluster demand its owner decided;
    a new generation when the replicas change, as ScaleFleet makes one."""
    record = fleet_pb2.Fleet()
    record.CopyFrom(current)
    record.ClearField("status")
    if record.spec.replicas != replicas or not record.spec.HasField("replicas"):
        record.metadata.generation += 1
        record.metadata.update_time.CopyFrom(stamp)
    record.spec.replicas = replicas
    record.cluster_demand.clear()
    record.cluster_demand.update(demand)
    return record


def _at_revision(fleet: fleet_pb2.Fleet, revision: int) -> fleet_pb2.Fleet:
    fleet.metadata.revision = revision
    return fleet
