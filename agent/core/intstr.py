"""Kubernetes int-or-string values: absolute numbers, percentages and priorities."""

from __future__ import annotations

import math
import re

_PERCENT = re.compile(r"^(\d+)%$")
_INTEGER = re.compile(r"^[+-]?\d+$")


def scaled_value(value: int | str, total: int, *, round_up: bool) -> int:
    """Resolve an int or a percentage of `total` to a number of pods.

    Mirrors apimachinery's `GetScaledValueFromIntOrPercent`; a string must be a percentage.
    """
    if isinstance(value, int):
        return value
    match = _PERCENT.match(value)
    if match is None:
        raise ValueError(f"{value!r} is neither an integer nor a percentage")
    scaled = int(match.group(1)) * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def priority_value(value: object) -> int:
    """Read an update or deletion priority (a number, or a string of one, as int-or-string
    fields and labels carry it); anything else counts as 0, as in OKG."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return 0
    text = value.strip()
    return int(text) if _INTEGER.match(text) else 0
