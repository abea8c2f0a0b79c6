"""Rules of the hub ↔ agent protocol that both sides must compute the same way."""

from __future__ import annotations

import hashlib
from typing import Any

from google.protobuf import message

# Set by the hub's allocation on the GameServer it allocates; the agent reports it upward.
ALLOCATION_REQUEST_ANNOTATION = "gamefleet.io/allocation-request-id"

ALLOCATED = "Allocated"
# OKG's opsState values; OKG accepts any other string too (ranked like None), which a targeted
# operation writes only when it says so (allow_custom_ops_state).
KNOWN_OPS_STATES = ("None", "WaitToBeDeleted", "Maintaining", ALLOCATED, "Kill")


def unknown_ops_state(wanted: str) -> str | None:
    """Why ``wanted`` is refused as an opsState without allow_custom_ops_state, or None."""
    if wanted in KNOWN_OPS_STATES:
        return None
    return (
        f'"{wanted}" is not a known opsState ({", ".join(KNOWN_OPS_STATES)}); '
        "a custom one needs allow_custom_ops_state (--allow-custom-ops-state)"
    )


def unallocation_refusal(current: str, wanted: str) -> str | None:
    """Why setting opsState ``wanted`` on a server whose opsState is ``current`` is refused
    without allow_unallocate (it would take an Allocated server out of Allocated), or None."""
    if current != ALLOCATED or wanted == ALLOCATED:
        return None
    return (
        f"is Allocated: opsState {wanted} would un-allocate it; "
        "that needs allow_unallocate (--force)"
    )


def status_hash(status: message.Message) -> str:
    """The hash both sides compare on resync: only statuses whose hashes differ travel."""
    return wire_hash(status.SerializeToString(deterministic=True))


def wire_hash(serialized: bytes) -> str:
    """``status_hash`` of a status already serialized deterministically."""
    return hashlib.sha256(serialized).hexdigest()[:16]


def game_server_key(namespace: str, name: str) -> str:
    return f"gs/{namespace}/{name}"


def set_key(namespace: str, name: str) -> str:
    return f"gss/{namespace}/{name}"


def whole_numbers(value: Any) -> Any:
    """``value`` with every whole-number float made an int, recursively.

    ``google.protobuf.Struct`` and ``Value`` keep every number as a double, so a document that
    travels through them comes back with ``3.0`` where it had ``3``; Kubernetes wants ``3``.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: whole_numbers(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [whole_numbers(inner) for inner in value]
    return value
