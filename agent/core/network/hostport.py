"""Host ports per (node, port): the allocation table and the choice of node and ports.

The table is rebuilt from the pods themselves (each pod records its node and host ports), so it
survives an agent restart or a change of leader. A port is taken on a node while any known pod
holds it there; the same port is free on every other node, so capacity is ports x nodes.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

PodKey = tuple[str, str]
"""(namespace, pod name)."""

DEFAULT_RANGE = (8000, 9000)


@dataclasses.dataclass(frozen=True)
class Allocation:
    node: str
    ports: tuple[int, ...]
    uid: str | None = None
    """The pod's uid once observed; None for a reservation whose pod is not seen yet."""


class NoCapacityError(Exception):
    """No candidate node has enough free host ports."""


def parse_range(text: str) -> tuple[int, int]:
    """`8000-9000` (inclusive) to (8000, 9000); ValueError otherwise."""
    low_text, sep, high_text = text.partition("-")
    if not sep or not low_text.strip().isdigit() or not high_text.strip().isdigit():
        raise ValueError(f"{text!r} is not <low>-<high>")
    low, high = int(low_text), int(high_text)
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"{text!r} is not a range within 1-65535")
    return low, high


class PortTable:
    """Which pod holds which host ports on which node."""

    def __init__(self, port_range: tuple[int, int] = DEFAULT_RANGE) -> None:
        self.low, self.high = port_range
        self._by_pod: dict[PodKey, Allocation] = {}
        self._taken: dict[str, dict[int, PodKey]] = {}
        self._pods_on: dict[str, int] = {}
        self._usage: dict[int, int] = {}
        """Pods holding each port, on any node (scheduled or not): OKG's least-used choice."""

    # The record.

    def get(self, pod: PodKey) -> Allocation | None:
        return self._by_pod.get(pod)

    def taken(self, node: str) -> set[int]:
        return set(self._taken.get(node, {}))

    def pods_on(self, node: str) -> set[PodKey]:
        return set(self._taken.get(node, {}).values())

    def pairs(self) -> list[tuple[str, int]]:
        return sorted((n, p) for n, ports in self._taken.items() for p in ports)

    def __len__(self) -> int:
        return len(self._by_pod)

    def observe(self, pod: PodKey, allocation: Allocation) -> None:
        """A pod seen holding these ports on this node (replaces what it held before)."""
        old = self._by_pod.get(pod)
        if old == allocation:
            return
        if old is not None:
            self._drop(pod, old)
        self._by_pod[pod] = allocation
        owners = self._taken.setdefault(allocation.node, {})
        for port in allocation.ports:
            owners[port] = pod
            self._usage[port] = self._usage.get(port, 0) + 1
        self._pods_on[allocation.node] = self._pods_on.get(allocation.node, 0) + 1

    def release(self, pod: PodKey, uid: str | None = None) -> None:
        """The pod is gone. With `uid`, only if the record is that pod's (a reservation for a
        new pod of the same name is kept)."""
        old = self._by_pod.get(pod)
        if old is None or (uid is not None and old.uid is not None and old.uid != uid):
            return
        if uid is not None and old.uid is None:
            return
        self._drop(pod, old)
        del self._by_pod[pod]

    def forget(self, pod: PodKey) -> None:
        """Drop a reservation whose pod was never created."""
        old = self._by_pod.get(pod)
        if old is not None and old.uid is None:
            self._drop(pod, old)
            del self._by_pod[pod]

    def _drop(self, pod: PodKey, old: Allocation) -> None:
        owners = self._taken.get(old.node, {})
        for port in old.ports:
            if owners.get(port) == pod:
                del owners[port]
            self._usage[port] = max(0, self._usage.get(port, 0) - 1)
        self._pods_on[old.node] = max(0, self._pods_on.get(old.node, 0) - 1)

    # The choice.

    def free_count(self, node: str) -> int:
        taken = self._taken.get(node, {})
        return (self.high - self.low + 1) - sum(1 for p in taken if self.low <= p <= self.high)

    def choose_node(self, nodes: Iterable[str], count: int) -> str:
        """The candidate with the most free ports, then the fewest pods, then by name."""
        best: tuple[int, int, str] | None = None
        for node in nodes:
            free = self.free_count(node)
            if free < count:
                continue
            score = (-free, self._pods_on.get(node, 0), node)
            if best is None or score < best:
                best = score
        if best is None:
            raise NoCapacityError(f"no node has {count} free host ports in {self.low}-{self.high}")
        return best[2]

    def lowest_free(self, node: str, count: int) -> tuple[int, ...]:
        taken = self._taken.get(node, {})
        found: list[int] = []
        for port in range(self.low, self.high + 1):
            if port not in taken:
                found.append(port)
                if len(found) == count:
                    return tuple(found)
        raise NoCapacityError(f"node {node} has fewer than {count} free host ports")

    def allocate(self, pod: PodKey, count: int, nodes: Iterable[str]) -> Allocation:
        """Reserve `count` ports for a pod about to be created: deterministic, never a
        (node, port) pair that is held. An existing record for the pod is returned as is while
        its node is still a candidate."""
        candidates = list(nodes)
        old = self._by_pod.get(pod)
        if old is not None and len(old.ports) == count and old.node in candidates:
            return old
        if old is not None:
            self._drop(pod, old)
            del self._by_pod[pod]
        node = self.choose_node(candidates, count)
        allocation = Allocation(node, self.lowest_free(node, count))
        self.observe(pod, allocation)
        return allocation

    def allocate_least_used(self, pod: PodKey, count: int) -> Allocation:
        """OKG v1.1's choice: the `count` ports fewest pods hold, on any node (lowest first on
        a tie), no node picked: the scheduler places the pod where they are free. An existing
        record for the pod is kept."""
        old = self._by_pod.get(pod)
        if old is not None and len(old.ports) == count:
            return old
        if old is not None:
            self._drop(pod, old)
            del self._by_pod[pod]
        usage = {p: self._usage.get(p, 0) for p in range(self.low, self.high + 1)}
        if count > len(usage):
            raise NoCapacityError(f"{count} host ports do not fit in {self.low}-{self.high}")
        ports = sorted(usage, key=lambda p: (usage[p], p))[:count]
        allocation = Allocation("", tuple(sorted(ports)))
        self.observe(pod, allocation)
        return allocation
