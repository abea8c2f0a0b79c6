"""Gates of a progressive rollout: which clusters get the changed template now, each cluster's
progress, and the failure that pauses it. Pure: the caller keeps the clocks between calls."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from .rollout_waves import Wave

# A cluster's state in the rollout of its current template.
PENDING = "Pending"
UPDATING = "Updating"
SOAKING = "Soaking"
SUCCEEDED = "Succeeded"
FAILED = "Failed"

# The rollout's phase.
PROGRESSING = "Progressing"
PAUSED = "Paused"
ROLLING_BACK = "RollingBack"
COMPLETE = "Complete"

# Why a cluster failed.
QUALITY_FAILING = "QualityFailing"
NOT_READY = "NotReady"
DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"

# Servers named in a failure's message; the rest are counted.
_NAMED = 3


@dataclasses.dataclass(frozen=True)
class Observed:
    """What the hub sees of one cluster's copy of the fleet."""

    # Template hash the cluster should run, and the one of the set it holds (None: nothing).
    desired: str
    holds: str | None
    # The agent applied ``desired``, every updated server is Ready and only Allocated servers
    # are left on an older revision (they update when their games end).
    settled: bool = False
    # Updated servers not Ready, and "<server>: <quality>" failing on updated servers.
    not_ready: tuple[str, ...] = ()
    failing: tuple[str, ...] = ()

    @property
    def waiting(self) -> bool:
        """True when the cluster runs an older template and has not been given the new one."""
        return self.holds is not None and self.holds != self.desired


@dataclasses.dataclass(frozen=True)
class Clock:
    """Soft memory of one cluster's progress on one template."""

    template: str
    started: float
    settled_since: float | None = None
    succeeded: bool = False


@dataclasses.dataclass(frozen=True)
class Gates:
    """spec.rollout's limits, in seconds and counts."""

    min_success_time: float = 0.0
    max_failures: int = 0
    progress_deadline: float | None = None


@dataclasses.dataclass(frozen=True)
class Control:
    """What the rollout's commands and recorded failure say of the current generation."""

    paused: bool = False
    failed: bool = False
    rollback: bool = False


@dataclasses.dataclass(frozen=True)
class ClusterProgress:
    cluster: str
    wave: int
    state: str
    reason: str = ""
    message: str = ""


@dataclasses.dataclass(frozen=True)
class Progress:
    # Clusters that keep the template they hold for now.
    held_back: frozenset[str]
    clusters: tuple[ClusterProgress, ...]
    phase: str
    # The first wave not done (len(waves) when all are).
    wave: int
    waves: int
    # A failure beyond max_failures not yet recorded in the control: the caller records it.
    failure: ClusterProgress | None
    clocks: Mapping[str, Clock]
    # When time alone may change the answer (a soak ends, a deadline passes).
    wake_at: float | None


def progress(
    waves: Sequence[Wave],
    observed: Mapping[str, Observed],
    gates: Gates,
    control: Control,
    clocks: Mapping[str, Clock],
    now: float,
) -> Progress:
    """Walk the waves: a wave's waiting clusters get the new template (at most the wave's
    ``max_concurrency`` updating at once) once every earlier wave is done, unless
    the rollout is paused or has failed; a rollback goes everywhere at once."""
    judge = _Judge(gates, clocks, now)
    wave_of = {c: i for i, wave in enumerate(waves) for c in wave.clusters}
    states = {
        c: judge.state(c, index, observed[c])
        for c, index in wave_of.items()
        if not observed[c].waiting
    }
    failures = [s for s in states.values() if s.state == FAILED]
    beyond = len(failures) > gates.max_failures
    stopped = control.paused or control.failed or beyond
    held: set[str] = set()
    current = len(waves)
    gate_open = True
    for index, wave in enumerate(waves):
        members = wave.clusters
        in_flight = sum(states[c].state in (UPDATING, SOAKING) for c in members if c in states)
        for cluster in (c for c in members if observed[c].waiting):
            room = wave.max_concurrency is None or in_flight < wave.max_concurrency
            if control.rollback or (gate_open and not stopped and room):
                in_flight += 1
                states[cluster] = judge.released(cluster, index, observed[cluster])
            else:
                held.add(cluster)
                states[cluster] = ClusterProgress(cluster, index, PENDING)
        done = all(states[c].state in (SUCCEEDED, FAILED) for c in members)
        if not done and current == len(waves):
            current = index
        gate_open = gate_open and done
    ordered = tuple(states[c] for wave in waves for c in wave.clusters)
    return Progress(
        held_back=frozenset(held),
        clusters=ordered,
        phase=_phase(control, beyond, current == len(waves)),
        wave=current,
        waves=len(waves),
        # A rollback is not gated, so its failures pause nothing: they show per cluster.
        failure=failures[0] if beyond and not (control.failed or control.rollback) else None,
        clocks=judge.clocks,
        wake_at=min(judge.wakes, default=None),
    )


