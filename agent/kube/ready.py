"""Wait until an API server serves some kinds: ready, and their lists answered.

A just-started API server, or one whose CRD was just created or changed, answers `429 storage
is (re)initializing` for lists its watch cache serves until that cache has loaded, and `404` for
a CRD's kind not served yet. `wait_serving` returns once `/readyz` is ok and every kind lists
both ways a client lists (a consistent list, and `resourceVersion=0` from the watch cache).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from . import client as kclient

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .resources import Resource

_LISTS: tuple[Mapping[str, object], ...] = ({"limit": 1}, {"limit": 1, "resourceVersion": "0"})
# Answers that mean "not yet": not served yet, not ready, shedding load.
_NOT_YET = frozenset({404, 429, 500, 503})


async def wait_serving(
    kube: kclient.KubeClient, kinds: Iterable[Resource], seconds: float = 120.0
) -> None:
    """Return once the API server is ready and lists every kind; TimeoutError naming what it
    was waiting for after `seconds`. Namespaced kinds are listed across namespaces."""
    deadline = time.monotonic() + seconds
    await _until(kube, "/readyz", {}, deadline)
    for kind in kinds:
        for params in _LISTS:
            await _until(kube, kind.collection(None), params, deadline)


async def _until(
    kube: kclient.KubeClient, path: str, params: Mapping[str, object], deadline: float
) -> None:
    last: kclient.ApiError | None = None
    while True:
        left = deadline - time.monotonic()
        try:
            async with asyncio.timeout(max(left, 0.001)):
                await kube.request("GET", path, params=params)
            return
        except kclient.ApiError as exc:
            if exc.status not in _NOT_YET:
                raise
            last = exc
        except TimeoutError:
            pass
        if time.monotonic() >= deadline:
            what = f"{path}?{'&'.join(f'{k}={v}' for k, v in params.items())}"
            raise TimeoutError(f"API server does not serve {what} yet; last answer: {last}")
        await asyncio.sleep(0.2)
