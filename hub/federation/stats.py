"""What the federation counts for metrics: plain numbers, read at scrape time.

The federation increments these in place (an integer addition per message); the metrics
endpoint turns them into Prometheus families when scraped, so nothing of Prometheus runs on
the federation's paths.
"""

from __future__ import annotations

import bisect
import dataclasses

# Upper bounds, in seconds, of the reconcile-duration histogram's buckets (+Inf is implied).
RECONCILE_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


# How an allocation request was answered: a server newly allocated, the answer given before
# (its record, or the same request in flight), the server an earlier attempt's intent named
# (committed again by its agent), a server found by the request_id the agent wrote on it (its
# record missing), none left, or unknown (the agent asked did not answer: retry).
ALLOCATION_OUTCOMES = ("allocated", "replayed", "resumed", "recovered", "exhausted", "unknown")
# Why the hub moved on from a candidate: the agent found it taken (conflict), did not answer in
# time or was not connected (unanswered), or failed the write (error).
ALLOCATION_RETRY_REASONS = ("conflict", "unanswered", "error")


def _zeros(names: tuple[str, ...]) -> dict[str, int]:
    return dict.fromkeys(names, 0)


@dataclasses.dataclass
class FederationStats:
    """Counters of one federation (one leadership term), from its start."""

    desired_messages: int = 0
    status_deltas: int = 0
    allocations: dict[str, int] = dataclasses.field(
        default_factory=lambda: _zeros(ALLOCATION_OUTCOMES)
    )
    allocation_retries: dict[str, int] = dataclasses.field(
        default_factory=lambda: _zeros(ALLOCATION_RETRY_REASONS)
    )
    # Reconciles per bucket of RECONCILE_BUCKETS, not cumulative; the last entry is +Inf.
    reconcile_counts: list[int] = dataclasses.field(
        default_factory=lambda: [0] * (len(RECONCILE_BUCKETS) + 1)
    )
    reconcile_seconds: float = 0.0
    # Servers given back because their allocation's intent expired without an answer.
    allocations_released: int = 0
    # What the hub refused of the agents, by (field, action): see Federation.refused.
    agent_refusals: dict[tuple[str, str], int] = dataclasses.field(default_factory=dict)
    # Restarts of each supervised background task after it failed.
    task_restarts: dict[str, int] = dataclasses.field(default_factory=dict)

    def observe_reconcile(self, seconds: float) -> None:
        self.reconcile_counts[bisect.bisect_left(RECONCILE_BUCKETS, seconds)] += 1
        self.reconcile_seconds += seconds

    def copy(self) -> FederationStats:
        return dataclasses.replace(
            self,
            reconcile_counts=list(self.reconcile_counts),
            allocations=dict(self.allocations),
            allocation_retries=dict(self.allocation_retries),
            agent_refusals=dict(self.agent_refusals),
            task_restarts=dict(self.task_restarts),
        )


@dataclasses.dataclass
class LastDecision:
    """An autoscaler's latest decision, for the metrics' gauges."""

    namespace: str
    fleet: str
    time: float
    from_replicas: int
    to_replicas: int


@dataclasses.dataclass
class AutoscalingStats:
    """Counters of the fleet autoscalers (one leadership term), from their start."""

    # (namespace, autoscaler, direction: up, down or split) -> decisions written.
    decisions: dict[tuple[str, str, str], int] = dataclasses.field(default_factory=dict)
    # (namespace, autoscaler) -> its latest decision.
    last: dict[tuple[str, str], LastDecision] = dataclasses.field(default_factory=dict)
    # Policy evaluations, whether or not they changed anything.
    evaluations: int = 0
    webhook_failures: int = 0
    evaluation_seconds: float = 0.0

    def copy(self) -> AutoscalingStats:
        return dataclasses.replace(
            self,
            decisions=dict(self.decisions),
            last={k: dataclasses.replace(v) for k, v in self.last.items()},
        )


@dataclasses.dataclass(frozen=True)
class LiveCounts:
    """How much live state the federation holds at one moment."""

    fleets: int
    sessions: int
    # Registered clusters by (liveness phase, cordoned).
    clusters: dict[tuple[str, bool], int]
    # Game servers the agents report, by (state, opsState).
    game_servers: dict[tuple[str, str], int]
    stats: FederationStats
    autoscaling: AutoscalingStats | None = None
