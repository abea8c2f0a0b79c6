"""The allocation ledger's rules: which server an allocation may take, and when an entry ends.

An allocation is durable once its entry is in the set's ledger (one object per GameServerSet,
written once per batch of allocations); the GameServer's own `opsState: Allocated` follows.
From the moment an entry exists, every decision of the agent reads the server as Allocated.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping

from okg import vocabulary

# Bounds on what one entry may carry (the ledger is one object of at most 1 MiB per set).
MAX_ENTRY_BYTES = 16 * 1024


class Decision(enum.Enum):
    """What the agent answers to an allocation (or a release) of one server."""

    TAKE = "take"  # write an entry, then answer it taken
    HELD = "held"  # already this request's: answer it taken, write nothing
    CONFLICT = "conflict"  # another's, or not allocatable: answer a conflict, write nothing


@dataclasses.dataclass(frozen=True)
class Entry:
    """One allocation in the ledger: the server it took and what the GameServer will carry."""

    request_id: str
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Wall-clock seconds when the agent took it.
    time: float = 0.0

    def encode(self) -> str:
        return json.dumps(
            {
                "requestId": self.request_id,
                "labels": dict(self.labels),
                "annotations": dict(self.annotations),
                "time": round(self.time, 3),
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def decode(cls, text: str) -> Entry | None:
        """An entry as written by ``encode``; None when it is not one (then it is ignored)."""
        try:
            loaded = json.loads(text)
            return cls(
                request_id=str(loaded["requestId"]),
                labels={str(k): str(v) for k, v in dict(loaded.get("labels") or {}).items()},
                annotations={
                    str(k): str(v) for k, v in dict(loaded.get("annotations") or {}).items()
                },
                time=float(loaded.get("time") or 0.0),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


@dataclasses.dataclass(frozen=True)
class Server:
    """What the ledger needs to know of a GameServer, as the agent's cache shows it."""

    state: str
    ops_state: str
    # The request_id of the allocation the GameServer itself carries (its annotation).
    request_id: str = ""
    deleting: bool = False

    @property
    def allocated(self) -> bool:
        return self.ops_state == vocabulary.OpsState.ALLOCATED.value


def decide_allocation(
    server: Server | None, entry: Entry | None, busy: bool, request_id: str
) -> Decision:
    """May ``request_id`` take ``server``? ``entry`` is the ledger's entry for it (if any);
    ``busy`` is True while a reconcile of its set is deleting or updating it."""
    if entry is not None:
        return Decision.HELD if entry.request_id == request_id else Decision.CONFLICT
    if server is None:
        return Decision.CONFLICT
    if server.allocated:
        return Decision.HELD if server.request_id == request_id else Decision.CONFLICT
    if (
        busy
        or server.deleting
        or server.state != vocabulary.GameServerState.READY.value
        or server.ops_state not in ("", vocabulary.OpsState.NONE.value)
    ):
        return Decision.CONFLICT
    return Decision.TAKE


def decide_release(server: Server | None, entry: Entry | None, request_id: str) -> Decision:
    """May the allocation of ``request_id`` be given back? TAKE when the server (or its entry)
    is allocated for that request, CONFLICT otherwise (nothing to give back)."""
    if entry is not None:
        return Decision.TAKE if entry.request_id == request_id else Decision.CONFLICT
    if server is not None and server.allocated and server.request_id == request_id:
        return Decision.TAKE
    return Decision.CONFLICT


def caught_up(entry: Entry, server: Server | None) -> bool:
    """The GameServer itself says what the entry says (or is gone): the entry can go."""
    if server is None:
        return True
    return server.allocated and server.request_id == entry.request_id


def entry_problem(entry: Entry) -> str | None:
    """Why an entry may not be written (too large for the ledger), or None."""
    size = len(entry.encode().encode())
    if size > MAX_ENTRY_BYTES:
        return (
            f"the allocation's labels and annotations take {size} bytes (at most {MAX_ENTRY_BYTES})"
        )
    return None


def ledger_name(set_name: str) -> str:
    """The name of a GameServerSet's ledger object (a ConfigMap in the set's namespace)."""
    return f"{set_name}-allocations"
