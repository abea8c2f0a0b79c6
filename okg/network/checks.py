"""Checks of single `networkConf` values, and a parser for plugins whose parameters are a flat
table of names: each check returns None when the value is good, else what is wrong with it."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from . import params

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence


def choice(*allowed: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in allowed else f"is not one of {', '.join(allowed)}"

    return check


def between(low: int, high: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if value.isdigit() and low <= int(value) <= high:
            return None
        return f"is not a whole number {low}-{high}"

    return check


def text(value: str) -> str | None:
    return None if value.strip() else "is empty"


def boolean(value: str) -> str | None:
    return None if value.lower() in ("true", "false") else "is not true or false"


def port(value: str) -> str | None:
    return None if params.port(value) is not None else "is not a port 1-65535"


def ports(value: str) -> str | None:
    texts = [t.strip() for t in value.split(",")]
    if not value.strip() or any(params.port(t) is None for t in texts):
        return "is not a list of ports 1-65535"
    return None


def port_protocols(value: str) -> str | None:
    found, problems = params.port_protocols(0, value)
    if problems:
        return f"is not {params.PORT_PROTOCOL_SHAPE}"
    numbers = [p.port for p in found]
    return "lists a port more than once" if len(set(numbers)) != len(numbers) else None


def listed(*allowed: str) -> Callable[[str], str | None]:
    """A comma list whose items are each one of `allowed`."""

    def check(value: str) -> str | None:
        items = [t.strip() for t in value.split(",")]
        bad = [t for t in items if t not in allowed]
        if bad or not value.strip():
            return f"is not a comma list of {', '.join(allowed)}"
        if len(set(items)) != len(items):
            return "lists an item more than once"
        return None

    return check


def ids(value: str) -> str | None:
    """A comma list of ids, none repeated."""
    items = [t.strip() for t in value.split(",") if t.strip()]
    if not items:
        return "lists no id"
    return "lists an id more than once" if len(set(items)) != len(items) else None


def key_values(value: str) -> str | None:
    _, problems = params.key_values(0, "", value)
    return "is not <key>:<value>,…" if problems else None


@dataclasses.dataclass(frozen=True)
class Found:
    """The well-formed, known parameters of a set, by name: (index, value)."""

    values: dict[str, tuple[int, str]]

    def get(self, name: str, default: str = "") -> str:
        found = self.values.get(name)
        return found[1] if found is not None else default

    def has(self, name: str) -> bool:
        return name in self.values

    def index(self, name: str) -> int:
        found = self.values.get(name)
        return found[0] if found is not None else -1

    def flag(self, name: str, default: bool = False) -> bool:
        return self.get(name, str(default)).lower() == "true"

    def items(self, name: str) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.get(name).split(",") if t.strip())


def parse_table(
    network_type: str,
    found: Sequence[tuple[int, str, str]],
    known: Mapping[str, Callable[[str], str | None]],
    required: Sequence[str] = (),
) -> tuple[Found, list[params.Problem]]:
    """Every entry checked against `known` (name -> check): an unknown name, a name given twice,
    a bad value and a missing required name are each a problem naming the parameter."""
    problems: list[params.Problem] = []
    values: dict[str, tuple[int, str]] = {}
    names = tuple(known)
    for index, name, value in found:
        where = params.field(index, name)
        check = known.get(name)
        if check is None:
            problems.append(params.unknown(index, name, network_type, names))
            continue
        if name in values:
            problems.append((index, f"{where}: given more than once"))
            continue
        values[name] = (index, value)
        problem = check(value)
        if problem:
            problems.append((index, f'{where}: "{value}" {problem}'))
    for needed in required:
        if needed not in values:
            problems.append((-1, f"network.networkConf: {network_type} needs {needed}"))
    return Found(values), problems


def port_range(
    found: Found, default: tuple[int, int], blocked: Sequence[int] = ()
) -> tuple[tuple[int, int], list[params.Problem]]:
    """`MinPort`/`MaxPort` (checked as ports already) over `default`; MinPort above MaxPort, or
    a range that `blocked` leaves empty, is a problem."""
    low = params.port(found.get("MinPort")) or default[0]
    high = params.port(found.get("MaxPort")) or default[1]
    at = found.index("MaxPort") if found.has("MaxPort") else found.index("MinPort")
    where = "network.networkConf" if at < 0 else params.field(at, "MaxPort")
    if low > high:
        return (low, high), [(at, f"{where}: MinPort {low} is above MaxPort {high}")]
    if all(p in blocked for p in range(low, high + 1)):
        return (low, high), [(at, f"{where}: {low}-{high} has no port outside BlockPorts")]
    return (low, high), []
