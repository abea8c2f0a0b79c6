"""Agones' Counter and List policies, state in and state out: keep free capacity of one
counter or list across the fleet (e.g. 200 free player slots) by adding servers or removing idle
ones. A list is read as a counter: its count is its number of values (Agones' List policy).

The fleet's count and capacity of the counter are summed over its live servers (Agones sums
its GameServers'). Below the buffer, servers are added, each bringing the template's capacity
minus its starting count; above it, servers are removed one at a time while the free capacity
stays at or above the buffer. A percentage p keeps the total capacity at
``ceil(count * 100 / (100 - p))``. The total capacity stays within minCapacity and
maxCapacity. Where gamefleet differs from Agones: only servers **not in use** may be removed
(not Allocated, no players on any counter or list: player continuity, okg.capacity), the
largest capacity first (the agent picks which idle servers go, so the hub assumes the removal
that frees the most, and the buffer holds whichever it picks); and the bounds and the buffer are
met in one decision where Agones may take two syncs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

from gamefleet import capacity_wire
from gamefleet.v1 import autoscaler_pb2, fleet_pb2, gameserver_pb2
from google.protobuf import struct_pb2

from hub.core import documents, values
from hub.core.limits import MAX_FLEET_REPLICAS
from okg import capacity as cap

from .demand import FleetSnapshot, Recommendation, recommend_total

ALLOCATED = "Allocated"
COUNTER = "counter"
LIST = "list"
KINDS = (COUNTER, LIST)

CapacityPolicy = autoscaler_pb2.CounterPolicy | autoscaler_pb2.ListPolicy


class CounterPolicyError(ValueError):
    """The policy cannot apply to the fleet as it is (the message says why)."""


def kind_of(policy: CapacityPolicy) -> str:
    """COUNTER or LIST: what ``policy`` keeps a buffer of."""
    return LIST if isinstance(policy, autoscaler_pb2.ListPolicy) else COUNTER


def measured(held: cap.Capacity, key: str, kind: str) -> cap.Counter | None:
    """The counter ``key`` of ``held``, or for LIST its list ``key`` as a counter (its values
    counted); None when ``held`` has no such counter or list."""
    if kind == LIST:
        found = held.lists.get(key)
        return None if found is None else cap.Counter(len(found.values), found.capacity)
    return held.counters.get(key)


def names_of(held: cap.Capacity, kind: str) -> list[str]:
    """The names of ``held``'s counters, or for LIST its lists."""
    return sorted(held.lists if kind == LIST else held.counters)


@dataclasses.dataclass(frozen=True, slots=True)
class CounterServer:
    """One live server of the fleet as the Counter policy reads it."""

    cluster: str
    count: int
    capacity: int
    # Allocated, or players on some counter or list: a scale-down never removes it.
    in_use: bool


@dataclasses.dataclass(frozen=True)
class CounterOutcome:
    replicas: int
    # Which bound held the answer back ("" when none did).
    limited: str
    detail: str


def declared(fleet: fleet_pb2.Fleet) -> cap.Capacity | None:
    """The counters and lists the fleet's template declares, or None."""
    template = documents.to_document(fleet.spec.template.game_server_template)
    meta = template.get("metadata") if isinstance(template, dict) else None
    notes = meta.get("annotations") if isinstance(meta, dict) else None
    text = notes.get(cap.DECLARATION) if isinstance(notes, dict) else None
    if not isinstance(text, str):
        return None
    try:
        return cap.parse(text, "declaration")
    except cap.CapacityError:
        return None


def template_counter(fleet: fleet_pb2.Fleet, key: str, kind: str = COUNTER) -> cap.Counter:
    """The counter (or list) ``key`` as the fleet's template declares it; CounterPolicyError
    if not."""
    found = declared(fleet)
    counter = measured(found, key, kind) if found is not None else None
    if counter is None:
        names = ", ".join(names_of(found, kind)) if found is not None else ""
        known = f"declared: {names}" if names else f"it declares no {kind}s"
        raise CounterPolicyError(f'"{key}" is not a {kind} of the fleet\'s template ({known})')
    return counter


def counter_servers(
    servers: Iterable[gameserver_pb2.GameServer], key: str, kind: str = COUNTER
) -> list[CounterServer]:
    """The fleet's live servers (not being deleted) as the policy reads them; a server that
    does not carry the counter or list (yet) counts with none of it."""
    found = []
    for server in servers:
        if server.deleted:
            continue
        held = capacity_wire.of(server.counters, server.lists)
        counter = (measured(held, key, kind) if held is not None else None) or cap.Counter()
        in_use = server.ops_state == ALLOCATED or (held is not None and held.in_use())
        found.append(CounterServer(server.cluster, counter.count, counter.capacity, in_use))
    return found


