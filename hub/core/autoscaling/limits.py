"""How fast a recommendation may move each cluster: stabilization windows and step limits.

As Kubernetes' HPA does for one workload, but per cluster, so a region whose games ended
keeps its idle servers for the window even while another region grows: a cluster scales down
only to the highest recommendation of the last scale-down window (default 300 s), and up
only to the lowest of the last scale-up window (default 0 s: at once). A step limit caps how
many replicas the fleet gains or loses in one decision. A cluster never goes below its
allocated servers, whatever the limits say; minReplicas and maxReplicas bound the total last.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from gamefleet.v1 import autoscaler_pb2

from .demand import proportional, reduce_to

DEFAULT_SCALE_DOWN_WINDOW_S = 300.0


@dataclasses.dataclass(frozen=True)
class Rules:
    window: float = 0.0
    # 0: no limit.
    max_step: int = 0


@dataclasses.dataclass(frozen=True)
class Limits:
    up: Rules = Rules()
    down: Rules = Rules(window=DEFAULT_SCALE_DOWN_WINDOW_S)

    @classmethod
    def of(cls, behavior: autoscaler_pb2.AutoscalerBehavior) -> Limits:
        def rules(message: autoscaler_pb2.AutoscalerScalingRules, window: float) -> Rules:
            if message.HasField("stabilization_window"):
                window = message.stabilization_window.ToTimedelta().total_seconds()
            return Rules(window, max(0, message.max_step))

        return cls(
            up=rules(behavior.scale_up, 0.0),
            down=rules(behavior.scale_down, DEFAULT_SCALE_DOWN_WINDOW_S),
        )

    @property
    def longest_window(self) -> float:
        return max(self.up.window, self.down.window)


@dataclasses.dataclass(frozen=True)
class Sample:
    """The recommendation per cluster at one time (epoch seconds)."""

    time: float
    clusters: Mapping[str, int]


@dataclasses.dataclass(frozen=True)
class Outcome:
    clusters: dict[str, int]
    # What held the recommendation back, for the decision's reason.
    limited: tuple[str, ...]
    # When time alone may change the outcome (a window's sample expiring), or None.
    wake: float | None
    # A step limit held the fleet back: the next decision continues the move.
    stepped: bool = False


@dataclasses.dataclass(frozen=True)
class Bounds:
    minimum: int
    maximum: int


def _stabilized(
    name: str,
    current: int,
    recommended: int,
    history: Sequence[Sample],
    now: float,
    limits: Limits,
) -> tuple[int, float | None]:
    """The cluster's replicas after its window, and when the oldest sample holding it expires.

    Decisions follow events, not a sync period, so a sample stays in effect until the next one:
    one taken before the window began still counts while it was in effect inside the window
    (its successor came less than a window ago)."""
    up = recommended > current
    rules = limits.up if up else limits.down
    samples = sorted((s.time, s.clusters[name]) for s in history if name in s.clusters)
    # (value, when it stopped being the recommendation) of each sample in effect in the window.
    recent = [
        (value, samples[i + 1][0] if i + 1 < len(samples) else now)
        for i, (_, value) in enumerate(samples)
        if (samples[i + 1][0] if i + 1 < len(samples) else now) > now - rules.window
    ]
    if up:
        value = max(current, min([recommended, *(v for v, _ in recent)]))
        holding = [ended for v, ended in recent if v < recommended]
    else:
        value = min(current, max([recommended, *(v for v, _ in recent)]))
        holding = [ended for v, ended in recent if v > recommended]
    if value == recommended or not holding:
        return value, None
    return value, min(holding) + rules.window


def _step(
    current: Mapping[str, int], target: dict[str, int], limits: Limits
) -> tuple[dict[str, int], str]:
    """``target`` with the fleet's net change capped by the step limits."""
    rises = {n: t - current.get(n, 0) for n, t in target.items() if t > current.get(n, 0)}
    falls = {n: current.get(n, 0) - t for n, t in target.items() if t < current.get(n, 0)}
    net = sum(rises.values()) - sum(falls.values())
    limited = dict(target)
    if net > 0 and limits.up.max_step and net > limits.up.max_step:
        allowed = proportional(limits.up.max_step + sum(falls.values()), rises)
        for name, rise in allowed.items():
            limited[name] = current.get(name, 0) + rise
        return limited, f"scale-up step {limits.up.max_step}"
    if net < 0 and limits.down.max_step and -net > limits.down.max_step:
        allowed = proportional(limits.down.max_step + sum(rises.values()), falls)
        for name, fall in allowed.items():
            limited[name] = current.get(name, 0) - fall
        return limited, f"scale-down step {limits.down.max_step}"
    return limited, ""


def limit(
    current: Mapping[str, int],
    recommended: Mapping[str, int],
    floors: Mapping[str, int],
    history: Sequence[Sample],
    now: float,
    limits: Limits,
    kept: int = 0,
    bounds: Bounds | None = None,
) -> Outcome:
    """Each Ready cluster's replicas for this decision.

    ``current``: what placement gives each cluster now; ``recommended``: the policy's answer;
    ``floors``: allocated servers per cluster; ``history``: earlier recommendations (those older
    than the longest window are ignored); ``kept``: what Unknown and cordoned clusters keep,
    counted in the total that ``bounds`` (minReplicas, maxReplicas) limit.
    """
    stabilized: dict[str, int] = {}
    wakes: list[float] = []
    held: list[str] = []
    for name, wanted in sorted(recommended.items()):
        value, wake = _stabilized(name, current.get(name, 0), wanted, history, now, limits)
        stabilized[name] = value
        if value != wanted:
            held.append(f"{name} at {value}")
        if wake is not None:
            wakes.append(wake)
    reasons = []
    if held:
        reasons.append("stabilization window holds " + ", ".join(held))
    stepped, step_reason = _step(current, stabilized, limits)
    if step_reason:
        reasons.append(step_reason)
    final = {name: max(count, floors.get(name, 0)) for name, count in stepped.items()}
    if bounds is not None:
        total = kept + sum(final.values())
        if total > bounds.maximum:
            final = reduce_to(final, floors, bounds.maximum - kept)
        elif total < bounds.minimum:
            final = _raise_toward(final, recommended, bounds.minimum - kept)
    return Outcome(final, tuple(reasons), min(wakes) if wakes else None, bool(step_reason))


def _raise_toward(
    clusters: Mapping[str, int], recommended: Mapping[str, int], total: int
) -> dict[str, int]:
    """``clusters`` raised toward ``recommended`` until they sum to ``total``."""
    short = {n: max(0, recommended.get(n, 0) - c) for n, c in clusters.items()}
    raised = proportional(min(sum(short.values()), total - sum(clusters.values())), short)
    return {n: c + raised[n] for n, c in clusters.items()}
