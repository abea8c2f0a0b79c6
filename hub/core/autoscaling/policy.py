"""Which policy decides now: a Buffer, Counter, List or Webhook, reached through Schedules and
Chains.

A Chain is tried in order: an entry that is a Schedule applies only while it is active, a
Webhook only if it answers (the runtime calls it; on a failure the next entry decides, which is
how a chain names a webhook's fallback), a Buffer, a Counter or a List always. A lone Schedule
that is inactive, or a lone Webhook that fails, leaves the replicas as they are.
"""

from __future__ import annotations

import dataclasses

from gamefleet.v1 import autoscaler_pb2

from .counter import CapacityPolicy, kind_of
from .schedule import Window

BUFFER = "Buffer"
COUNTER = "Counter"
LIST = "List"
WEBHOOK = "Webhook"
SCHEDULE = "Schedule"
CHAIN = "Chain"
POLICY_TYPES = (BUFFER, COUNTER, LIST, WEBHOOK, SCHEDULE, CHAIN)
LEAF_TYPES = (BUFFER, COUNTER, LIST, WEBHOOK)

Entry = autoscaler_pb2.AutoscalerPolicy | autoscaler_pb2.ChainEntry


@dataclasses.dataclass(frozen=True)
class Leaf:
    """A policy that gives replicas: exactly one of ``buffer``, ``counter`` (a Counter or a
    List policy, one implementation: ``counter.kind_of``) and ``webhook``; ``name`` says how
    it was reached, e.g. "Chain[evening]/Schedule/Buffer"."""

    name: str
    buffer: autoscaler_pb2.BufferPolicy | None = None
    webhook: autoscaler_pb2.WebhookPolicy | None = None
    counter: CapacityPolicy | None = None


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
                steps.append(_step(f"{CHAIN}[{entry.id}]/", entry))
            return cls(tuple(steps))
        return cls((_step("", policy),))

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
    def counted(self) -> list[tuple[str, str]]:
        """(kind, key) of each counter and list its Counter and List policies keep a buffer
        of, kind being ``counter.COUNTER`` or ``counter.LIST``."""
        leaves = [s.leaf.counter for s in self.steps if s.leaf.counter is not None]
        return sorted({(kind_of(leaf), leaf.key) for leaf in leaves})


def _step(prefix: str, entry: Entry) -> _Step:
    if entry.type == SCHEDULE:
        leaf = _leaf(f"{prefix}{SCHEDULE}/", entry.schedule.policy)
        return _Step(leaf, Window.of(entry.schedule))
    return _Step(_leaf(prefix, entry), None)


def _leaf(prefix: str, entry: Entry) -> Leaf:
    if entry.type == WEBHOOK:
        return Leaf(f"{prefix}{WEBHOOK}", webhook=entry.webhook)
    if entry.type == COUNTER:
        return Leaf(f"{prefix}{COUNTER}", counter=entry.counter)
    if entry.type == LIST:
        return Leaf(f"{prefix}{LIST}", counter=entry.list)
    return Leaf(f"{prefix}{BUFFER}", buffer=entry.buffer)
