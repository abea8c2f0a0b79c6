"""Pages of the List calls: one convention for page sizes and page tokens in every list.

A token names the sort key of the last item served, not an offset: an item created or deleted
between two pages moves no other item across a page boundary.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence

from . import limits


class PageSizeError(ValueError):
    """A requested page size out of range."""


class PageTokenError(ValueError):
    """A page token this API did not return."""


def page_size(requested: int, *, default: int, maximum: int) -> int:
    """The number of items to serve: ``requested``, or ``default`` when it is 0."""
    if not 0 <= requested <= maximum:
        raise PageSizeError(f"must be between 0 and {maximum}")
    return requested or default


def encode_token(position: Sequence[str]) -> str:
    """The token naming ``position``: the sort key of the last item served."""
    return base64.urlsafe_b64encode("\0".join(position).encode()).decode()


def decode_token(token: str, length: int) -> tuple[str, ...] | None:
    """The position of ``length`` parts a token names; None for the empty (first page) token."""
    if not token:
        return None
    if len(token) > limits.MAX_PAGE_TOKEN_LENGTH:
        raise PageTokenError("is not a token this API returned (too long)")
    try:
        position = tuple(base64.urlsafe_b64decode(token).decode().split("\0"))
    except ValueError:
        raise PageTokenError("is not a token this API returned") from None
    if len(position) != length:
        raise PageTokenError("is not a token this API returned")
    return position


def fitting(sizes: Iterable[int], budget: int) -> int:
    """How many leading items of these sizes fit in ``budget`` bytes; at least the first."""
    total = count = 0
    for size in sizes:
        total += size
        if count and total > budget:
            break
        count += 1
    return count
