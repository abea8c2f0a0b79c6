"""Persistent volume claims per game server (`gameServerTemplate.volumeClaimTemplates`), as a
StatefulSet makes them: claim `<template>-<server>` for each template, created before the pod
and reused by every later pod of the ordinal; `persistentVolumeClaimRetentionPolicy` decides
whether claims go when the set is deleted (`whenDeleted`) or their ordinal is scaled away
(`whenScaled`). Pure: names, bodies, the pod's volumes, the policy."""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, Any

from . import bodies

if TYPE_CHECKING:
    from collections.abc import Mapping, MutableMapping


RETAIN = "Retain"
DELETE = "Delete"


@dataclasses.dataclass(frozen=True)
class RetentionPolicy:
    when_deleted: str = RETAIN
    when_scaled: str = RETAIN


def _spec(gss_spec: bodies.Raw) -> bodies.GameServerSetSpec:
    return bodies.as_game_server_set({"spec": gss_spec}).get("spec") or {}


def templates(gss_spec: bodies.Raw) -> list[bodies.PersistentVolumeClaim]:
    """The set's claim templates that have a name."""
    found = (_spec(gss_spec).get("gameServerTemplate") or {}).get("volumeClaimTemplates") or []
    return [t for t in found if isinstance(t, dict) and bodies.name(t)]


def retention(gss_spec: bodies.Raw) -> RetentionPolicy:
    policy = _spec(gss_spec).get("persistentVolumeClaimRetentionPolicy") or {}
    return RetentionPolicy(
        when_deleted=str(policy.get("whenDeleted") or RETAIN),
        when_scaled=str(policy.get("whenScaled") or RETAIN),
    )


def claim_name(template: bodies.Raw, server: str) -> str:
    return f"{bodies.name(template)}-{server}"


def claim_names(gss_spec: bodies.Raw, server: str) -> list[str]:
    return [claim_name(t, server) for t in templates(gss_spec)]


def claim_body(
    template: bodies.Raw,
    server: str,
    namespace: str,
    labels: Mapping[str, str],
    owner: bodies.Raw | None,
) -> bodies.PersistentVolumeClaim:
    """The claim of one server from one template; `owner` is the set when `whenDeleted` is
    Delete (the claims go with the set), else None (they outlive it)."""
    body: bodies.Json = copy.deepcopy(dict(template))
    meta: bodies.Json = body.setdefault("metadata", {})
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
    return bodies.as_claim(body)


def mount_claims(pod_spec: MutableMapping[str, Any], gss_spec: bodies.Raw, server: str) -> None:
    """Add a volume per claim template to the pod spec, named like the template, unless the
    pod template already defines a volume of that name (as a StatefulSet does)."""
    volumes: list[bodies.Json] = pod_spec.setdefault("volumes", [])
    have = {v.get("name") for v in volumes}
    for template in templates(gss_spec):
        name = bodies.name(template)
        if name in have:
            continue
        volumes.append(
            {"name": name, "persistentVolumeClaim": {"claimName": claim_name(template, server)}}
        )
    if not volumes:
        del pod_spec["volumes"]
