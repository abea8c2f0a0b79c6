"""FleetAutoscalers in the store, and the ownership of their fleets' replicas.

An autoscaler and the mark on its fleet (``Fleet.replicas_owner``) change in one commit: the
mark is set when the autoscaler is created (or, for a fleet created later, when the runtime
claims it), cleared when it is deleted, and every decision writes the fleet's replicas and
the autoscaler's status together, each guarded by its revision.
"""

from __future__ import annotations

import builtins
import dataclasses
import uuid
from collections.abc import AsyncIterator, Mapping

from gamefleet.v1 import autoscaler_pb2, fleet_pb2

from hub.core import errors as core_errors
from hub.core.autoscaling import counter, validation
from hub.store import interface as store_api

from . import codec
from .clusters import Clock, now
from .errors import NotFoundError, PreconditionError, RevisionMismatchError
from .fleets import DEFAULT_NAMESPACE, scaled_by_owner, with_owner

KIND = "FleetAutoscaler"


def owner_of(autoscaler: autoscaler_pb2.FleetAutoscaler) -> str:
    """How a fleet names the autoscaler that owns its replicas."""
    return f"{KIND}/{autoscaler.metadata.name}"


@dataclasses.dataclass(frozen=True)
class ApplyResult:
    autoscaler: autoscaler_pb2.FleetAutoscaler
    created: bool
    changed: bool


@dataclasses.dataclass(frozen=True)
class Recorded:
    """What a decision wrote: both records at their new revision."""

    autoscaler: autoscaler_pb2.FleetAutoscaler
    fleet: fleet_pb2.Fleet


