"""Int-or-string values."""

from __future__ import annotations

import pytest

from agent.core import intstr


@pytest.mark.parametrize(
    ("value", "round_up", "expected"),
    [(3, False, 3), ("25%", False, 2), ("25%", True, 3), ("0%", True, 0), ("100%", False, 10)],
)
def test_scaled_value(value: int | str, round_up: bool, expected: int) -> None:
    assert intstr.scaled_value(value, 10, round_up=round_up) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 0), (7, 7), ("20", 20), ("-3", -3), (" 4 ", 4), ("high", 0), ("", 0), ("1.5", 0)],
)
def test_priority_value(value: int | str | None, expected: int) -> None:
    assert intstr.priority_value(value) == expected
