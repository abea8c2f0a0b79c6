"""Counters and lists of a game server (the meaning of Agones' Counters & Lists), state in,
state out: named counts with a capacity (e.g. ``rooms``) and named lists of values with a
capacity (e.g. player ids).

Declared in the GameServerSet template's ``gamefleet.io/counters-lists`` annotation, which
reaches every GameServer with the template's metadata (as OKG copies it). The current values
live in the GameServer's own ``gamefleet.io/counters-lists-status`` annotation, written by the
game (the agent's endpoint, or any client of the API server) and by allocations; an entry there
wins over the declared one. Only declared names count. An OKG manifest without the declaration
is untouched by any of this.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

DECLARATION = "gamefleet.io/counters-lists"
STATUS = "gamefleet.io/counters-lists-status"

MAX_NAMES = 16
"""Counters (and, apart, lists) per server."""
MAX_COUNTER_CAPACITY = 1_000_000_000
MAX_LIST_CAPACITY = 1_000
MAX_VALUE_LENGTH = 128
RECENT_REQUESTS = 16
"""Request ids of the last allocations applied to a server: a retry is not applied twice."""

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


class CapacityError(ValueError):
    """A bad declaration, value or change; ``path`` names the field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclasses.dataclass(frozen=True, slots=True)
class Counter:
    count: int = 0
    capacity: int = 0

    @property
    def available(self) -> int:
        return max(0, self.capacity - self.count)


@dataclasses.dataclass(frozen=True, slots=True)
class CounterList:
    capacity: int = 0
    values: tuple[str, ...] = ()

    @property
    def available(self) -> int:
        return max(0, self.capacity - len(self.values))


@dataclasses.dataclass(frozen=True, slots=True)
class Capacity:
    """A server's counters and lists, and the allocations last applied to it."""

    counters: Mapping[str, Counter] = dataclasses.field(default_factory=dict)
    lists: Mapping[str, CounterList] = dataclasses.field(default_factory=dict)
    requests: tuple[str, ...] = ()

    def in_use(self) -> bool:
        """Some counter is above 0 or some list holds a value (players, rooms taken)."""
        return any(c.count for c in self.counters.values()) or any(
            lst.values for lst in self.lists.values()
        )


@dataclasses.dataclass(frozen=True, slots=True)
class CounterBounds:
    """A max of 0 is no bound."""

    min_count: int = 0
    max_count: int = 0
    min_available: int = 0
    max_available: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class ListBounds:
    contains: str = ""
    min_available: int = 0
    max_available: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class CounterChange:
    delta: int = 0
    capacity: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ListChange:
    add: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    capacity: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Need:
    """What an allocation asks of a server: its state (already Allocated, for re-allocation,
    or Ready) and bounds on its counters and lists."""

    allocated: bool = False
    counters: Mapping[str, CounterBounds] = dataclasses.field(default_factory=dict)
    lists: Mapping[str, ListBounds] = dataclasses.field(default_factory=dict)

    def plain(self) -> bool:
        """A Ready server with no bounds: what every allocation asked before counters."""
        return not (self.allocated or self.counters or self.lists)


@dataclasses.dataclass(frozen=True, slots=True)
class Actions:
    counters: Mapping[str, CounterChange] = dataclasses.field(default_factory=dict)
    lists: Mapping[str, ListChange] = dataclasses.field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.counters or self.lists)


NO_NEED = Need()
NO_ACTIONS = Actions()


# -- reading and writing the annotations ------------------------------------------------------


def name_problem(name: str) -> str | None:
    if not _NAME.match(name):
        return (
            "must be 1-63 letters, digits, '-', '_' or '.', beginning and ending with a letter"
            " or digit"
        )
    return None


