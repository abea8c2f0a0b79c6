"""The store contract: a revisioned key-value store with compare-and-swap and resumable watches."""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import builtins
    from collections.abc import AsyncGenerator, Sequence


class StoreError(Exception):
    """A store operation failed."""


class ConflictError(StoreError):
    """A compare-and-swap failed: the key's mod revision is not the expected one."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        super().__init__(
            f"conflict on key {key!r}: expected mod revision {expected}, found {actual}"
        )
        self.key = key
        self.expected = expected
        # 0 when the key does not exist.
        self.actual = actual


class CompactedError(StoreError):
    """The requested revision is older than the history the store keeps; re-list, then watch."""

    def __init__(self, requested: int, compact_revision: int) -> None:
        super().__init__(
            f"revision {requested} is compacted; the oldest revision kept is {compact_revision}"
        )
        self.requested = requested
        self.compact_revision = compact_revision


class StoreUnavailableError(StoreError):
    """The backend cannot be reached; a write may or may not have been applied."""


class EventType(enum.Enum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclasses.dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclasses.dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change. For a DELETE, ``kv.value`` is empty and ``kv.create_revision`` is 0."""

    type: EventType
    kv: KeyValue
    revision: int


@dataclasses.dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: bytes
    expected_mod_revision: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Delete:
    key: str
    expected_mod_revision: int | None = None


Op = Put | Delete


class Store(Protocol):
    """A revisioned key-value store with one global, monotonically increasing revision.

    ``expected_mod_revision``: ``None`` writes unconditionally, ``0`` requires that the key is
    absent, any other value requires that the key's current mod revision equals it; otherwise
    the write raises ``ConflictError`` and changes nothing.
    """

    async def get(self, key: str) -> KeyValue | None:
        """Return the key's current value, or None when it is absent."""
        ...

    async def list(
        self, prefix: str, *, start_after: str = "", limit: int = 0
    ) -> tuple[builtins.list[KeyValue], int]:
        """Return the keys starting with ``prefix`` (sorted by key) and the revision read at.

        With ``start_after``, only keys greater than it; with ``limit`` > 0, at most that many
        (the first ones). One page of a listing reads one snapshot.
        """
        ...

    async def put(self, key: str, value: bytes, *, expected_mod_revision: int | None = None) -> int:
        """Write the key and return the new store revision (the key's mod revision)."""
        ...

    async def delete(self, key: str, *, expected_mod_revision: int | None = None) -> bool:
        """Delete the key; return False when it was already absent."""
        ...

    async def commit(self, ops: Sequence[Op]) -> int:
        """Apply every op atomically at one revision, or none; return the store revision.

        Keys must be distinct. Deleting an absent key without a condition is a no-op.
        """
        ...

    def watch(self, prefix: str, start_revision: int) -> AsyncGenerator[WatchEvent, None]:
        """Yield every change under ``prefix`` with revision >= ``start_revision``, in order.

        Replays history, then follows new changes until the store is closed or the caller
        stops. Raises ``CompactedError`` when part of that history is no longer kept: the
        caller then lists again and watches from the listed revision + 1. The iterator is an
        async generator: cancelling a pending ``anext()`` (a timeout around it) ends the watch.
        """
        ...

    async def compact(self, revision: int) -> None:
        """Discard history older than ``revision`` (which must not be in the future)."""
        ...

    async def check(self) -> None:
        """Return once the store can take a write now (raise StoreError if it cannot); the
        caller bounds the wait: a stalled store makes this hang, not fail."""
        ...

    async def close(self) -> None:
        """Release connections; running watches end."""
        ...
