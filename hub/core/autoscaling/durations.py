"""Durations written as Go and Agones write them: "90s", "5m", "1h30m", "1.5h", "250ms"."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> float:
    """Seconds in ``text``; DurationError when it is not a sequence of number+unit parts."""
    position, seconds = 0, 0.0
    stripped = text.strip()
    if not stripped:
        raise DurationError("must not be empty")
    while position < len(stripped):
        match = _PART.match(stripped, position)
        if match is None:
            raise DurationError(f'"{text}" is not a duration such as "90m" or "1h30m"')
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    return seconds
