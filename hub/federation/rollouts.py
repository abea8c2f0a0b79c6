"""Progressive rollouts over time: the gates' clocks and each fleet's progress (soft state: a
restarted hub soaks the clusters in flight again), and the failures that pause a rollout,
written to the store off the reconcile path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

from gamefleet.v1 import fleet_pb2

from hub.core import rollout_progress as rp
from hub.core.desired_sets import SetKey
from hub.core.rollout_validation import seconds
from hub.core.rollout_waves import Wave
from hub.registry import errors as registry_errors
from hub.registry.rollouts import RolloutRegistry

from .intent import fleet_key

log = logging.getLogger(__name__)

RETRY_PAUSE_S = 1.0


class RolloutTracker:
    def __init__(self, registry: RolloutRegistry | None, clock: Callable[[], float]) -> None:
        self._registry = registry
        self._clock = clock
        self._clocks: dict[SetKey, Mapping[str, rp.Clock]] = {}
        # Per fleet, the generation its last progress was of, and that progress.
        self.progress: dict[SetKey, tuple[int, rp.Progress]] = {}
        self._wake: dict[SetKey, float] = {}
        self._unrecorded: dict[SetKey, fleet_pb2.RolloutFailure] = {}
        self._changed = asyncio.Event()

    def decide(
        self, fleet: fleet_pb2.Fleet, waves: Sequence[Wave], observed: Mapping[str, rp.Observed]
    ) -> rp.Progress:
        key = fleet_key(fleet)
        generation = fleet.metadata.generation
        result = rp.progress(
            waves, observed, gates(fleet), control(fleet), self._clocks.get(key, {}), self._clock()
        )
        self._clocks[key] = result.clocks
        self.progress[key] = (generation, result)
        if result.wake_at is not None:
            self._wake[key] = result.wake_at
        else:
            self._wake.pop(key, None)
        if result.failure is not None and self._registry is not None:
            failed = result.failure
            self._unrecorded[key] = fleet_pb2.RolloutFailure(
                generation=generation,
                cluster=failed.cluster,
                reason=failed.reason,
                message=failed.message,
            )
            self._changed.set()
        return result

    def succeeded(self, key: SetKey, cluster: str, template: str) -> bool:
        """True when ``cluster`` passed its gates on ``template`` already (its servers need
        not be read again)."""
        clock = self._clocks.get(key, {}).get(cluster)
        return clock is not None and clock.template == template and clock.succeeded

    def due(self) -> list[SetKey]:
        """Fleets whose rollout time alone moved on (a soak ended, a deadline passed)."""
        now = self._clock()
        ready = [key for key, at in self._wake.items() if at <= now]
        for key in ready:
            del self._wake[key]
        return ready

    def forget(self, key: SetKey) -> None:
        self._clocks.pop(key, None)
        self.progress.pop(key, None)
        self._wake.pop(key, None)
        self._unrecorded.pop(key, None)

    async def run(self) -> None:
        """Record each failure found, retried until it lands (a moved-on fleet drops it)."""
        assert self._registry is not None
        while True:
            await self._changed.wait()
            self._changed.clear()
            while self._unrecorded:
                key, failure = next(iter(self._unrecorded.items()))
                try:
                    await self._registry.record_failure(*key, failure)
                except (registry_errors.NotFoundError, registry_errors.DeletingError):
                    pass
                except Exception:
                    log.exception("recording the rollout failure of %s/%s; retrying", *key)
                    await asyncio.sleep(RETRY_PAUSE_S)
                    continue
                if self._unrecorded.get(key) is failure:
                    del self._unrecorded[key]


def gates(fleet: fleet_pb2.Fleet) -> rp.Gates:
    spec = fleet.spec.rollout
    deadline = seconds(spec.progress_deadline) if spec.HasField("progress_deadline") else None
    return rp.Gates(
        min_success_time=seconds(spec.min_success_time),
        max_failures=spec.max_failures,
        progress_deadline=deadline,
    )


def control(fleet: fleet_pb2.Fleet) -> rp.Control:
    generation = fleet.metadata.generation
    stored = fleet.rollout_control
    return rp.Control(
        paused=stored.paused,
        failed=stored.HasField("failure") and stored.failure.generation == generation,
        rollback=stored.undo_generation == generation,
    )