class AutoscalerRegistry:
    def __init__(self, store: store_api.Store, clock: Clock = now) -> None:
        self._store = store
        self._clock = clock

    async def apply(
        self,
        autoscaler: autoscaler_pb2.FleetAutoscaler,
        *,
        expected_revision: int | None = None,
        dry_run: bool = False,
    ) -> ApplyResult:
        incoming = autoscaler_pb2.FleetAutoscaler()
        incoming.CopyFrom(autoscaler)
        incoming.ClearField("status")
        if not incoming.metadata.namespace:
            incoming.metadata.namespace = DEFAULT_NAMESPACE
        problems = validation.validate(incoming) or await self._counter_key_problems(incoming)
        if problems:
            raise core_errors.ValidationError(tuple(problems))
        meta = incoming.metadata
        key = codec.fleet_autoscaler_key(meta.namespace, meta.name)
        while True:
            stored = await self._store.get(key)
            actual = stored.mod_revision if stored is not None else 0
            if expected_revision is not None and expected_revision != actual:
                raise RevisionMismatchError(key, expected_revision, actual)
            current = codec.decode(stored.value, autoscaler_pb2.FleetAutoscaler) if stored else None
            if current is not None and current.spec.fleet_name != incoming.spec.fleet_name:
                raise core_errors.ValidationError(
                    (
                        core_errors.FieldError(
                            "spec.fleetName",
                            f'cannot change from "{current.spec.fleet_name}": delete the '
                            "autoscaler and create another",
                        ),
                    )
                )
            record = self._next_record(current, incoming)
            if current is not None and record is current:
                return ApplyResult(_at(current, actual), False, False)
            ops: list[store_api.Op] = [
                store_api.Put(key, codec.encode(record), expected_mod_revision=actual)
            ]
            if current is None:
                ops += await self._claim_on_create(record)
            if dry_run:
                return ApplyResult(_at(record, actual), current is None, True)
            try:
                revision = await self._store.commit(ops)
            except store_api.ConflictError:
                if expected_revision is not None:
                    raise RevisionMismatchError(key, expected_revision, -1) from None
                continue
            return ApplyResult(_at(record, revision), current is None, True)

    async def _counter_key_problems(
        self, record: autoscaler_pb2.FleetAutoscaler
    ) -> list[core_errors.FieldError]:
        """Counter and List policies whose key the fleet's template does not declare as such.
        A fleet not created yet is checked when the autoscaler runs (AbleToScale False,
        CounterPolicyFailed)."""
        if not validation.counter_policies(record.spec.policy):
            return []
        stored = await self._store.get(
            codec.fleet_key(record.metadata.namespace, record.spec.fleet_name)
        )
        if stored is None:
            return []
        fleet = codec.decode(stored.value, fleet_pb2.Fleet)
        return validation.counter_key_problems(record, counter.declared(fleet))

    async def _claim_on_create(self, record: autoscaler_pb2.FleetAutoscaler) -> list[store_api.Op]:
        """The write that marks the fleet as the new autoscaler's; PreconditionError when
        another autoscaler has the fleet. A fleet not created yet is claimed when it is."""
        namespace, fleet_name = record.metadata.namespace, record.spec.fleet_name
        others, _ = await self.list(namespace)
        for other in others:
            if other.spec.fleet_name == fleet_name:
                raise PreconditionError(
                    f"spec.fleetName: fleet {namespace}/{fleet_name} already has an autoscaler, "
                    f"{owner_of(other)}"
                )
        stored = await self._store.get(codec.fleet_key(namespace, fleet_name))
        if stored is None:
            return []
        fleet = codec.decode(stored.value, fleet_pb2.Fleet)
        if fleet.replicas_owner and fleet.replicas_owner != owner_of(record):
            raise PreconditionError(
                f"spec.fleetName: the replicas of fleet {namespace}/{fleet_name} are set by "
                f"{fleet.replicas_owner}"
            )
        claimed = with_owner(fleet, owner_of(record))
        return [
            store_api.Put(
                stored.key, codec.encode(claimed), expected_mod_revision=stored.mod_revision
            )
        ]

    async def get(self, namespace: str, name: str) -> autoscaler_pb2.FleetAutoscaler:
        namespace = namespace or DEFAULT_NAMESPACE
        stored = await self._store.get(codec.fleet_autoscaler_key(namespace, name))
        if stored is None:
            raise NotFoundError("fleetautoscaler", f"{namespace}/{name}")
        return _at(codec.decode(stored.value, autoscaler_pb2.FleetAutoscaler), stored.mod_revision)

    async def list(
        self, namespace: str = ""
    ) -> tuple[builtins.list[autoscaler_pb2.FleetAutoscaler], int]:
        items, revision = await self._store.list(codec.fleet_autoscaler_prefix(namespace))
        found = [
            _at(codec.decode(kv.value, autoscaler_pb2.FleetAutoscaler), kv.mod_revision)
            for kv in items
        ]
        return found, revision

    async def delete(self, namespace: str, name: str) -> autoscaler_pb2.FleetAutoscaler:
        """Delete the autoscaler and hand its fleet's replicas back to the user."""
        namespace = namespace or DEFAULT_NAMESPACE
        key = codec.fleet_autoscaler_key(namespace, name)
        while True:
            stored = await self._store.get(key)
            if stored is None:
                raise NotFoundError("fleetautoscaler", f"{namespace}/{name}")
            autoscaler = codec.decode(stored.value, autoscaler_pb2.FleetAutoscaler)
            ops: list[store_api.Op] = [
                store_api.Delete(key, expected_mod_revision=stored.mod_revision)
            ]
            fleet_kv = await self._store.get(codec.fleet_key(namespace, autoscaler.spec.fleet_name))
            if fleet_kv is not None:
                fleet = codec.decode(fleet_kv.value, fleet_pb2.Fleet)
                if fleet.replicas_owner == owner_of(autoscaler):
                    released = codec.encode(with_owner(fleet, ""))
                    ops.append(
                        store_api.Put(
                            fleet_kv.key, released, expected_mod_revision=fleet_kv.mod_revision
                        )
                    )
            try:
                await self._store.commit(ops)
            except store_api.ConflictError:
                continue
            return _at(autoscaler, stored.mod_revision)

    async def claim(
        self, autoscaler: autoscaler_pb2.FleetAutoscaler, fleet: fleet_pb2.Fleet
    ) -> fleet_pb2.Fleet:
        """Mark an unowned ``fleet`` as ``autoscaler``'s, both at their revisions (an autoscaler
        deleted meanwhile claims nothing); the new fleet record. RevisionMismatchError when
        either changed."""
        key = codec.fleet_key(fleet.metadata.namespace, fleet.metadata.name)
        claimed = with_owner(fleet, owner_of(autoscaler))
        meta = autoscaler.metadata
        unchanged = autoscaler_pb2.FleetAutoscaler()
        unchanged.CopyFrom(autoscaler)
        unchanged.metadata.revision = 0
        ops: list[store_api.Op] = [
            store_api.Put(
                key, codec.encode(claimed), expected_mod_revision=fleet.metadata.revision
            ),
            store_api.Put(
                codec.fleet_autoscaler_key(meta.namespace, meta.name),
                codec.encode(unchanged),
                expected_mod_revision=meta.revision,
            ),
        ]
        try:
            revision = await self._store.commit(ops)
        except store_api.ConflictError as exc:
            raise RevisionMismatchError(exc.key, exc.expected, exc.actual) from None
        return _fleet_at(claimed, revision)

    async def record(
        self,
        autoscaler: autoscaler_pb2.FleetAutoscaler,
        fleet: fleet_pb2.Fleet,
        replicas: int,
        demand: Mapping[str, int],
        status: autoscaler_pb2.FleetAutoscalerStatus,
    ) -> Recorded:
        """Write a decision: the fleet's replicas and demand, and the autoscaler's status, in
        one commit guarded by both revisions (RevisionMismatchError when either changed)."""
        meta = autoscaler.metadata
        owner = owner_of(autoscaler)
        if fleet.replicas_owner != owner:
            raise PreconditionError(
                f"fleet {fleet.metadata.namespace}/{fleet.metadata.name} is not owned by {owner}"
            )
        scaled = scaled_by_owner(fleet, replicas, demand, self._clock())
        updated = autoscaler_pb2.FleetAutoscaler()
        updated.CopyFrom(autoscaler)
        updated.metadata.revision = 0
        updated.status.CopyFrom(status)
        fleet_key = codec.fleet_key(fleet.metadata.namespace, fleet.metadata.name)
        key = codec.fleet_autoscaler_key(meta.namespace, meta.name)
        fleet_revision = fleet.metadata.revision
        ops: list[store_api.Op] = [
            store_api.Put(fleet_key, codec.encode(scaled), expected_mod_revision=fleet_revision),
            store_api.Put(key, codec.encode(updated), expected_mod_revision=meta.revision),
        ]
        try:
            revision = await self._store.commit(ops)
        except store_api.ConflictError as exc:
            raise RevisionMismatchError(exc.key, exc.expected, exc.actual) from None
        return Recorded(_at(updated, revision), _fleet_at(scaled, revision))

    def watch(self, start_revision: int) -> AsyncIterator[store_api.WatchEvent]:
        """Autoscalers created, changed (specs and statuses) and deleted after the revision."""
        return self._store.watch(codec.FLEET_AUTOSCALERS_PREFIX, start_revision)

    def _next_record(
        self,
        current: autoscaler_pb2.FleetAutoscaler | None,
        incoming: autoscaler_pb2.FleetAutoscaler,
    ) -> autoscaler_pb2.FleetAutoscaler:
        """The record to store; ``current`` itself when nothing the user owns changed."""
        record = autoscaler_pb2.FleetAutoscaler()
        meta = incoming.metadata
        record.metadata.name, record.metadata.namespace = meta.name, meta.namespace
        record.metadata.labels.update(meta.labels)
        record.metadata.annotations.update(meta.annotations)
        record.spec.CopyFrom(incoming.spec)
        stamp = self._clock()
        if current is None:
            record.metadata.uid = str(uuid.uuid4())
            record.metadata.generation = 1
            record.metadata.create_time.CopyFrom(stamp)
            record.metadata.update_time.CopyFrom(stamp)
            return record
        same_spec = current.spec == record.spec
        same_meta = dict(current.metadata.labels) == dict(meta.labels) and dict(
            current.metadata.annotations
        ) == dict(meta.annotations)
        if same_spec and same_meta:
            return current
        record.status.CopyFrom(current.status)
        record.metadata.uid = current.metadata.uid
        record.metadata.create_time.CopyFrom(current.metadata.create_time)
        record.metadata.update_time.CopyFrom(stamp)
        record.metadata.generation = current.metadata.generation + (0 if same_spec else 1)
        return record


def decode_event(
    event: store_api.WatchEvent,
) -> tuple[tuple[str, str], autoscaler_pb2.FleetAutoscaler | None]:
    """The (namespace, name) a watch event is about, and the record (None when deleted)."""
    namespace, _, name = event.kv.key.removeprefix(codec.FLEET_AUTOSCALERS_PREFIX).partition("/")
    if event.type is store_api.EventType.DELETE:
        return (namespace, name), None
    record = codec.decode(event.kv.value, autoscaler_pb2.FleetAutoscaler)
    return (namespace, name), _at(record, event.kv.mod_revision)


def _at(
    autoscaler: autoscaler_pb2.FleetAutoscaler, revision: int
) -> autoscaler_pb2.FleetAutoscaler:
    autoscaler.metadata.revision = revision
    return autoscaler


def _fleet_at(fleet: fleet_pb2.Fleet, revision: int) -> fleet_pb2.Fleet:
    fleet.metadata.revision = revision
    return fleet
