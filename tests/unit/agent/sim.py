"""A tiny in-memory set: apply plans to pod views, so tests read like OKG's e2e scenarios."""

from __future__ import annotations

import dataclasses
from typing import Any

from agent.core import model, scaling


@dataclasses.dataclass
class FakeSet:
    """Desired view, pods and reserve memory of one GameServerSet, mutated by `reconcile`."""

    desired: model.GameServerSetView
    pods: dict[int, model.PodView] = dataclasses.field(default_factory=dict)
    memory: scaling.ReserveMemory = dataclasses.field(default_factory=scaling.ReserveMemory)
    last_plan: scaling.ScalePlan | None = None

    @classmethod
    def of(cls, replicas: int, **fields: Any) -> FakeSet:
        desired = dataclasses.replace(model.GameServerSetView(name="gs", replicas=0), **fields)
        fake = cls(desired=desired)
        fake.scale(replicas)
        return fake

    def scale(self, replicas: int, reserve: frozenset[int] | None = None) -> FakeSet:
        changes: dict[str, Any] = {"replicas": replicas}
        if reserve is not None:
            changes["reserve_ids"] = reserve
        self.desired = dataclasses.replace(self.desired, **changes)
        return self.reconcile()

    def reconcile(self) -> FakeSet:
        """Plan, then apply the plan at once (deletions finish immediately)."""
        plan = scaling.compute_scale(self.desired, tuple(self.pods.values()), self.memory)
        self.last_plan = plan
        if plan.replicas is not None:
            self.desired = dataclasses.replace(self.desired, replicas=plan.replicas)
        if plan.reserve_ids is not None:
            reserve = frozenset(plan.reserve_ids)
            self.desired = dataclasses.replace(self.desired, reserve_ids=reserve)
        self.memory = plan.memory
        for deletion in plan.delete:
            del self.pods[deletion.ordinal]
        for ordinal in plan.create:
            self.pods[ordinal] = pod(ordinal)
        return self

    def mark(self, ordinal: int, **fields: Any) -> FakeSet:
        self.pods[ordinal] = dataclasses.replace(self.pods[ordinal], **fields)
        return self

    @property
    def ids(self) -> set[int]:
        return set(self.pods)


def pod(ordinal: int, **fields: Any) -> model.PodView:
    base = model.PodView(ordinal=ordinal, name=f"gs-{ordinal}", uid=f"uid-{ordinal}")
    return dataclasses.replace(base, **fields)
