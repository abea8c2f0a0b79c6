"""Counters, lists and allocation needs between their protobuf messages and okg.capacity."""

from __future__ import annotations

from collections.abc import Mapping

from gamefleet.v1 import allocation_pb2, gameserver_pb2
from okg.capacity import (
    Actions,
    Capacity,
    Counter,
    CounterBounds,
    CounterChange,
    CounterList,
    ListBounds,
    ListChange,
    Need,
)


def counter_bounds(message: allocation_pb2.CounterSelector) -> CounterBounds:
    return CounterBounds(
        message.min_count, message.max_count, message.min_available, message.max_available
    )


def list_bounds(message: allocation_pb2.ListSelector) -> ListBounds:
    return ListBounds(message.contains_value, message.min_available, message.max_available)


def counter_change(message: allocation_pb2.CounterAction) -> CounterChange:
    return CounterChange(message.delta, message.capacity if message.HasField("capacity") else None)


def list_change(message: allocation_pb2.ListAction) -> ListChange:
    return ListChange(
        tuple(message.add_values),
        tuple(message.delete_values),
        message.capacity if message.HasField("capacity") else None,
    )


def need_of(message: allocation_pb2.AllocationNeed) -> tuple[Need, Actions]:
    need = Need(
        allocated=message.game_server_state == allocation_pb2.ALLOCATED,
        counters={n: counter_bounds(s) for n, s in message.counters.items()},
        lists={n: list_bounds(s) for n, s in message.lists.items()},
    )
    actions = Actions(
        counters={n: counter_change(a) for n, a in message.counter_actions.items()},
        lists={n: list_change(a) for n, a in message.list_actions.items()},
    )
    return need, actions


def need_message(need: Need, actions: Actions) -> allocation_pb2.AllocationNeed:
    message = allocation_pb2.AllocationNeed(
        game_server_state=allocation_pb2.ALLOCATED if need.allocated else allocation_pb2.READY
    )
    for name, bounds in need.counters.items():
        message.counters[name].CopyFrom(
            allocation_pb2.CounterSelector(
                min_count=bounds.min_count,
                max_count=bounds.max_count,
                min_available=bounds.min_available,
                max_available=bounds.max_available,
            )
        )
    for name, wanted in need.lists.items():
        message.lists[name].CopyFrom(
            allocation_pb2.ListSelector(
                contains_value=wanted.contains,
                min_available=wanted.min_available,
                max_available=wanted.max_available,
            )
        )
    for name, change in actions.counters.items():
        message.counter_actions[name].CopyFrom(
            allocation_pb2.CounterAction(delta=change.delta, capacity=change.capacity)
        )
    for name, listed in actions.lists.items():
        message.list_actions[name].CopyFrom(
            allocation_pb2.ListAction(
                add_values=listed.add, delete_values=listed.delete, capacity=listed.capacity
            )
        )
    return message


def put(capacity: Capacity | None, server: gameserver_pb2.GameServer) -> None:
    """Set ``server``'s counters and lists to ``capacity``'s."""
    server.ClearField("counters")
    server.ClearField("lists")
    if capacity is None:
        return
    for name, counter in capacity.counters.items():
        server.counters[name].CopyFrom(
            gameserver_pb2.CounterStatus(count=counter.count, capacity=counter.capacity)
        )
    for name, listed in capacity.lists.items():
        server.lists[name].CopyFrom(
            gameserver_pb2.ListStatus(capacity=listed.capacity, values=listed.values)
        )


def of(
    counters: Mapping[str, gameserver_pb2.CounterStatus],
    lists: Mapping[str, gameserver_pb2.ListStatus],
) -> Capacity | None:
    """A reported server's counters and lists; None when it has none."""
    if not counters and not lists:
        return None
    return Capacity(
        {n: Counter(c.count, c.capacity) for n, c in counters.items()},
        {n: CounterList(lst.capacity, tuple(lst.values)) for n, lst in lists.items()},
    )
