"""Keeps each GameServerSet's disruption budgets for its pods in use: Allocated, or holding
players (agent/core/disruption.py).

The leader writes a budget when a set has none or someone changed it; the budgets are owned by
their sets, so the garbage collector removes them with the sets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from agent.core import bodies, disruption
from agent.kube import cache as kcache
from agent.kube import client as kclient
from agent.kube import resources

if TYPE_CHECKING:
    from agent.kube.cache import Key, WatchCache

_log = logging.getLogger(__name__)

RETRY_S = 5.0


class AllocatedBudgets:
    """The PodDisruptionBudgets of each GameServerSet that no eviction gets past for its pods in
    use (Allocated, or holding players)."""

    def __init__(
        self, kube: kclient.KubeClient, sets: WatchCache, namespace: str | None = None
    ) -> None:
        self._kube = kube
        self._sets = sets
        self.cache = kcache.WatchCache(
            kube,
            resources.POD_DISRUPTION_BUDGET,
            namespace=namespace,
            label_selector=disruption.LABEL,
        )
        self._due: set[Key] = set()
        # Budgets created that the cache does not show yet: not created again meanwhile.
        self._created: set[Key] = set()  # (namespace, budget name)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        sets.add_handler(self._on_set)
        self.cache.add_handler(self._on_budget)

    def start(self) -> None:
        """Once leading: look at every set, then follow the events."""
        for gss in self._sets.all():
            self._mark(bodies.key(gss))
        self._task = asyncio.create_task(self._run(), name="allocated-budgets")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_set(self, kind: kcache.EventType, obj: kclient.Obj) -> None:
        if kind != kcache.EventType.DELETED:
            self._mark(bodies.key(obj))

    def _on_budget(self, _: kcache.EventType, obj: kclient.Obj) -> None:
        owner = bodies.labels_of(obj).get(disruption.LABEL)
        if owner:
            self._created.discard(bodies.key(obj))
            self._mark((bodies.namespace(obj), owner))

    def _mark(self, key: Key) -> None:
        self._due.add(key)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            due, self._due = self._due, set()
            for key in sorted(due):
                try:
                    await self._keep(key)
                except kclient.ApiError as exc:
                    _log.warning("disruption budget of %s/%s: %s; retrying", *key, exc)
                    asyncio.get_running_loop().call_later(RETRY_S, self._mark, key)

    async def _keep(self, key: Key) -> None:
        gss = self._sets.get(key)
        if gss is None:
            return
        for name, wanted in disruption.budget_specs(key[1]).items():
            await self._keep_one(gss, (key[0], name), wanted)

    async def _keep_one(self, gss: kclient.Obj, key: Key, wanted: bodies.Json) -> None:
        budget = self.cache.get(key)
        if not disruption.needs_write(gss, budget, key[1]):
            return
        if budget is None:
            if key in self._created:
                return  # its watch event is on the way
            self._created.add(key)
            try:
                await kclient.unless_gone(
                    self._kube.create(
                        resources.POD_DISRUPTION_BUDGET, key[0], disruption.budget_body(gss, key[1])
                    )
                )
            except kclient.ApiError:
                self._created.discard(key)  # retried (_run)
                raise
            return
        spec = {**wanted, "minAvailable": None}
        await kclient.unless_gone(
            self._kube.patch(resources.POD_DISRUPTION_BUDGET, key[0], key[1], {"spec": spec})
        )
