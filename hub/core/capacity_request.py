"""Checks of an allocation's counter and list bounds and actions, naming the field.

Shared by the native API (snake_case fields) and Agones' (camelCase): ``field`` gives the wire
name of each field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from okg import capacity as cap

from . import errors, paths

Field = Callable[[str], str]


def snake(name: str) -> str:
    return name


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _refuse(path: str, message: str) -> errors.ValidationError:
    return errors.ValidationError([errors.FieldError(path, message)])


def _names(found: Mapping[str, object], path: str) -> None:
    if len(found) > cap.MAX_NAMES:
        raise _refuse(path, f"has {len(found)} entries; at most {cap.MAX_NAMES} are allowed")
    for name in found:
        if problem := cap.name_problem(name):
            raise _refuse(paths.entry(path, name), problem)


def _not_negative(values: Mapping[str, int], path: str, field: Field) -> None:
    for name, value in values.items():
        if value < 0:
            raise _refuse(paths.child(path, field(name)), f"{value} must not be negative")


def _bounded(low: int, high: int, high_name: str, low_name: str, path: str, field: Field) -> None:
    if high and high < low:
        raise _refuse(
            paths.child(path, field(high_name)),
            f"{high} is below {field(low_name)} {low} (0 means no bound)",
        )


def counter_bounds(
    bounds: Mapping[str, cap.CounterBounds], path: str, field: Field = snake
) -> None:
    _names(bounds, path)
    for name, b in bounds.items():
        at = paths.entry(path, name)
        _not_negative(
            {
                "min_count": b.min_count,
                "max_count": b.max_count,
                "min_available": b.min_available,
                "max_available": b.max_available,
            },
            at,
            field,
        )
        _bounded(b.min_count, b.max_count, "max_count", "min_count", at, field)
        _bounded(b.min_available, b.max_available, "max_available", "min_available", at, field)


def list_bounds(bounds: Mapping[str, cap.ListBounds], path: str, field: Field = snake) -> None:
    _names(bounds, path)
    for name, b in bounds.items():
        at = paths.entry(path, name)
        _not_negative(
            {"min_available": b.min_available, "max_available": b.max_available}, at, field
        )
        _bounded(b.min_available, b.max_available, "max_available", "min_available", at, field)
        if b.contains and (problem := cap.value_problem(b.contains)):
            raise _refuse(paths.child(at, field("contains_value")), problem)


def _capacity(value: int | None, limit: int, path: str) -> None:
    if value is not None and not 0 <= value <= limit:
        raise _refuse(path, f"{value} must be between 0 and {limit:,}")


def actions(
    found: cap.Actions,
    counters_path: str,
    lists_path: str,
    field: Field = snake,
    delta_name: str = "delta",
) -> None:
    _names(found.counters, counters_path)
    for name, change in found.counters.items():
        at = paths.entry(counters_path, name)
        if abs(change.delta) > cap.MAX_COUNTER_CAPACITY:
            raise _refuse(
                paths.child(at, delta_name),
                f"{change.delta} is beyond ±{cap.MAX_COUNTER_CAPACITY:,}",
            )
        _capacity(change.capacity, cap.MAX_COUNTER_CAPACITY, paths.child(at, field("capacity")))
    _names(found.lists, lists_path)
    for name, listed in found.lists.items():
        at = paths.entry(lists_path, name)
        _capacity(listed.capacity, cap.MAX_LIST_CAPACITY, paths.child(at, field("capacity")))
        for kind, values in (("add_values", listed.add), ("delete_values", listed.delete)):
            where = paths.child(at, field(kind))
            if len(values) > cap.MAX_LIST_CAPACITY:
                raise _refuse(where, f"has {len(values)} entries; at most {cap.MAX_LIST_CAPACITY}")
            for i, value in enumerate(values):
                if problem := cap.value_problem(value):
                    raise _refuse(paths.item(where, i), problem)
