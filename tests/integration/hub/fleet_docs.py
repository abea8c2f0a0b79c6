"""Fleets used by the hub tests."""

from __future__ import annotations

from typing import Any

from gamefleet.v1 import fleet_pb2

from hub.core import documents, fleet_status


def fleet_document(name: str = "arena", replicas: int = 9, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "games", "labels": {"game": "arena"}},
        "spec": {
            "replicas": replicas,
            "template": {
                "gameServerTemplate": {
                    "spec": {"containers": [{"name": "server", "image": "arena:1.0"}]}
                },
                "updateStrategy": {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible"}},
            },
            **spec,
        },
    }


def fleet(name: str = "arena", replicas: int = 9, **spec: Any) -> fleet_pb2.Fleet:
    return documents.from_document(fleet_document(name, replicas, **spec), fleet_pb2.Fleet)


def condition_parts(fleet: fleet_pb2.Fleet, kind: str) -> tuple[str, str, str] | None:
    """(status, reason, message) of the fleet's condition of type ``kind``, if it has one."""
    found = fleet_status.condition_of(fleet, kind)
    return None if found is None else (found.status, found.reason, found.message)
