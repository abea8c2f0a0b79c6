"""Which fleet change an ApplyFleet call traced, so its placement continues that trace.

The call stores the fleet and returns; the federation places the change later, when the
store's watch brings it to the reconcile loop. The call names the fleet before it stores it
and the revision it stored after; the first change of the fleet seen at that revision (or,
before the revision is known, any change seen while the call is storing it) is the call's.
"""

from __future__ import annotations

from hub.core.desired_sets import SetKey


class ApplyTraces:
    """Traceparents of ApplyFleet calls, from the call to the placement of its change."""

    def __init__(self) -> None:
        # Fleet → (traceparent, revision stored or None while storing).
        self._expected: dict[SetKey, tuple[str, int | None]] = {}
        # Fleet → traceparent of the call whose change awaits placement.
        self._due: dict[SetKey, str] = {}

    def expect(self, key: SetKey, parent: str) -> None:
        """A call with span ``parent`` is about to store ``key``."""
        if parent:
            self._expected[key] = (parent, None)

    def stored(self, key: SetKey, parent: str, revision: int | None) -> None:
        """The call stored ``key`` at ``revision``; None: it stored nothing (unchanged, failed)."""
        entry = self._expected.get(key)
        if entry is None or entry[0] != parent:
            return
        if revision is None:
            del self._expected[key]
        else:
            self._expected[key] = (parent, revision)

    def changed(self, key: SetKey, revision: int) -> None:
        """The federation saw ``key`` at ``revision``."""
        entry = self._expected.get(key)
        if entry is not None and (entry[1] is None or revision >= entry[1]):
            del self._expected[key]
            self._due[key] = entry[0]

    def take(self, key: SetKey) -> str:
        """The traceparent the placement of ``key`` continues, once; "" for none."""
        return self._due.pop(key, "")
