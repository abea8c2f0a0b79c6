"""A Webhook policy's exchange, as Agones' FleetAutoscaleReview JSON, so a webhook written for
Agones answers the hub unchanged.

The hub sends `{"request": {"uid", "name", "namespace", "labels", "annotations", "status":
{"replicas", "readyReplicas", "reservedReplicas", "allocatedReplicas"}, "clusters": [...]}}`
(`clusters` is gamefleet's: each cluster's name, labels, phase and the same counts) and reads
`{"response": {"uid", "scale", "replicas"}}`: with `scale` true, `replicas` is the fleet's new
total; with `scale` false the replicas stay.
"""

from __future__ import annotations

import json
from typing import Any

from .demand import FleetSnapshot

MAX_ANSWER_BYTES = 1 << 20


class ReviewError(ValueError):
    """The webhook's answer cannot be used."""


def request(uid: str, snapshot: FleetSnapshot) -> dict[str, Any]:
    fleet = snapshot.fleet
    clusters = [
        {
            "name": c.name,
            "labels": dict(c.labels),
            "phase": c.phase.value,
            "replicas": c.assigned,
            "readyReplicas": c.idle,
            "allocatedReplicas": c.allocated,
        }
        for c in snapshot.clusters
        if c.eligible
    ]
    return {
        "request": {
            "uid": uid,
            "name": fleet.metadata.name,
            "namespace": fleet.metadata.namespace,
            "labels": dict(fleet.metadata.labels),
            "annotations": dict(fleet.metadata.annotations),
            "status": {
                "replicas": snapshot.replicas,
                "readyReplicas": snapshot.idle(),
                "reservedReplicas": 0,
                "allocatedReplicas": snapshot.allocated(),
            },
            "clusters": clusters,
        },
        "response": None,
    }


def answer(uid: str, body: bytes, maximum: int) -> int | None:
    """The total the webhook asks for, or None when it says not to scale; ReviewError when the
    answer is not a review of this request or the replicas are out of range."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReviewError(f"the answer is not JSON: {exc}") from None
    response = document.get("response") if isinstance(document, dict) else None
    if not isinstance(response, dict):
        raise ReviewError('the answer has no "response" object')
    if response.get("uid", uid) != uid:
        raise ReviewError(f"the answer's response.uid is not the request's ({uid})")
    scale = response.get("scale", False)
    if not isinstance(scale, bool):
        raise ReviewError("response.scale must be a boolean")
    if not scale:
        return None
    replicas = response.get("replicas")
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise ReviewError("response.replicas must be an integer")
    if not 0 <= replicas <= maximum:
        raise ReviewError(f"response.replicas {replicas} must be between 0 and {maximum}")
    return replicas
