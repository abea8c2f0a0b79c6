"""Ports on shared load balancers: which server's Service holds which ports on which one.

A load balancer is shared by every server that names it, so a port is handed out once per load
balancer. The table is rebuilt from the Services themselves (each records its load balancer and
ports), so it survives an agent restart or a change of leader; a reservation for a Service not
yet seen is kept until the Service appears or its creation fails.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

ServiceKey = tuple[str, str]
"""(namespace, Service name)."""

RECORD = "gamefleet.io/lb-ports"
"""Service annotation: the load balancer and the ports allocated on it (the record)."""


@dataclasses.dataclass(frozen=True)
class Allocation:
    lb_id: str
    ports: tuple[int, ...]
    uid: str | None = None
    """The Service's uid once observed; None for a reservation."""


def record_text(allocation: Allocation) -> str:
    """The record a Service carries for its allocation."""
    return json.dumps(
        {"lb": allocation.lb_id, "ports": list(allocation.ports)}, separators=(",", ":")
    )


def read_record(annotations: Mapping[str, str], uid: str | None) -> Allocation | None:
    """The allocation recorded in a Service's annotations (None without a readable record)."""
    text = annotations.get(RECORD)
    if not text:
        return None
    try:
        loaded = json.loads(text)
        lb_id = str(loaded["lb"])
        ports = tuple(int(p) for p in loaded["ports"])
    except (ValueError, TypeError, KeyError):
        return None
    return Allocation(lb_id, ports, uid or None)


class NoCapacityError(Exception):
    """None of the set's load balancers has enough free ports."""


