"""Page sizes, page tokens and the byte budget of a page."""

from __future__ import annotations

import base64

import pytest

from hub.core import paging


@pytest.mark.parametrize(
    ("requested", "served"),
    [(0, 500), (1, 1), (499, 499), (5000, 5000)],
)
def test_page_size_is_the_request_or_the_default(requested: int, served: int) -> None:
    assert paging.page_size(requested, default=500, maximum=5000) == served


@pytest.mark.parametrize("requested", [-1, 5001])
def test_page_size_out_of_range_is_refused(requested: int) -> None:
    with pytest.raises(paging.PageSizeError, match="between 0 and 5000"):
        paging.page_size(requested, default=500, maximum=5000)


@pytest.mark.parametrize(
    "position", [("games", "arena"), ("eu-1", "games", "arena-0"), ("ns", "flotte-é")]
)
def test_a_token_names_the_position_it_was_made_from(position: tuple[str, ...]) -> None:
    token = paging.encode_token(position)

    assert paging.decode_token(token, len(position)) == position
    assert "/" not in token and "+" not in token


def test_the_empty_token_is_the_first_page() -> None:
    assert paging.decode_token("", 2) is None


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        base64.urlsafe_b64encode(b"only-one-part").decode(),
        base64.urlsafe_b64encode(b"a\0b\0c").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_token_this_api_did_not_return_is_refused(token: str) -> None:
    with pytest.raises(paging.PageTokenError):
        paging.decode_token(token, 2)


@pytest.mark.parametrize(
    ("sizes", "budget", "count"),
    [
        ([], 100, 0),
        ([40, 40, 40], 100, 2),
        ([40, 40, 20], 100, 3),
        ([500, 10], 100, 1),
        ([10] * 7, 1000, 7),
    ],
)
def test_fitting_counts_the_items_within_the_budget_and_at_least_the_first(
    sizes: list[int], budget: int, count: int
) -> None:
    assert paging.fitting(sizes, budget) == count
