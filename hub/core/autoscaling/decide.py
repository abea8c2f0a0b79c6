"""One decision: a policy's recommendation through the limits, state in and state out."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from .demand import FleetSnapshot, Recommendation
from .limits import Bounds, Limits, Sample, limit


@dataclasses.dataclass(frozen=True)
class Decision:
    policy: str
    from_replicas: int
    to_replicas: int
    # Replicas asked of each Ready cluster (the fleet's cluster_demand).
    clusters: dict[str, int]
    # The policy's own total, before the stabilization windows and step limits.
    recommended: int
    reason: str
    limited: bool
    # When time alone may change the decision (a window expiring), or None.
    wake: float | None
    # A step limit held it back: the next decision continues.
    stepped: bool = False

    def differs(self, replicas: int, demand: Mapping[str, int]) -> bool:
        """Whether the fleet must change to follow this decision."""
        return replicas != self.to_replicas or dict(demand) != self.clusters


def decide(
    snapshot: FleetSnapshot,
    policy: str,
    recommendation: Recommendation,
    history: Sequence[Sample],
    now: float,
    limits: Limits,
    bounds: Bounds | None = None,
) -> Decision:
    """The fleet's replicas and each Ready cluster's part, from the policy's recommendation,
    the clusters' current replicas and the recommendations of the windows before ``now``."""
    ready = snapshot.ready()
    outcome = limit(
        current={c.name: c.assigned for c in ready},
        recommended=recommendation.clusters,
        floors={c.name: c.allocated for c in ready},
        history=history,
        now=now,
        limits=limits,
        kept=recommendation.kept,
        bounds=bounds,
    )
    total = recommendation.kept + sum(outcome.clusters.values())
    held = [recommendation.limited, *outcome.limited]
    stepped = outcome.stepped
    if not ready:
        # Nothing to place on yet: the total still says what the policy wants (placement
        # reports it unplaced), but shrinking blind waits for a cluster to see.
        total = max(snapshot.replicas, recommendation.total)
        step = limits.up.max_step
        if step and total > snapshot.replicas + step:
            total, stepped = snapshot.replicas + step, True
    reasons = [recommendation.detail, *(f"limited: {r}" for r in held if r)]
    return Decision(
        policy=policy,
        from_replicas=snapshot.replicas,
        to_replicas=total,
        clusters=outcome.clusters,
        recommended=recommendation.total,
        reason="; ".join(r for r in reasons if r),
        limited=any(held),
        wake=outcome.wake,
        stepped=stepped,
    )
