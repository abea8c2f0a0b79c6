"""Cluster health from agent heartbeats: Ready, Unknown, with hysteresis against flapping."""

from __future__ import annotations

import dataclasses
import enum


class Phase(enum.StrEnum):
    READY = "Ready"
    UNKNOWN = "Unknown"
    CORDONED = "Cordoned"


@dataclasses.dataclass(frozen=True)
class HealthPolicy:
    """A silent cluster turns Unknown after ``grace`` seconds; it is Ready again only after
    ``recovery_heartbeats`` heartbeats in a row, each within ``grace`` of the last. A fleet
    whose server has been Updating for longer than ``update_deadline`` seconds has a stalled
    update (Degraded)."""

    heartbeat_interval: float = 2.0
    grace: float = 10.0
    recovery_heartbeats: int = 2
    update_deadline: float = 300.0


@dataclasses.dataclass(frozen=True)
class Liveness:
    """What the hub has seen of one cluster's agent."""

    phase: Phase = Phase.UNKNOWN
    last_heartbeat: float | None = None
    # Consecutive timely heartbeats while Unknown.
    streak: int = 0
    # When the cluster last turned Unknown (None while Ready, or never Ready).
    unknown_since: float | None = None


def on_heartbeat(liveness: Liveness, now: float, policy: HealthPolicy) -> Liveness:
    timely = liveness.last_heartbeat is not None and now - liveness.last_heartbeat <= policy.grace
    if liveness.phase is Phase.READY:
        return dataclasses.replace(liveness, last_heartbeat=now)
    streak = liveness.streak + 1 if timely or liveness.streak == 0 else 1
    if streak >= policy.recovery_heartbeats:
        return Liveness(phase=Phase.READY, last_heartbeat=now)
    return dataclasses.replace(liveness, last_heartbeat=now, streak=streak)


def on_tick(liveness: Liveness, now: float, policy: HealthPolicy) -> Liveness:
    """Turn a Ready cluster Unknown once it has been silent for longer than the grace period."""
    silent = liveness.last_heartbeat is None or now - liveness.last_heartbeat > policy.grace
    if liveness.phase is Phase.READY and silent:
        return Liveness(
            phase=Phase.UNKNOWN, last_heartbeat=liveness.last_heartbeat, unknown_since=now
        )
    if liveness.phase is Phase.UNKNOWN and silent and liveness.streak:
        return dataclasses.replace(liveness, streak=0)
    return liveness