def parse(text: str, path: str, status: bool = False) -> Capacity:
    """The counters and lists of a declaration (``status``: a status annotation); raises
    CapacityError naming the first bad field under ``path``."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CapacityError(path, f"is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise CapacityError(path, 'must be an object {"counters": {...}, "lists": {...}}')
    known = {"counters", "lists", *(("requests",) if status else ())}
    for key in doc:
        if key not in known:
            known_text = ", ".join(sorted(known))
            raise CapacityError(f"{path}.{key}", f"unknown field (known: {known_text})")
    counters = {
        name: _counter(entry, _at(path, "counters", name))
        for name, entry in _entries(doc.get("counters"), f"{path}.counters").items()
    }
    lists = {
        name: _list(entry, _at(path, "lists", name))
        for name, entry in _entries(doc.get("lists"), f"{path}.lists").items()
    }
    requests = doc.get("requests") or []
    if not isinstance(requests, list) or not all(isinstance(r, str) for r in requests):
        raise CapacityError(f"{path}.requests", "must be a list of strings")
    return Capacity(counters, lists, tuple(requests[-RECENT_REQUESTS:]))


def current(annotations: Mapping[str, str]) -> Capacity | None:
    """A GameServer's counters and lists: the declared ones with the status's values over
    them; None without a (valid) declaration. A bad status entry reads as the declared one."""
    declared_text = annotations.get(DECLARATION)
    if not declared_text:
        return None
    try:
        declared = parse(declared_text, "declaration")
    except CapacityError:
        return None
    status_text = annotations.get(STATUS)
    if not status_text:
        return declared
    try:
        found = parse(status_text, "status", status=True)
    except CapacityError:
        return declared
    return Capacity(
        {n: found.counters.get(n, c) for n, c in declared.counters.items()},
        {n: found.lists.get(n, lst) for n, lst in declared.lists.items()},
        found.requests,
    )


def bounds_problem(capacity: Capacity) -> CapacityError | None:
    """The first of ``capacity``'s counters and lists outside what a declaration or status may
    say (names, counts, capacities, values), with its path; None when within. For values that
    did not come through :func:`parse` (an agent's report to the hub)."""
    for kind, entries in (("counters", capacity.counters), ("lists", capacity.lists)):
        if len(entries) > MAX_NAMES:
            return CapacityError(kind, f"{len(entries)} names, at most {MAX_NAMES}")
        for name in entries:
            if problem := name_problem(name):
                return CapacityError(_at("", kind, name)[1:], problem)
    for name, counter in capacity.counters.items():
        path = _at("", "counters", name)[1:]
        if not 0 <= counter.capacity <= MAX_COUNTER_CAPACITY:
            return CapacityError(
                f"{path}.capacity",
                f"{counter.capacity} must be between 0 and {MAX_COUNTER_CAPACITY:,}",
            )
        if not 0 <= counter.count <= counter.capacity:
            return CapacityError(
                f"{path}.count", f"{counter.count} must be between 0 and the capacity"
            )
    for name, listed in capacity.lists.items():
        path = _at("", "lists", name)[1:]
        if not 0 <= listed.capacity <= MAX_LIST_CAPACITY:
            return CapacityError(
                f"{path}.capacity", f"{listed.capacity} must be between 0 and {MAX_LIST_CAPACITY:,}"
            )
        if len(listed.values) > listed.capacity:
            return CapacityError(
                f"{path}.values", f"{len(listed.values)} values, above the capacity"
            )
        for index, value in enumerate(listed.values):
            if problem := value_problem(value):
                return CapacityError(f"{path}.values[{index}]", problem)
    return None


def status_text(capacity: Capacity) -> str:
    """The ``gamefleet.io/counters-lists-status`` value of ``capacity``."""
    doc: dict[str, Any] = {
        "counters": {
            n: {"count": c.count, "capacity": c.capacity}
            for n, c in sorted(capacity.counters.items())
        },
        "lists": {
            n: {"capacity": lst.capacity, "values": list(lst.values)}
            for n, lst in sorted(capacity.lists.items())
        },
    }
    if capacity.requests:
        doc["requests"] = list(capacity.requests)
    return json.dumps(doc, separators=(",", ":"))


def _at(path: str, kind: str, name: str) -> str:
    return f'{path}.{kind}["{name}"]'


def _entries(value: object, path: str) -> dict[str, Mapping[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CapacityError(path, "must be an object of names")
    if len(value) > MAX_NAMES:
        raise CapacityError(path, f"{len(value)} names, at most {MAX_NAMES}")
    for name, entry in value.items():
        if problem := name_problem(name):
            raise CapacityError(f'{path}["{name}"]', problem)
        if not isinstance(entry, dict):
            raise CapacityError(f'{path}["{name}"]', "must be an object")
    return value


def _int(entry: Mapping[str, Any], key: str, path: str, limit: int) -> int:
    value = entry.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise CapacityError(f"{path}.{key}", "must be an integer")
    if not 0 <= value <= limit:
        raise CapacityError(f"{path}.{key}", f"{value} must be between 0 and {limit:,}")
    return value


def _counter(entry: Mapping[str, Any], path: str) -> Counter:
    _known(entry, ("count", "capacity"), path)
    capacity = _int(entry, "capacity", path, MAX_COUNTER_CAPACITY)
    count = _int(entry, "count", path, MAX_COUNTER_CAPACITY)
    if count > capacity:
        raise CapacityError(f"{path}.count", f"{count} is above the capacity {capacity}")
    return Counter(count, capacity)


def _list(entry: Mapping[str, Any], path: str) -> CounterList:
    _known(entry, ("capacity", "values"), path)
    capacity = _int(entry, "capacity", path, MAX_LIST_CAPACITY)
    values = entry.get("values") or []
    if not isinstance(values, list):
        raise CapacityError(f"{path}.values", "must be a list of strings")
    for i, value in enumerate(values):
        if problem := value_problem(value):
            raise CapacityError(f"{path}.values[{i}]", problem)
    if len(set(values)) != len(values):
        raise CapacityError(f"{path}.values", "holds a value twice")
    if len(values) > capacity:
        raise CapacityError(
            f"{path}.values", f"{len(values)} values, above the capacity {capacity}"
        )
    return CounterList(capacity, tuple(values))


def value_problem(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > MAX_VALUE_LENGTH:
        return f"{len(value)} characters, at most {MAX_VALUE_LENGTH}"
    return None


def _known(entry: Mapping[str, Any], keys: Iterable[str], path: str) -> None:
    for key in entry:
        if key not in keys:
            raise CapacityError(f"{path}.{key}", f"unknown field (known: {', '.join(keys)})")


# -- allocation: bounds, order, actions -------------------------------------------------------


def within(capacity: Capacity | None, need: Need) -> bool:
    """True when every counter and list ``need`` names is declared and within its bounds."""
    if not need.counters and not need.lists:
        return True
    if capacity is None:
        return False
    for name, bounds in need.counters.items():
        counter = capacity.counters.get(name)
        if counter is None or not (
            _in(counter.count, bounds.min_count, bounds.max_count)
            and _in(counter.available, bounds.min_available, bounds.max_available)
        ):
            return False
    for name, wanted in need.lists.items():
        found = capacity.lists.get(name)
        if found is None or not _in(found.available, wanted.min_available, wanted.max_available):
            return False
        if wanted.contains and wanted.contains not in found.values:
            return False
    return True


def _in(value: int, low: int, high: int) -> bool:
    return value >= low and (high == 0 or value <= high)


NO_ROOM = MAX_COUNTER_CAPACITY + 1
"""The room of a server without the counter or list that orders a request."""


def room_of(need: Need, actions: Actions) -> Callable[[Capacity | None], int]:
    """The room that orders servers for a request by capacity: the available count of the
    first counter the request names (its bounds, else its actions; by name), else of its
    first list. Packed takes the least available first (fills servers), Distributed the most."""
    counters = sorted(need.counters) or sorted(actions.counters)
    lists = sorted(need.lists) or sorted(actions.lists)
    if counters:
        name = counters[0]

        def counter_room(capacity: Capacity | None) -> int:
            found = capacity.counters.get(name) if capacity is not None else None
            return found.available if found is not None else NO_ROOM

        return counter_room
    if lists:
        listed = lists[0]

        def list_room(capacity: Capacity | None) -> int:
            found = capacity.lists.get(listed) if capacity is not None else None
            return found.available if found is not None else NO_ROOM

        return list_room
    return lambda _: NO_ROOM


def fits(capacity: Capacity | None, actions: Actions) -> bool:
    """True when ``apply(capacity, actions)`` would succeed (without building the result:
    the hub asks it of every server it weighs)."""
    if not actions:
        return True
    if capacity is None:
        return False
    for name, change in actions.counters.items():
        counter = capacity.counters.get(name)
        if counter is None:
            return False
        limit = counter.capacity if change.capacity is None else change.capacity
        if not 0 <= counter.count + change.delta <= limit:
            return False
    for name, listed in actions.lists.items():
        found = capacity.lists.get(name)
        if found is None:
            return False
        limit = found.capacity if listed.capacity is None else listed.capacity
        if not listed.delete and len(found.values) + len(listed.add) <= limit:
            continue  # the common case: room for every value, whether new or not
        gone = set(listed.delete)
        kept = [v for v in found.values if v not in gone]
        added = {v for v in listed.add if v not in kept}
        if len(kept) + len(added) > limit:
            return False
    return True


def apply(capacity: Capacity | None, actions: Actions, request_id: str = "") -> Capacity:
    """``capacity`` after ``actions``, all or nothing: raises CapacityError (naming the
    action) when a name is not declared or a change does not fit (a count below 0 or above
    its capacity, a list beyond its capacity). ``request_id`` is remembered among the last
    applied."""
    if capacity is None:
        if not actions:
            return Capacity()
        raise CapacityError("counters" if actions.counters else "lists", "the server declares none")
    counters = dict(capacity.counters)
    for name, change in sorted(actions.counters.items()):
        path = f'counters["{name}"]'
        counter = counters.get(name)
        if counter is None:
            raise CapacityError(path, "is not declared on the server")
        limit = counter.capacity if change.capacity is None else change.capacity
        count = counter.count + change.delta
        if count < 0:
            raise CapacityError(f"{path}.delta", f"takes the count {counter.count} below 0")
        if count > limit:
            raise CapacityError(
                f"{path}.delta", f"takes the count {counter.count} above the capacity {limit}"
            )
        counters[name] = Counter(count, limit)
    lists = dict(capacity.lists)
    for name, listed in sorted(actions.lists.items()):
        path = f'lists["{name}"]'
        found = lists.get(name)
        if found is None:
            raise CapacityError(path, "is not declared on the server")
        limit = found.capacity if listed.capacity is None else listed.capacity
        gone = set(listed.delete)
        values = [v for v in found.values if v not in gone]
        values += [v for v in dict.fromkeys(listed.add) if v not in values]
        if len(values) > limit:
            raise CapacityError(
                f"{path}.add_values", f"{len(values)} values, above the capacity {limit}"
            )
        lists[name] = CounterList(limit, tuple(values))
    requests = capacity.requests
    if request_id:
        requests = (*requests, request_id)[-RECENT_REQUESTS:]
    return Capacity(counters, lists, requests)


# -- the game's own changes -------------------------------------------------------------------


class NotDeclaredError(CapacityError):
    """The counter or list is not declared on the server."""


def edit(capacity: Capacity | None, kind: str, name: str, body: object) -> Capacity:
    """``capacity`` after the game's change of counter (``kind`` "counters") or list
    ("lists") ``name``. A counter's body is ``{"delta": n}`` or ``{"count": n}``, with an
    optional ``"capacity"``; a list's ``{"add": [...], "remove": [...]}``, with an optional
    ``"capacity"``. Raises NotDeclaredError, or CapacityError naming the body's field (a
    change that does not fit is named like a bad one)."""
    held = capacity or Capacity()
    if kind not in ("counters", "lists"):
        raise NotDeclaredError(kind, "is neither counters nor lists")
    if name not in (held.counters if kind == "counters" else held.lists):
        raise NotDeclaredError(name, f"no {kind[:-1]} of this name is declared on the server")
    if not isinstance(body, dict):
        raise CapacityError("body", "must be a JSON object")
    if kind == "counters":
        _known(body, ("delta", "count", "capacity"), "body")
        new_capacity = _optional_int(body, "capacity", MAX_COUNTER_CAPACITY)
        if "delta" in body and "count" in body:
            raise CapacityError("body.count", "give delta or count, not both")
        delta = body.get("delta", 0)
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise CapacityError("body.delta", "must be an integer")
        if "count" in body:
            count = _int(body, "count", "body", MAX_COUNTER_CAPACITY)
            delta = count - held.counters[name].count
        change = Actions({name: CounterChange(delta, new_capacity)})
    else:
        _known(body, ("add", "remove", "capacity"), "body")
        new_capacity = _optional_int(body, "capacity", MAX_LIST_CAPACITY)
        add = _values(body, "add")
        remove = _values(body, "remove")
        change = Actions(lists={name: ListChange(add, remove, new_capacity)})
    try:
        return apply(held, change)
    except CapacityError as exc:
        field = "body.add" if kind == "lists" else "body"
        raise CapacityError(field, exc.message) from None


def _optional_int(body: Mapping[str, Any], key: str, limit: int) -> int | None:
    return _int(body, key, "body", limit) if key in body else None


def _values(body: Mapping[str, Any], key: str) -> tuple[str, ...]:
    found = body.get(key) or []
    if not isinstance(found, list) or len(found) > MAX_LIST_CAPACITY:
        raise CapacityError(f"body.{key}", f"must be a list of at most {MAX_LIST_CAPACITY} strings")
    for i, value in enumerate(found):
        if problem := value_problem(value):
            raise CapacityError(f"body.{key}[{i}]", problem)
    return tuple(found)
