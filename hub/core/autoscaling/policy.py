"""Which policy decides now: a Buffer or a Webhook, reached through Schedules and Chains.

A Chain is tried in order: an entry that is a Schedule applies only while it is active, a
Webhook only if it answers (the runtime calls it; on a failure the next entry decides, which is
how a chain names a webhook's fallback), a Buffer or a Counter always. A lone Schedule that is
inactive, or a lone Webhook that fails, leaves the replicas as they are.
"""

from __future__ import annotations

import dataclasses

from gamefleet.v1 import autoscaler_pb2

from .schedule import Window

BUFFER = "Buffer"
COUNTER = "Counter"
WEBHOOK = "Webhook"
SCHEDULE = "Schedule"
CHAIN = "Chain"
POLICY_TYPES = (BUFFER, COUNTER, WEBHOOK, SCHEDULE, CHAIN)
LEAF_TYPES = (BUFFER, COUNTER, WEBHOOK)


@dataclasses.dataclass(frozen=True)
class Leaf:
    """A policy that gives replicas: exactly one of ``buffer``, ``counter`` and ``webhook``;
    ``name`` says how it was reached, e.g. "Chain[evening]/Schedule/Buffer"."""

    name: str
    buffer: autoscaler_pb2.BufferPolicy | None = None
    webhook: autoscaler_pb2.WebhookPolicy | None = None
    counter: autoscaler_pb2.CounterPolicy | None = None


@dataclasses.dataclass(frozen=True)
class _Step:
    leaf: Leaf
    window: Window | None


@dataclasses.dataclass(frozen=True)
class Policy:
    """A validated policy, ready to ask which leaf applies at a given time."""

    steps: tuple[_Step, ...]

    @classmethod
    def of(cls, policy: autoscaler_pb2.AutoscalerPolicy) -> Policy:
        if policy.type == CHAIN:
            steps: list[_Step] = []
            for entry in policy.chain:
                steps.append(
                    _step(
                        f"{CHAIN}[{entry.id}]/",
                        entry.type,
                        entry.buffer,
                        entry.webhook,
                        entry.schedule,
                        entry.counter,
                    )
                )
            return cls(tuple(steps))
        step = _step(
            "", policy.type, policy.buffer, policy.webhook, policy.schedule, policy.counter
        )
        return cls((step,))

    def applicable(self, now: float) -> list[Leaf]:
        """The leaves to try now, in order: the first that gives replicas decides."""
        return [s.leaf for s in self.steps if s.window is None or s.window.active(now)]

    def next_change(self, now: float) -> float | None:
        """When a schedule of the policy may turn on or off next (epoch seconds), or None."""
        times = [s.window.next_change(now) for s in self.steps if s.window is not None]
        found = [t for t in times if t is not None]
        return min(found) if found else None

    @property
    def webhooks(self) -> list[autoscaler_pb2.WebhookPolicy]:
        return [s.leaf.webhook for s in self.steps if s.leaf.webhook is not None]

    @property
    def counter_keys(self) -> list[str]:
        """The counters its Counter policies keep a buffer of."""
        return sorted({s.leaf.counter.key for s in self.steps if s.leaf.counter is not None})


def _step(
    prefix: str,
    kind: str,
    buffer: autoscaler_pb2.BufferPolicy,
    webhook: autoscaler_pb2.WebhookPolicy,
    schedule: autoscaler_pb2.SchedulePolicy,
    counter: autoscaler_pb2.CounterPolicy,
) -> _Step:
    if kind == SCHEDULE:
        inner = schedule.policy
        leaf = _leaf(f"{prefix}{SCHEDULE}/", inner.type, inner.buffer, inner.webhook, inner.counter)
        return _Step(leaf, Window.of(schedule))
    return _Step(_leaf(prefix, kind, buffer, webhook, counter), None)


def _leaf(
    prefix: str,
    kind: str,
    buffer: autoscaler_pb2.BufferPolicy,
    webhook: autoscaler_pb2.WebhookPolicy,
    counter: autoscaler_pb2.CounterPolicy,
) -> Leaf:
    if kind == WEBHOOK:
        return Leaf(f"{prefix}{WEBHOOK}", webhook=webhook)
    if kind == COUNTER:
        return Leaf(f"{prefix}{COUNTER}", counter=counter)
    return Leaf(f"{prefix}{BUFFER}", buffer=buffer)