class LbPortTable:
    def __init__(self) -> None:
        self._by_service: dict[ServiceKey, Allocation] = {}
        self._taken: dict[str, dict[int, ServiceKey]] = {}

    def get(self, service: ServiceKey) -> Allocation | None:
        return self._by_service.get(service)

    def taken(self, lb_id: str) -> set[int]:
        return set(self._taken.get(lb_id, {}))

    def __len__(self) -> int:
        return len(self._by_service)

    def observe(self, service: ServiceKey, allocation: Allocation) -> None:
        """A Service seen holding these ports (replaces what it held before)."""
        old = self._by_service.get(service)
        if old == allocation:
            return
        if old is not None:
            self._drop(service, old)
        self._by_service[service] = allocation
        owners = self._taken.setdefault(allocation.lb_id, {})
        for port in allocation.ports:
            owners[port] = service

    def release(self, service: ServiceKey, uid: str | None) -> None:
        """The Service is gone: free its ports, unless the record is a reservation or another
        Service's of the same name."""
        old = self._by_service.get(service)
        if old is None or old.uid is None or (uid is not None and old.uid != uid):
            return
        self._drop(service, old)
        del self._by_service[service]

    def forget(self, service: ServiceKey) -> None:
        """Drop a reservation whose Service was not created."""
        old = self._by_service.get(service)
        if old is not None and old.uid is None:
            self._drop(service, old)
            del self._by_service[service]

    def _drop(self, service: ServiceKey, old: Allocation) -> None:
        owners = self._taken.get(old.lb_id, {})
        for port in old.ports:
            if owners.get(port) == service:
                del owners[port]

    def _free(self, lb_id: str, low: int, high: int, blocked: frozenset[int]) -> Iterable[int]:
        taken = self._taken.get(lb_id, {})
        return (p for p in range(low, high + 1) if p not in taken and p not in blocked)

    def allocate(
        self,
        service: ServiceKey,
        lb_ids: Sequence[str],
        count: int,
        port_range: tuple[int, int],
        blocked: Iterable[int] = (),
        *,
        balanced: bool = False,
    ) -> Allocation:
        """Reserve `count` ports for a Service about to be created: on the first load balancer
        (in the set's order) with room, or with `balanced` the one with the most free ports;
        the lowest free ports there. Deterministic; never a (load balancer, port) that is held.
        A record the Service already has is kept while it holds `count` ports, even on a load
        balancer the set no longer lists: moving a running server's address is the user's call
        (they delete the server), never a side effect of adding capacity."""
        old = self._by_service.get(service)
        if old is not None and len(old.ports) == count:
            return old
        if old is not None:
            self._drop(service, old)
            del self._by_service[service]
        low, high = port_range
        skip = frozenset(blocked)
        best: tuple[int, int, str] | None = None
        for order, lb_id in enumerate(lb_ids):
            free = sum(1 for _ in self._free(lb_id, low, high, skip))
            if free < count:
                continue
            score = (-free if balanced else 0, order, lb_id)
            if best is None or score < best:
                best = score
        if best is None:
            raise NoCapacityError(
                f"no load balancer of {', '.join(lb_ids)} has {count} free ports in {low}-{high}"
            )
        lb_id = best[2]
        ports: list[int] = []
        for port in self._free(lb_id, low, high, skip):
            ports.append(port)
            if len(ports) == count:
                break
        allocation = Allocation(lb_id, tuple(ports))
        self.observe(service, allocation)
        return allocation

    def allocate_group(
        self,
        services: Sequence[ServiceKey],
        groups: Sequence[Sequence[str]],
        count: int,
        port_range: tuple[int, int],
        blocked: Iterable[int] = (),
        *,
        balanced: bool = False,
    ) -> list[Allocation]:
        """The same `count` ports on every load balancer of one group, one Service per member
        (`services[i]` on `group[i]`): the first group whose members all have them free (with
        `balanced`, the group with the most), the lowest such ports. Records the Services
        already hold are kept (and completed on the group they belong to) while the ports are
        free there; only otherwise is the server moved."""
        kept = self._kept_group(services, groups, count)
        if kept is not None:
            return kept
        for service in services:
            old = self._by_service.pop(service, None)
            if old is not None:
                self._drop(service, old)
        low, high = port_range
        skip = frozenset(blocked)
        best: tuple[int, int] | None = None
        for order, group in enumerate(groups):
            free = self._common_free(group, low, high, skip)
            if len(free) < count:
                continue
            score = (-len(free) if balanced else 0, order)
            if best is None or score < best:
                best = score
        if best is None:
            raise NoCapacityError(
                f"no group of {', '.join('/'.join(g) for g in groups)} has {count} free ports"
                f" in {low}-{high} on every load balancer"
            )
        group = groups[best[1]]
        ports = tuple(self._common_free(group, low, high, skip)[:count])
        found = [Allocation(lb_id, ports) for lb_id in group]
        for service, allocation in zip(services, found, strict=True):
            self.observe(service, allocation)
        return found

    def _common_free(
        self, group: Sequence[str], low: int, high: int, skip: frozenset[int]
    ) -> list[int]:
        return [
            p
            for p in range(low, high + 1)
            if p not in skip and all(p not in self._taken.get(lb_id, {}) for lb_id in group)
        ]

    def _kept_group(
        self, services: Sequence[ServiceKey], groups: Sequence[Sequence[str]], count: int
    ) -> list[Allocation] | None:
        held = [self._by_service.get(s) for s in services]
        known = next((a for a in held if a is not None and len(a.ports) == count), None)
        if known is None:
            return None
        group = next((g for g in groups if known.lb_id in g), None)
        if group is None or len(group) != len(services):
            # Its group is no longer listed: keep what is held if it is whole.
            if all(a is not None and a.ports == known.ports for a in held):
                return [a for a in held if a is not None]
            return None
        found: list[Allocation] = []
        for service, lb_id, old in zip(services, group, held, strict=True):
            if old is not None and old.lb_id == lb_id and old.ports == known.ports:
                found.append(old)
                continue
            owners = self._taken.get(lb_id, {})
            if any(owners.get(p, service) != service for p in known.ports):
                return None
            found.append(Allocation(lb_id, known.ports))
        for service, allocation in zip(services, found, strict=True):
            if allocation.uid is None:
                self.observe(service, allocation)
        return found
