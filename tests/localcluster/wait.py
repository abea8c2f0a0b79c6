"""Polling with a deadline, for conditions observed through the API while a cluster starts."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class FatalError(RuntimeError):
    """Waiting further cannot help (a process died)."""


def wait_until(
    what: str, check: Callable[[], bool], timeout: float, interval: float = 0.25
) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except FatalError:
            raise
        except Exception as exc:  # the API may still be coming up: keep polling
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last error: {last!r}")
