from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from hub import store


async def take(
    events: AsyncIterator[store.WatchEvent], count: int, within: float = 10.0
) -> list[store.WatchEvent]:
    """Return the next ``count`` events, failing unless all arrive within ``within`` s."""
    taken: list[store.WatchEvent] = []
    async with asyncio.timeout(within):
        while len(taken) < count:
            taken.append(await anext(events))
    return taken