def _phase(control: Control, beyond: bool, done: bool) -> str:
    if control.rollback:
        return COMPLETE if done else ROLLING_BACK
    if control.failed or beyond:
        return FAILED
    # Paused even when done: the next template would go nowhere.
    if control.paused:
        return PAUSED
    return COMPLETE if done else PROGRESSING


class _Judge:
    """Each cluster's state on its template, with the clocks that carry it between calls."""

    def __init__(self, gates: Gates, clocks: Mapping[str, Clock], now: float) -> None:
        self._gates = gates
        self._before = clocks
        self._now = now
        self.clocks: dict[str, Clock] = {}
        self.wakes: list[float] = []

    def released(self, cluster: str, wave: int, seen: Observed) -> ClusterProgress:
        """A cluster given the template now: updating from now on."""
        self.clocks[cluster] = Clock(seen.desired, started=self._now)
        self._wake_at_deadline(self.clocks[cluster])
        return ClusterProgress(cluster, wave, UPDATING)

    def state(self, cluster: str, wave: int, seen: Observed) -> ClusterProgress:
        clock = self._before.get(cluster)
        if clock is None or clock.template != seen.desired:
            clock = Clock(seen.desired, started=self._now)
        result, clock = self._judge(cluster, wave, seen, clock)
        self.clocks[cluster] = clock
        return result

    def _judge(
        self, cluster: str, wave: int, seen: Observed, clock: Clock
    ) -> tuple[ClusterProgress, Clock]:
        if clock.succeeded:
            return ClusterProgress(cluster, wave, SUCCEEDED), clock
        if seen.failing:
            message = f"service quality failing on {_some(seen.failing)}"
            return ClusterProgress(cluster, wave, FAILED, QUALITY_FAILING, message), clock
        if seen.settled:
            since = clock.settled_since if clock.settled_since is not None else self._now
            clock = dataclasses.replace(clock, settled_since=since)
            ends = since + self._gates.min_success_time
            if self._now >= ends:
                clock = dataclasses.replace(clock, succeeded=True)
                return ClusterProgress(cluster, wave, SUCCEEDED), clock
            self.wakes.append(ends)
            return ClusterProgress(cluster, wave, SOAKING), clock
        if clock.settled_since is not None and seen.not_ready:
            message = f"updated servers not Ready while soaking: {_some(seen.not_ready)}"
            return ClusterProgress(cluster, wave, FAILED, NOT_READY, message), clock
        clock = dataclasses.replace(clock, settled_since=None)
        deadline = self._gates.progress_deadline
        if deadline is not None and self._now >= clock.started + deadline:
            message = f"not settled within the progress deadline of {deadline:g}s"
            if seen.not_ready:
                message += f" (not Ready: {_some(seen.not_ready)})"
            return ClusterProgress(cluster, wave, FAILED, DEADLINE_EXCEEDED, message), clock
        self._wake_at_deadline(clock)
        return ClusterProgress(cluster, wave, UPDATING), clock

    def _wake_at_deadline(self, clock: Clock) -> None:
        if self._gates.progress_deadline is not None:
            self.wakes.append(clock.started + self._gates.progress_deadline)


def _some(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_NAMED])
    more = len(names) - _NAMED
    return f"{shown} and {more} more" if more > 0 else shown
