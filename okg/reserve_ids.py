"""Parse and format `reserveGameServerIds`: ids and `"a-b"` ranges of ordinals."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

FIELD = "reserveGameServerIds"
MAX_IDS = 100_000
"""Most ids a list may expand to, so one range cannot exhaust memory."""

_ID = re.compile(r"^\d+$")
_RANGE = re.compile(r"^(\d+)-(\d+)$")
_RANGE_RUN = 3
"""Shortest run of consecutive ids that `format_reserve_ids` writes as a range."""


class ReserveIdsError(ValueError):
    """An entry of `reserveGameServerIds` is invalid; `index` names the entry."""

    def __init__(self, index: int, message: str) -> None:
        self.index = index
        self.message = message
        self.field = f"{FIELD}[{index}]"
        super().__init__(f"{self.field}: {message}")


def parse_reserve_ids(items: Sequence[object]) -> frozenset[int]:
    """Expand the entries into a set of ordinals.

    Raises ReserveIdsError for a negative id, a malformed or reversed range, an entry that is
    neither, an id listed twice (directly or through overlapping ranges), or more than MAX_IDS.
    """
    seen: set[int] = set()
    for index, item in enumerate(items):
        for ordinal in _expand(index, item):
            if ordinal in seen:
                raise ReserveIdsError(index, f"{ordinal} is listed more than once")
            seen.add(ordinal)
        if len(seen) > MAX_IDS:
            raise ReserveIdsError(index, f"the list expands to more than {MAX_IDS} ids")
    return frozenset(seen)


def _expand(index: int, item: object) -> range:
    # bool is an int subclass; `true` in a manifest is a mistake, not id 1.
    if isinstance(item, int) and not isinstance(item, bool):
        if item < 0:
            raise ReserveIdsError(index, f"{item} is negative")
        return range(item, item + 1)
    if not isinstance(item, str):
        raise ReserveIdsError(index, f"{item!r} is not an id or a range")
    if _ID.match(item):
        return range(int(item), int(item) + 1)
    match = _RANGE.match(item)
    if match is None:
        if item.startswith("-") and _ID.match(item[1:]):
            raise ReserveIdsError(index, f'"{item}" is negative')
        raise ReserveIdsError(index, f'"{item}" is not an id or a range like "3-6"')
    low, high = int(match.group(1)), int(match.group(2))
    if low > high:
        raise ReserveIdsError(index, f'"{item}" is not a valid range')
    if high - low >= MAX_IDS:
        raise ReserveIdsError(index, f'"{item}" expands to more than {MAX_IDS} ids')
    return range(low, high + 1)


def format_reserve_ids(ordinals: Iterable[int]) -> list[int | str]:
    """Write ordinals in ascending order; runs of three or more become `"a-b"` ranges."""
    result: list[int | str] = []
    for low, high in _runs(sorted(set(ordinals))):
        if high - low + 1 >= _RANGE_RUN:
            result.append(f"{low}-{high}")
        else:
            result.extend(range(low, high + 1))
    return result


def _runs(ordered: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for ordinal in ordered:
        if runs and runs[-1][1] == ordinal - 1:
            runs[-1] = (runs[-1][0], ordinal)
        else:
            runs.append((ordinal, ordinal))
    return runs


def to_annotation(ordinals: Iterable[int]) -> str:
    """Write ordinals as a comma-separated annotation value."""
    return ",".join(str(item) for item in format_reserve_ids(ordinals))


def from_annotation(text: str) -> frozenset[int]:
    """Read an annotation written by `to_annotation` (or OKG's comma-separated ids)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    return parse_reserve_ids(items)
