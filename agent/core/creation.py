"""The bodies of a new game server: its pod, its GameServer, its volume claims.

Pods are `<set>-<ordinal>` with the template's spec and metadata, the wire labels, the revision
labels and a controller reference to the set; GameServers are owned by their pod (Cascade) or by
the set (Delete).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, cast

from okg import vocabulary

from . import bodies, claims, model, state, views, wire, writes

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class SetContext:
    """What every server of one set shares: who the set is, what it wants, when it is."""

    gss: bodies.GameServerSet
    desired: model.GameServerSetView
    hooks: views.Hooks
    template: bodies.PodTemplate
    now: float

    @property
    def name(self) -> str:
        return bodies.name(self.gss)

    @property
    def namespace(self) -> str:
        return bodies.namespace(self.gss)

    @property
    def now_text(self) -> str:
        return bodies.rfc3339(self.now)

    def owner_reference(self) -> bodies.OwnerReference:
        """The set as the controller of what it creates."""
        return bodies.owner_reference(self.gss, "GameServerSet", vocabulary.API_VERSION)


def context(gss: bodies.GameServerSet, desired: model.GameServerSetView, now: float) -> SetContext:
    return SetContext(gss, desired, views.hooks(gss), views.pod_template(gss), now)


def pod_body(ctx: SetContext, ordinal: int, gs: bodies.GameServer | None) -> bodies.Pod:
    """The pod of the server at `ordinal`; `gs` is the GameServer it keeps (reclaimPolicy
    Delete), whose ops state, priorities, synced metadata and images it takes."""
    name = state.game_server_name(ctx.name, ordinal)
    tmeta = bodies.meta(ctx.template)
    gsv = views.gs_view(gs, ctx.name, ctx.template)
    labels = dict(tmeta.get("labels") or {})
    labels.update(state.pod_labels(gsv, vocabulary.GameServerState.CREATING))
    labels.update(
        {
            views.POD_NAME_LABEL: name,
            views.POD_INDEX_LABEL: str(ordinal),
            wire.REVISION: ctx.desired.revision.name,
            wire.REVISION_SHAPE: ctx.desired.revision.shape,
        }
    )
    annotations = dict(tmeta.get("annotations") or {})
    annotations.update(state.pod_annotations(gsv))
    annotations[wire.STATE_LAST_CHANGED] = ctx.now_text
    annotations[wire.OPS_STATE_LAST_CHANGED] = ctx.now_text
    pod_spec: bodies.Json = copy.deepcopy(dict(ctx.template.get("spec") or {}))
    pod_spec["hostname"] = name
    pod_spec["subdomain"] = views.service_name(ctx.gss)
    gates: list[str] = []
    if ctx.hooks.marks:
        gates.append(views.KRUISE_POD_READY)
    if ctx.desired.update.in_place:
        # Kruise's gate: an in-place update takes the pod out of service first.
        gates.append(views.IN_PLACE_UPDATE_READY)
    for gate in gates:
        listed = pod_spec.setdefault("readinessGates", [])
        if {"conditionType": gate} not in listed:
            listed.append({"conditionType": gate})
    claims.mount_claims(pod_spec, views.spec(ctx.gss), name)
    overrides = {c.name: c.image for c in views.image_overrides(gs)}
    for container in pod_spec.get("containers") or []:
        if container.get("name") in overrides:
            container["image"] = overrides[container["name"]]
    metadata: bodies.ObjectMeta = {
        "name": name,
        "namespace": ctx.namespace,
        "labels": labels,
        "annotations": annotations,
        "ownerReferences": [ctx.owner_reference()],
    }
    finalizers = ctx.hooks.creation_finalizers()
    if finalizers:
        metadata["finalizers"] = finalizers
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": cast("bodies.PodSpec", pod_spec),
    }


def game_server_body(
    ctx: SetContext, ordinal: int, pod: bodies.Raw | None = None
) -> bodies.GameServer:
    """A fresh GameServer: owned by the set under reclaimPolicy Delete, else by `pod` (without
    `pod`, the owner reference is left for the executor to add once the pod exists)."""
    tmeta = bodies.meta(ctx.template)
    fresh = state.new_game_server(
        ctx.name, ordinal, tmeta.get("labels") or {}, tmeta.get("annotations") or {}
    )
    labels, annotations = dict(fresh.labels), dict(fresh.annotations)
    node_name = str(((pod or {}).get("spec") or {}).get("nodeName") or "")
    extra_labels, extra_annotations = state.game_server_metadata(
        labels, annotations, tmeta.get("labels") or {}, tmeta.get("annotations") or {}, node_name
    )
    metadata: bodies.ObjectMeta = {
        "name": fresh.name,
        "namespace": ctx.namespace,
        "labels": {**labels, **extra_labels},
        "annotations": {**annotations, **extra_annotations},
    }
    if ctx.desired.reclaim_policy is vocabulary.ReclaimPolicy.DELETE:
        metadata["ownerReferences"] = [ctx.owner_reference()]
    elif pod is not None:
        metadata["ownerReferences"] = [bodies.owner_reference(pod, "Pod", "v1")]
    return {
        "apiVersion": vocabulary.API_VERSION,
        "kind": "GameServer",
        "metadata": metadata,
        "spec": {
            "opsState": fresh.ops_state,
            "updatePriority": 0,
            "deletionPriority": 0,
            "networkDisabled": False,
        },
    }


def claim_bodies(ctx: SetContext, server: str) -> tuple[bodies.PersistentVolumeClaim, ...]:
    """The server's volume claims: owned by the set under `whenDeleted: Delete`."""
    spec = views.spec(ctx.gss)
    owner = ctx.owner_reference() if claims.retention(spec).when_deleted == claims.DELETE else None
    return tuple(
        claims.claim_body(template, server, ctx.namespace, {wire.OWNER_GSS: ctx.name}, owner)
        for template in claims.templates(spec)
    )


def create_server(
    ctx: SetContext, ordinal: int, existing: Mapping[int, bodies.GameServer]
) -> writes.CreateServer:
    """Create the server at `ordinal`. A GameServer left by an earlier pod of the ordinal goes
    first, unless reclaimPolicy Delete keeps it (and it is not marked to go)."""
    gs = existing.get(ordinal)
    replaces = None
    if gs is not None and (
        ctx.desired.reclaim_policy is vocabulary.ReclaimPolicy.CASCADE
        or bodies.labels_of(gs).get(wire.GS_DELETING) == "true"
    ):
        replaces = (bodies.name(gs), bodies.uid(gs))
        gs = None
    name = state.game_server_name(ctx.name, ordinal)
    return writes.CreateServer(
        ordinal=ordinal,
        pod=pod_body(ctx, ordinal, gs),
        claims=claim_bodies(ctx, name),
        game_server=game_server_body(ctx, ordinal) if gs is None else None,
        owned_by_pod=ctx.desired.reclaim_policy is not vocabulary.ReclaimPolicy.DELETE,
        replaces=replaces,
    )
