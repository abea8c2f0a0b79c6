"""Rules of the hub ↔ agent protocol that both sides must compute the same way."""

from __future__ import annotations

import hashlib

from google.protobuf import message


def status_hash(status: message.Message) -> str:
    """The hash both sides compare on resync: only statuses whose hashes differ travel."""
    return hashlib.sha256(status.SerializeToString(deterministic=True)).hexdigest()[:16]


def game_server_key(namespace: str, name: str) -> str:
    return f"gs/{namespace}/{name}"


def set_key(namespace: str, name: str) -> str:
    return f"gss/{namespace}/{name}"
