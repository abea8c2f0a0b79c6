"""A fleet's rollout control in the store: pause, resume, undo, and the failure that paused it."""

from __future__ import annotations

from collections.abc import Callable

from gamefleet.v1 import fleet_pb2

from hub.store import interface as store_api

from . import codec, revisions
from .clusters import Clock, now
from .errors import DeletingError, NotFoundError, PreconditionError
from .fleets import DEFAULT_NAMESPACE

Change = Callable[[fleet_pb2.Fleet], bool]


class RolloutRegistry:
    """Writes of ``Fleet.rollout_control`` (never a new generation, except undo's)."""

    def __init__(self, store: store_api.Store, clock: Clock = now) -> None:
        self._store = store
        self._clock = clock

    async def pause(self, namespace: str, name: str) -> fleet_pb2.Fleet:
        return await self._change(namespace, name, _set_paused)

    async def resume(self, namespace: str, name: str) -> fleet_pb2.Fleet:
        return await self._change(namespace, name, _resumed)

    async def record_failure(
        self, namespace: str, name: str, failure: fleet_pb2.RolloutFailure
    ) -> fleet_pb2.Fleet:
        """Keep ``failure`` (of the generation it names) unless the fleet moved on."""

        def change(fleet: fleet_pb2.Fleet) -> bool:
            control = fleet.rollout_control
            if fleet.metadata.generation != failure.generation or (
                control.failure.generation == failure.generation
            ):
                return False
            control.failure.CopyFrom(failure)
            control.failure.time.CopyFrom(self._clock())
            return True

        return await self._change(namespace, name, change)

    async def history(self, namespace: str, name: str) -> fleet_pb2.FleetRevisionHistory:
        await self._fleet(namespace, name)
        stored = await self._store.get(_history_key(namespace, name))
        if stored is None:
            return fleet_pb2.FleetRevisionHistory()
        return codec.decode(stored.value, fleet_pb2.FleetRevisionHistory)

    async def undo(self, namespace: str, name: str) -> fleet_pb2.Fleet:
        """Apply the previous revision's template as a new generation, sent everywhere at once;
        the rollout's pause and failure are cleared."""
        while True:
            key, stored = await self._fleet(namespace, name)
            fleet = codec.decode(stored.value, fleet_pb2.Fleet)
            history_key = _history_key(namespace, name)
            kept = await self._store.get(history_key)
            history = (
                codec.decode(kept.value, fleet_pb2.FleetRevisionHistory)
                if kept is not None
                else fleet_pb2.FleetRevisionHistory()
            )
            target = revisions.previous(history, fleet)
            if target is None:
                raise PreconditionError(
                    f"fleet {namespace or DEFAULT_NAMESPACE}/{name} has no earlier revision "
                    "to go back to"
                )
            fleet.spec.template.CopyFrom(target.template)
            fleet.metadata.generation += 1
            fleet.metadata.update_time.CopyFrom(self._clock())
            control = fleet.rollout_control
            control.Clear()
            control.undo_generation = fleet.metadata.generation
            history = revisions.appended(kept.value if kept is not None else None, fleet)
            try:
                revision = await self._store.commit(
                    [
                        store_api.Put(
                            key, codec.encode(fleet), expected_mod_revision=stored.mod_revision
                        ),
                        store_api.Put(history_key, codec.encode(history)),
                    ]
                )
            except store_api.ConflictError:
                continue
            fleet.metadata.revision = revision
            return fleet

    async def _change(self, namespace: str, name: str, change: Change) -> fleet_pb2.Fleet:
        while True:
            key, stored = await self._fleet(namespace, name)
            fleet = codec.decode(stored.value, fleet_pb2.Fleet)
            if not change(fleet):
                fleet.metadata.revision = stored.mod_revision
                return fleet
            try:
                revision = await self._store.put(
                    key, codec.encode(fleet), expected_mod_revision=stored.mod_revision
                )
            except store_api.ConflictError:
                continue
            fleet.metadata.revision = revision
            return fleet

    async def _fleet(self, namespace: str, name: str) -> tuple[str, store_api.KeyValue]:
        key = codec.fleet_key(namespace or DEFAULT_NAMESPACE, name)
        stored = await self._store.get(key)
        if stored is None:
            raise NotFoundError("fleet", f"{namespace or DEFAULT_NAMESPACE}/{name}")
        fleet = codec.decode(stored.value, fleet_pb2.Fleet)
        if fleet.metadata.HasField("deletion_time"):
            raise DeletingError("fleet", f"{fleet.metadata.namespace}/{name}")
        return key, stored


def _history_key(namespace: str, name: str) -> str:
    return codec.fleet_revisions_key(namespace or DEFAULT_NAMESPACE, name)


def _set_paused(fleet: fleet_pb2.Fleet) -> bool:
    if fleet.rollout_control.paused:
        return False
    fleet.rollout_control.paused = True
    return True


def _resumed(fleet: fleet_pb2.Fleet) -> bool:
    control = fleet.rollout_control
    if not control.paused and not control.HasField("failure"):
        return False
    control.paused = False
    control.ClearField("failure")
    return True
