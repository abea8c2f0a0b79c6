"""Parsing and formatting reserveGameServerIds."""

from __future__ import annotations

import pytest

from okg import reserve_ids


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param([], set(), id="empty"),
        pytest.param([0, 5], {0, 5}, id="ints"),
        pytest.param(["3-6"], {3, 4, 5, 6}, id="range"),
        pytest.param(["4-4"], {4}, id="one-id-range"),
        pytest.param([1, "7", "3-4"], {1, 3, 4, 7}, id="mixed"),
    ],
)
def test_parse(items: list[object], expected: set[int]) -> None:
    assert reserve_ids.parse_reserve_ids(items) == expected


@pytest.mark.parametrize(
    ("items", "index", "message"),
    [
        pytest.param([1, -1], 1, "-1 is negative", id="negative-int"),
        pytest.param(["-2"], 0, '"-2" is negative', id="negative-string"),
        pytest.param([0, 1, "7-3"], 2, '"7-3" is not a valid range', id="reversed"),
        pytest.param(["a-b"], 0, '"a-b" is not an id or a range like "3-6"', id="letters"),
        pytest.param(["3-"], 0, '"3-" is not an id or a range like "3-6"', id="half-range"),
        pytest.param(["1-2-3"], 0, '"1-2-3" is not an id or a range like "3-6"', id="two-dashes"),
        pytest.param([" 3"], 0, '" 3" is not an id or a range like "3-6"', id="space"),
        pytest.param([1.5], 0, "1.5 is not an id or a range", id="float"),
        pytest.param([True], 0, "True is not an id or a range", id="bool"),
        pytest.param([None], 0, "None is not an id or a range", id="null"),
        pytest.param([2, 2], 1, "2 is listed more than once", id="duplicate"),
        pytest.param(["1-3", "3-5"], 1, "3 is listed more than once", id="overlap"),
        pytest.param(["0-100000"], 0, '"0-100000" expands to more than 100000 ids', id="huge"),
    ],
)
def test_parse_rejects_with_the_index(items: list[object], index: int, message: str) -> None:
    with pytest.raises(reserve_ids.ReserveIdsError) as caught:
        reserve_ids.parse_reserve_ids(items)
    assert (caught.value.index, caught.value.message) == (index, message)
    assert str(caught.value) == f"reserveGameServerIds[{index}]: {message}"
    assert caught.value.field == f"reserveGameServerIds[{index}]"


def test_many_entries_cannot_exceed_the_cap_together() -> None:
    items = [f"{i * 50_000}-{i * 50_000 + 49_999}" for i in range(3)]
    with pytest.raises(reserve_ids.ReserveIdsError) as caught:
        reserve_ids.parse_reserve_ids(items)
    assert caught.value.index == 2


@pytest.mark.parametrize(
    ("ordinals", "expected"),
    [
        pytest.param([], [], id="empty"),
        pytest.param([4, 3], [3, 4], id="short-run-as-ints"),
        pytest.param([6, 3, 4, 5, 9], ["3-6", 9], id="long-run-as-range"),
    ],
)
def test_format(ordinals: list[int], expected: list[int | str]) -> None:
    assert reserve_ids.format_reserve_ids(ordinals) == expected
    assert reserve_ids.parse_reserve_ids(expected) == set(ordinals)


def test_annotation_round_trip() -> None:
    text = reserve_ids.to_annotation({1, 2, 3, 4, 8})
    assert text == "1-4,8"
    assert reserve_ids.from_annotation(text) == {1, 2, 3, 4, 8}
    assert reserve_ids.from_annotation("") == frozenset()
    assert reserve_ids.from_annotation("3, 5") == {3, 5}
