"""An in-memory stand-in for the agent's watch caches: objects, the owner index, handlers."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from agent.core import wire

if TYPE_CHECKING:
    from collections.abc import Callable

Obj = dict[str, Any]
Key = tuple[str, str]


class FakeCache:
    """What `agent.autoscaler` reads of a WatchCache; `put` and `delete` fire the handlers."""

    def __init__(self, *, synced: bool = True) -> None:
        self.objects: dict[Key, Obj] = {}
        self.handlers: list[Callable[[Any, Obj], None]] = []
        self.synced = asyncio.Event()
        if synced:
            self.synced.set()

    def add_handler(self, handler: Callable[[Any, Obj], None]) -> None:
        self.handlers.append(handler)

    def get(self, key: Key) -> Obj | None:
        return self.objects.get(key)

    def by_index(self, value: str) -> list[Obj]:
        return [o for o in self.objects.values() if _owner_index(o) == value]

    def put(self, obj: Obj) -> None:
        meta = obj["metadata"]
        self.objects[(meta["namespace"], meta["name"])] = obj
        for handler in self.handlers:
            handler("MODIFIED", obj)

    def delete(self, namespace: str, name: str) -> None:
        obj = self.objects.pop((namespace, name))
        for handler in self.handlers:
            handler("DELETED", obj)


def _owner_index(obj: Obj) -> str | None:
    owner = (obj["metadata"].get("labels") or {}).get(wire.OWNER_GSS)
    return f"{obj['metadata']['namespace']}/{owner}" if owner else None


def game_server_set(namespace: str, name: str, replicas: int) -> Obj:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"replicas": replicas},
    }


def pod(
    namespace: str, gss: str, ordinal: int, ops_state: str = "None", *, deleting: bool = False
) -> Obj:
    meta: Obj = {
        "namespace": namespace,
        "name": f"{gss}-{ordinal}",
        "labels": {wire.OWNER_GSS: gss, wire.GS_OPS_STATE: ops_state},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta}


def game_server(namespace: str, gss: str, ordinal: int, ops_state: str = "None") -> Obj:
    return {
        "metadata": {
            "namespace": namespace,
            "name": f"{gss}-{ordinal}",
            "labels": {wire.OWNER_GSS: gss},
        },
        "spec": {"opsState": ops_state},
    }