def buffer_size(size: struct_pb2.Value) -> tuple[int, int | None]:
    """(count, None) for a count buffer, (0, p) for "p%"; ValueError for anything else."""
    count = values.whole_number(size)
    if count is not None:
        return count, None
    text = size.string_value.strip() if size.WhichOneof("kind") == "string_value" else ""
    if text.endswith("%") and text[:-1].isdigit() and 0 < int(text[:-1]) < 100:
        return 0, int(text[:-1])
    if text.isdigit():
        return int(text), None
    raise ValueError(f"buffer size {values.describe(size)} is neither a count nor a percentage")


@dataclasses.dataclass(frozen=True)
class _Buffer:
    count: int
    percent: int | None

    def short(self, capacity: int, count: int) -> int:
        """How far the total capacity is below what the buffer needs (> 0: too little), in
        units that ``gain`` shares."""
        if self.percent is None:
            return count + self.count - capacity
        return 100 * count - (100 - self.percent) * capacity

    def gain(self, added: cap.Counter) -> int:
        """What one more server with ``added`` takes off ``short``."""
        return self.short(0, 0) - self.short(added.capacity, added.count)

    def describe(self) -> str:
        return f"{self.percent}%" if self.percent is not None else str(self.count)


def replicas_for(
    policy: CapacityPolicy, template: cap.Counter, servers: Sequence[CounterServer]
) -> CounterOutcome:
    """The fleet's servers that keep ``policy``'s free capacity, from its live ``servers``
    and the counter or list as the template declares it (what a new server brings)."""
    count_now = sum(s.count for s in servers)
    capacity_now = sum(s.capacity for s in servers)
    buffer = _Buffer(*buffer_size(policy.buffer_size))
    low, high = policy.min_capacity, policy.max_capacity
    added, limited = _to_add(buffer, template, capacity_now, count_now, low, high)
    removed = 0
    if added == 0:
        removed, limited = _to_remove(buffer, servers, capacity_now, count_now, low, high)
    replicas = min(MAX_FLEET_REPLICAS, len(servers) + added - removed)
    free = capacity_now - count_now
    detail = (
        f"{policy.key}: {count_now}/{capacity_now} used, {free} free, buffer"
        f" {buffer.describe()}: {len(servers)}{_signed(added - removed)} servers"
    )
    return CounterOutcome(replicas, limited, detail)


def _signed(change: int) -> str:
    return f"{change:+d}" if change else " (no change)"


def _to_add(
    buffer: _Buffer, template: cap.Counter, capacity: int, count: int, low: int, high: int
) -> tuple[int, str]:
    short = buffer.short(capacity, count)
    wanted = 0
    if short > 0:
        gain = buffer.gain(template)
        if gain <= 0:
            raise CounterPolicyError(
                f"a new server adds no free capacity to the buffer (the template declares"
                f" {template.count}/{template.capacity})"
            )
        wanted = math.ceil(short / gain)
    if capacity < low:
        if template.capacity == 0:
            raise CounterPolicyError("the template declares capacity 0: no server adds any")
        wanted = max(wanted, math.ceil((low - capacity) / template.capacity))
    if wanted and capacity + wanted * template.capacity > high:
        return max(0, (high - capacity) // template.capacity), f"maxCapacity {high}"
    return wanted, f"minCapacity {low}" if capacity < low else ""


def _to_remove(
    buffer: _Buffer,
    servers: Sequence[CounterServer],
    capacity: int,
    count: int,
    low: int,
    high: int,
) -> tuple[int, str]:
    """Idle servers to remove, the largest capacity first: while the total is above
    maxCapacity, or while the buffer and minCapacity still hold without the server."""
    removed = 0
    limited = ""
    idle = sorted((s for s in servers if not s.in_use), key=lambda s: -s.capacity)
    for server in idle:
        left, counted = capacity - server.capacity, count - server.count
        if capacity <= high:
            if left < low:
                limited = f"minCapacity {low}"
                break
            if buffer.short(left, counted) > 0:
                break
        capacity, count = left, counted
        removed += 1
    if capacity > high:
        limited = f"maxCapacity {high} (the rest is in use)"
    return removed, limited


def with_in_use_floors(snapshot: FleetSnapshot, servers: Sequence[CounterServer]) -> FleetSnapshot:
    """``snapshot`` with each cluster's servers in use counted as allocated: the floors no
    decision goes below (the agents would not remove them)."""
    in_use: dict[str, int] = {}
    for server in servers:
        if server.in_use:
            in_use[server.cluster] = in_use.get(server.cluster, 0) + 1
    clusters = tuple(
        dataclasses.replace(c, allocated=max(c.allocated, in_use.get(c.name, 0)))
        for c in snapshot.clusters
    )
    return dataclasses.replace(snapshot, clusters=clusters)


def recommend_counter(
    policy: CapacityPolicy, snapshot: FleetSnapshot, servers: Sequence[CounterServer]
) -> Recommendation:
    """The policy's total over the clusters: servers in use stay where they are, the rest is
    divided by the fleet's placement (as a webhook's total is)."""
    template = template_counter(snapshot.fleet, policy.key, kind_of(policy))
    outcome = replicas_for(policy, template, servers)
    placed = recommend_total(outcome.replicas, snapshot, outcome.detail)
    return dataclasses.replace(placed, limited=outcome.limited)
