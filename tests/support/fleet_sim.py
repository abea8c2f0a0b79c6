"""A simulated cluster whose game servers follow the hub's desired sets, as an agent's would.

A replica the hub adds is reported Ready at once (after ``delay`` seconds), with ``counters``
(name: capacity) at 0 and ``lists`` (name: capacity) empty when given; a scale-down removes idle
servers (the highest ordinal first) and never one in use — Allocated, or with players on a
counter or a list — as the agent's OKG scale-down does. Allocations are applied by the
simulated agent itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from gamefleet.v1 import agent_pb2, gameserver_pb2

from .agent_sim import SimulatedAgent, game_server, set_status

ALLOCATED = "Allocated"


class FollowingCluster:
    def __init__(
        self,
        agent: SimulatedAgent,
        delay: float = 0.0,
        counters: dict[str, int] | None = None,
        lists: dict[str, int] | None = None,
    ) -> None:
        self.agent = agent
        self.delay = delay
        self.counters = counters or {}
        self.lists = lists or {}
        # The sets the agent holds already run their servers (an agent that restarted).
        self._synced: dict[tuple[str, str], str] = {k: s.hash for k, s in agent.sets.items()}
        self._ordinals: dict[tuple[str, str], itertools.count[int]] = {}
        self._task: asyncio.Task[None] | None = None
        # Every replica count the hub asked of this cluster, per fleet, in order.
        self.history: dict[tuple[str, str], list[int]] = {}
        # Who sets the sets' replicas in the cluster (an HPA, KEDA), as the agent reports it.
        self.replicas_owner = ""

    @property
    def name(self) -> str:
        return self.agent.cluster

    def start(self) -> FollowingCluster:
        self._task = asyncio.create_task(self._follow())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def servers(self, namespace: str, fleet: str) -> list[gameserver_pb2.GameServer]:
        """The fleet's servers this cluster runs now."""
        return [
            s
            for s in self.agent.reported.values()
            if isinstance(s, gameserver_pb2.GameServer)
            and (s.namespace, s.fleet) == (namespace, fleet)
            and not s.deleted
        ]

    def count(self, namespace: str, fleet: str, ops_state: str | None = None) -> int:
        return len(
            [
                s
                for s in self.servers(namespace, fleet)
                if ops_state is None or (s.ops_state or "None") == ops_state
            ]
        )

    def release(self, namespace: str, fleet: str, count: int) -> list[str]:
        """End ``count`` games: their servers go back to Ready, unallocated."""
        ended: list[str] = []
        delta = agent_pb2.StatusDelta()
        for server in sorted(self.servers(namespace, fleet), key=lambda s: s.name):
            if server.ops_state != ALLOCATED or len(ended) == count:
                continue
            freed = gameserver_pb2.GameServer()
            freed.CopyFrom(server)
            freed.ops_state = "None"
            freed.allocation_request_id = ""
            delta.game_servers.append(freed)
            ended.append(server.name)
        self.agent.report(delta)
        self._report_sets([(namespace, fleet)])
        return ended

    def set_count(self, namespace: str, fleet: str, name: str, key: str, count: int) -> None:
        """The game on server ``name`` sets its counter ``key`` (players joining or leaving)."""
        changed = self._copy(namespace, fleet, name)
        changed.counters[key].count = count
        self.agent.report(agent_pb2.StatusDelta(game_servers=[changed]))

    def set_values(
        self, namespace: str, fleet: str, name: str, key: str, values: list[str]
    ) -> None:
        """The game on server ``name`` sets its list ``key`` (rooms opening or closing)."""
        changed = self._copy(namespace, fleet, name)
        del changed.lists[key].values[:]
        changed.lists[key].values.extend(values)
        self.agent.report(agent_pb2.StatusDelta(game_servers=[changed]))

    def _copy(self, namespace: str, fleet: str, name: str) -> gameserver_pb2.GameServer:
        for server in self.servers(namespace, fleet):
            if server.name == name:
                changed = gameserver_pb2.GameServer()
                changed.CopyFrom(server)
                return changed
        raise KeyError(name)

    def _pending(self) -> bool:
        return any(self._synced.get(key) != s.hash for key, s in self.agent.sets.items())

    async def _follow(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await self.agent.wait_for(self._pending, timeout=3600)
            if self.delay:
                await asyncio.sleep(self.delay)
            changed = [k for k, s in self.agent.sets.items() if self._synced.get(k) != s.hash]
            for key in changed:
                self._synced[key] = self.agent.sets[key].hash
                self._scale(key)
            self._report_sets(changed)

    def _scale(self, key: tuple[str, str]) -> None:
        namespace, fleet = key
        wanted = self.agent.replicas(namespace, fleet) or 0
        self.history.setdefault(key, []).append(wanted)
        servers = self.servers(namespace, fleet)
        delta = agent_pb2.StatusDelta()
        ordinals = self._ordinals.setdefault(key, itertools.count(len(servers)))
        for _ in range(wanted - len(servers)):
            created = game_server(namespace, fleet, next(ordinals))
            created.node = f"{self.name}-node"
            for counter, capacity in self.counters.items():
                created.counters[counter].capacity = capacity
            for name, capacity in self.lists.items():
                created.lists[name].capacity = capacity
            delta.game_servers.append(created)
        idle = sorted(
            (s for s in servers if not in_use(s)),
            key=lambda s: int(s.name.rpartition("-")[2]),
            reverse=True,
        )
        for server in idle[: max(0, len(servers) - wanted)]:
            gone = gameserver_pb2.GameServer()
            gone.CopyFrom(server)
            gone.deleted = True
            delta.game_servers.append(gone)
        if delta.game_servers:
            self.agent.report(delta)

    def _report_sets(self, keys: list[tuple[str, str]]) -> None:
        delta = agent_pb2.StatusDelta()
        for namespace, fleet in keys:
            desired = self.agent.sets.get((namespace, fleet))
            if desired is None:
                continue
            allocated = self.count(namespace, fleet, ALLOCATED)
            ready = self.count(namespace, fleet) - allocated
            reported = set_status(desired, ready=ready, allocated=allocated)
            reported.replicas_owner = self.replicas_owner
            delta.sets.append(reported)
        if delta.sets:
            self.agent.report(delta)


def in_use(server: gameserver_pb2.GameServer) -> bool:
    return (
        server.ops_state == ALLOCATED
        or any(c.count for c in server.counters.values())
        or any(lst.values for lst in server.lists.values())
    )


def allocated_names(cluster: FollowingCluster, namespace: str, fleet: str) -> set[str]:
    return {s.name for s in cluster.servers(namespace, fleet) if s.ops_state == ALLOCATED}
