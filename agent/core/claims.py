"""Persistent volume claims per game server (`gameServerTemplate.volumeClaimTemplates`), as a
StatefulSet makes them: claim `<template>-<server>` for each template, created before the pod
and reused by every later pod of the ordinal; `persistentVolumeClaimRetentionPolicy` decides
whether claims go when the set is deleted (`whenDeleted`) or their ordinal is scaled away
(`whenScaled`). Pure: names, bodies, the pod's volumes, the policy."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

Obj = dict[str, Any]

RETAIN = "Retain"
DELETE = "Delete"


@dataclasses.dataclass(frozen=True)
class RetentionPolicy:
    when_deleted: str = RETAIN
    when_scaled: str = RETAIN


def templates(gss_spec: Obj) -> list[Obj]:
    """The set's claim templates that have a name."""
    found = (gss_spec.get("gameServerTemplate") or {}).get("volumeClaimTemplates") or []
    return [t for t in found if isinstance(t, dict) and (t.get("metadata") or {}).get("name")]


def retention(gss_spec: Obj) -> RetentionPolicy:
    policy = gss_spec.get("persistentVolumeClaimRetentionPolicy") or {}
    return RetentionPolicy(
        when_deleted=str(policy.get("whenDeleted") or RETAIN),
        when_scaled=str(policy.get("whenScaled") or RETAIN),
    )


def claim_name(template: Obj, server: str) -> str:
    return f"{template['metadata']['name']}-{server}"


def claim_names(gss_spec: Obj, server: str) -> list[str]:
    return [claim_name(t, server) for t in templates(gss_spec)]


def claim_body(
    template: Obj, server: str, namespace: str, labels: dict[str, str], owner: Obj | None
) -> Obj:
    """The claim of one server from one template; `owner` is the set when `whenDeleted` is
    Delete (the claims go with the set), else None (they outlive it)."""
    body = copy.deepcopy(template)
    meta = body.setdefault("metadata", {})
    meta["name"] = claim_name(template, server)
    meta["namespace"] = namespace
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    for key in ("uid", "resourceVersion", "creationTimestamp", "ownerReferences"):
        meta.pop(key, None)
    if owner is not None:
        meta["ownerReferences"] = [owner]
    body["apiVersion"] = "v1"
    body["kind"] = "PersistentVolumeClaim"
    body.pop("status", None)
    return body


def mount_claims(pod_spec: Obj, gss_spec: Obj, server: str) -> None:
    """Add a volume per claim template to the pod spec, named like the template, unless the
    pod template already defines a volume of that name (as a StatefulSet does)."""
    volumes: list[Obj] = pod_spec.setdefault("volumes", [])
    have = {v.get("name") for v in volumes}
    for template in templates(gss_spec):
        name = template["metadata"]["name"]
        if name in have:
            continue
        volumes.append(
            {"name": name, "persistentVolumeClaim": {"claimName": claim_name(template, server)}}
        )
    if not volumes:
        del pod_spec["volumes"]
