"""One game server's writes: its pod's labels and annotations, the markPodNotReady condition,
the preDelete hook's release, its GameServer (created when missing; status and conditions),
the ops-state events, and the removal of a GameServer that outlived its pod.

Pure: the server as observed (and what its network plugin reported) in, the writes out, in the
order they are made; nothing is written that the object already says.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from okg import vocabulary

from . import bodies, claims, conditions, creation, model, state, views, wire, writes

if TYPE_CHECKING:
    from collections.abc import Mapping

_ABNORMAL = {
    conditions.POD_NORMAL: "PodAbnormal",
    conditions.NODE_NORMAL: "NodeAbnormal",
    conditions.VOLUME_NORMAL: "PersistentVolumeAbnormal",
}
"""The Warning event's reason when a GameServer condition turns False."""


@dataclasses.dataclass(frozen=True)
class NetworkOutcome:
    """What a server's network plugin reported: its network status, the pod annotations that
    carry it, and whether the pod is stranded (its pinned node is gone)."""

    status: bodies.NetworkStatus
    pod_annotations: Mapping[str, str]
    stranded: bool = False


@dataclasses.dataclass(frozen=True)
class Surroundings:
    """What a server's conditions read besides its pod: nodes (None: not watched, no
    `NodeNormal`), and claims and volumes (None: not watched, no `PersistentVolumeNormal`).
    Claims are those of the set's namespace, by name."""

    nodes: Mapping[str, bodies.Node] | None = None
    claims: Mapping[str, bodies.PersistentVolumeClaim] | None = None
    volumes: Mapping[str, bodies.PersistentVolume] | None = None


@dataclasses.dataclass(frozen=True)
class Server:
    """One game server as observed."""

    ordinal: int
    pod: bodies.Pod
    view: model.PodView
    """As the set's decisions see it (with a PreUpdate hold from the update plan)."""
    game_server: bodies.GameServer | None
    """The GameServer that belongs to the pod (`views.own_game_server`)."""
    has_game_server: bool
    """Some GameServer of the ordinal exists (perhaps an earlier pod's, going away)."""

    def network_disabled(self, ctx: creation.SetContext) -> bool:
        return views.gs_view(self.game_server, ctx.name, ctx.template).network_disabled


def sync(
    ctx: creation.SetContext,
    server: Server,
    network: NetworkOutcome | None = None,
    around: Surroundings | None = None,
) -> writes.Chain:
    """The writes that bring one server's pod and GameServer to what they should say."""
    pod, gs, view = server.pod, server.game_server, server.view
    name = bodies.name(pod)
    gsv = views.gs_view(gs, ctx.name, ctx.template)
    current_state = state.derive_state(view)
    current = bodies.labels_of(pod)
    wanted = state.pod_labels(gsv, current_state, view.holds_players)
    label_diff = state.label_changes(current, wanted)
    notes = bodies.annotations_of(pod)
    note_diff = {k: v for k, v in state.pod_annotations(gsv).items() if notes.get(k) != v}
    if label_diff:
        note_diff.update(state.changed_time_annotations(current, wanted, ctx.now_text))
    terminating = bodies.terminating(pod)
    if network is not None and network.stranded and not view.in_use and not terminating:
        # Its pinned node is gone: a new pod gets a node and ports that exist.
        return delete_pod(ctx, pod, "NetworkNodeGone", recreate=True)
    if network is not None:
        note_diff.update({k: v for k, v in network.pod_annotations.items() if notes.get(k) != v})
    pod_notes: dict[str, str | None] = {**note_diff, **_updating_note(ctx, pod, current_state)}
    chain: list[writes.Write] = []
    if label_diff or pod_notes:
        metadata: bodies.Json = {}
        if label_diff:
            metadata["labels"] = label_diff
        if pod_notes:
            metadata["annotations"] = pod_notes
        chain.append(writes.Patch(writes.Kind.POD, name, {"metadata": metadata}))
    if ctx.hooks.marks:
        ready = state.kruise_pod_ready(view, ctx.hooks.mark_pre_delete, ctx.hooks.mark_pre_update)
        if views.kruise_pod_ready(pod) is not ready:
            chain.append(kruise_pod_ready(ctx, name, ready))
    if _back_in_service(ctx, pod):
        chain.append(in_place_update_ready(ctx, name, True))
    if (
        terminating
        and views.PRE_DELETE_FINALIZER in bodies.finalizers(pod)
        and not views.hook_holds(ctx.hooks.pre_delete, {**current, **wanted})
    ):
        chain.append(release(ctx, name))
    if gs is None:
        if not server.has_game_server and not terminating:
            body = creation.game_server_body(ctx, server.ordinal, pod)
            chain.append(writes.CreateGameServer(body))
        return tuple(chain)
    gs_metadata = game_server_metadata(ctx, gs, pod)
    if gs_metadata is not None:
        chain.append(gs_metadata)
    chain += ops_events(gs, current, wanted, current_state)
    status = status_patch(ctx, server, gsv, current_state, network, around or Surroundings())
    if status is not None:
        chain.append(status)
    return tuple(chain)


def _updating_note(
    ctx: creation.SetContext, pod: bodies.Pod, current_state: vocabulary.GameServerState
) -> dict[str, str | None]:
    """OKG's `gs-updating-containers` pod annotation: written while the server is PreUpdate,
    kept while it is Updating, removed (null) otherwise."""
    present = bodies.annotations_of(pod).get(wire.UPDATING_CONTAINERS)
    if current_state is vocabulary.GameServerState.UPDATING:
        return {}
    if current_state is not vocabulary.GameServerState.PRE_UPDATE:
        return {} if present is None else {wire.UPDATING_CONTAINERS: None}
    template = {
        str(c.get("name")): str(c.get("image"))
        for c in (ctx.template.get("spec") or {}).get("containers") or []
    }
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    value = state.updating_containers(statuses, template)
    return {} if present == value else {wire.UPDATING_CONTAINERS: value}


def game_server_metadata(
    ctx: creation.SetContext, gs: bodies.GameServer, pod: bodies.Pod
) -> writes.Patch | None:
    """The GameServer's labels and annotations OKG syncs: the template's (by hash) and the
    `node-name` of its pod."""
    tmeta = bodies.meta(ctx.template)
    labels, annotations = state.game_server_metadata(
        bodies.labels_of(gs),
        bodies.annotations_of(gs),
        tmeta.get("labels") or {},
        tmeta.get("annotations") or {},
        str((pod.get("spec") or {}).get("nodeName") or ""),
    )
    if not labels and not annotations:
        return None
    metadata: bodies.Json = {}
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    return writes.Patch(writes.Kind.GAME_SERVER, bodies.name(gs), {"metadata": metadata})


def delete_pod(
    ctx: creation.SetContext,
    pod: bodies.Pod,
    reason: str,
    *,
    recreate: bool = False,
    game_server: bodies.GameServer | None = None,
) -> writes.Chain:
    """Delete a server's pod (uid precondition). Unless it is to be `recreate`d: a `Delete`
    reclaim policy first marks its `game_server` to go with it, and `whenScaled: Delete` then
    deletes its claims."""
    name = bodies.name(pod)
    chain: list[writes.Write] = []
    if (
        ctx.desired.reclaim_policy is vocabulary.ReclaimPolicy.DELETE
        and not recreate
        and game_server is not None
        and bodies.labels_of(game_server).get(wire.GS_DELETING) != "true"
    ):
        label = {"metadata": {"labels": {wire.GS_DELETING: "true"}}}
        chain.append(writes.Patch(writes.Kind.GAME_SERVER, name, label))
    chain.append(
        writes.Delete(
            writes.Kind.POD,
            name,
            bodies.uid(pod),
            note=f"deleted pod {ctx.namespace}/{name} ({reason})",
        )
    )
    spec = views.spec(ctx.gss)
    if not recreate and claims.retention(spec).when_scaled == claims.DELETE:
        # Kubernetes keeps a claim in use until its pod is gone.
        for claim in claims.claim_names(spec, name):
            chain.append(writes.Delete(writes.Kind.CLAIM, claim, expect_gone=False))
    return tuple(chain)


def in_place_update(
    ctx: creation.SetContext,
    pod: bodies.Pod,
    images: tuple[model.ContainerImage, ...],
    target: model.TemplateRevision | None,
) -> writes.Chain:
    """Patch new images onto the live pod (and move it to `target` when given); with
    inPlaceUpdate markPodNotReady, mark it not ready first."""
    name = bodies.name(pod)
    chain: list[writes.Write] = []
    not_ready: list[bodies.Condition] = []
    if ctx.hooks.mark_pre_update and views.kruise_pod_ready(pod) is not False:
        not_ready += _conditions(kruise_pod_ready(ctx, name, False))
    gated = target is not None and views.has_gate(pod, views.IN_PLACE_UPDATE_READY)
    if gated and views.in_place_update_started(pod) is None:
        # Kruise: out of service first (the gate False), the images after the grace period.
        not_ready += _conditions(in_place_update_ready(ctx, name, False))
    if not_ready:
        chain.append(_status_conditions(name, not_ready))
    if gated and grace_left(ctx, pod) > 0:
        return tuple(chain)
    wanted = {c.name: c.image for c in images}
    note = views.in_place_note(pod, target.name if target else "", wanted)
    metadata: bodies.Json = {"annotations": {views.IN_PLACE_UPDATE: note}}
    if target is not None:
        metadata["labels"] = {
            wire.REVISION: target.name,
            wire.REVISION_SHAPE: target.shape,
        }
        if ctx.hooks.in_place_update_finalizers:
            # Re-armed with the update (a strategic merge adds to the list), so the next one
            # waits for the owner again.
            metadata["finalizers"] = list(ctx.hooks.in_place_update_finalizers)
    body = {
        "metadata": metadata,
        "spec": {"containers": [{"name": n, "image": i} for n, i in wanted.items()]},
    }
    chain.append(
        writes.Patch(
            writes.Kind.POD,
            name,
            body,
            strategic=True,
            guard=target is not None,
            note=f"in-place update of {ctx.namespace}/{name}",
        )
    )
    return tuple(chain)


def grace_left(ctx: creation.SetContext, pod: bodies.Pod) -> float:
    """Seconds until the pod's images may be patched: `gracePeriodSeconds` from when its
    in-place update took it out of service (from now, when it has not yet)."""
    grace = ctx.desired.update.grace_period_seconds
    if grace <= 0 or not views.has_gate(pod, views.IN_PLACE_UPDATE_READY):
        return 0.0
    started = views.in_place_update_started(pod)
    return grace - (ctx.now - (ctx.now if started is None else started))


def _back_in_service(ctx: creation.SetContext, pod: bodies.Pod) -> bool:
    """The pod's `InPlaceUpdateReady` gate is due True: no update has it (the new containers
    run, or a pending update was called off by its pod now being on the target revision)."""
    if not views.has_gate(pod, views.IN_PLACE_UPDATE_READY) or bodies.terminating(pod):
        return False
    if (pod.get("status") or {}).get("phase") != model.PodPhase.RUNNING.value:
        return False  # a starting pod's kubelet has not reported it yet
    if views.in_place_update_ready(pod) is True or views.in_place_patching(pod):
        return False
    pending = views.in_place_update_started(pod) is not None
    on_target = bodies.labels_of(pod).get(wire.REVISION) == ctx.desired.revision.name
    return not pending or on_target


def in_place_update_ready(ctx: creation.SetContext, name: str, ready: bool) -> writes.Patch:
    """The pod's `InPlaceUpdateReady` condition. False (as Kruise) also writes `Ready` False,
    so Services drop the pod at once; the kubelet turns Ready back once the gate is True.
    True drops the False one's reason (null: a strategic merge keeps what it does not name)."""
    gate: bodies.Json = {
        "type": views.IN_PLACE_UPDATE_READY,
        "status": "True" if ready else "False",
        "lastTransitionTime": ctx.now_text,
        "reason": None if ready else views.START_IN_PLACE_UPDATE,
    }
    found = [bodies.as_condition(gate)]
    if not ready:
        found.append({"type": "Ready", "status": "False", "lastTransitionTime": ctx.now_text})
    return _status_conditions(name, found)


def _status_conditions(name: str, conditions_: list[bodies.Condition]) -> writes.Patch:
    """Set these pod conditions (a strategic merge by type)."""
    return writes.Patch(
        writes.Kind.POD,
        name,
        {"status": {"conditions": conditions_}},
        strategic=True,
        status=True,
    )


def _conditions(patch: writes.Patch) -> list[bodies.Condition]:
    return [bodies.as_condition(c) for c in patch.body["status"]["conditions"]]


def kruise_pod_ready(ctx: creation.SetContext, name: str, ready: bool) -> writes.Patch:
    """The pod's `KruisePodReady` condition (its readiness gate)."""
    condition: bodies.Condition = {
        "type": views.KRUISE_POD_READY,
        "status": "True" if ready else "False",
        "lastTransitionTime": ctx.now_text,
        "reason": "" if ready else "LifecycleHook",
        "message": "" if ready else "markPodNotReady: the lifecycle hook's phase holds it",
    }
    return writes.Patch(
        writes.Kind.POD,
        name,
        {"status": {"conditions": [condition]}},
        strategic=True,
        status=True,
    )


def release(ctx: creation.SetContext, name: str) -> writes.Patch:
    """Let a pod the preDelete hook held go: its labels no longer hold it."""
    return writes.Patch(
        writes.Kind.POD,
        name,
        {"metadata": {"$deleteFromPrimitiveList/finalizers": [views.PRE_DELETE_FINALIZER]}},
        strategic=True,
        note=f"preDelete hook released {ctx.namespace}/{name}",
    )


def ops_events(
    gs: bodies.GameServer,
    current: Mapping[str, str],
    wanted: Mapping[str, str],
    current_state: vocabulary.GameServerState,
) -> list[writes.Write]:
    """OKG's events: the ops state changed (from the pod's label), the server crashed."""
    found: list[writes.Write] = []
    name = bodies.name(gs)
    old_ops, new_ops = current.get(wire.GS_OPS_STATE), wanted[wire.GS_OPS_STATE]
    if old_ops is not None and old_ops != new_ops:
        kind = "Warning" if new_ops == vocabulary.OpsState.MAINTAINING.value else "Normal"
        message = f"OpsState turn from {old_ops} to {new_ops}"
        found.append(writes.Event(kind, "GsOpsStateChanged", message, on=gs, about=name))
    old_state = current.get(wire.GS_STATE)
    if current_state is vocabulary.GameServerState.CRASH and old_state != current_state.value:
        message = f"State turn from {old_state} to Crash"
        found.append(writes.Event("Warning", "GsStateChanged", message, on=gs, about=name))
    return found


def status_patch(
    ctx: creation.SetContext,
    server: Server,
    gsv: model.GameServerView,
    current_state: vocabulary.GameServerState,
    network: NetworkOutcome | None,
    around: Surroundings,
) -> writes.Patch | None:
    """The GameServer's status, when it says something else: state, priorities, the pod's
    status (a full copy, as OKG writes it), the network status (empty without a network
    plugin, as in OKG), the conditions (a Warning event per new False)."""
    gs, pod, view = server.game_server, server.pod, server.view
    current = (gs or {}).get("status") or {}
    wanted: bodies.Json = {
        "desiredState": vocabulary.GameServerState.READY.value,
        "currentState": current_state.value,
        # OKG writes the status priorities as IntOrString strings (the pod labels' values).
        "updatePriority": str(view.update_priority),
        "deletionPriority": str(view.deletion_priority),
        "podStatus": bodies.without_nulls(pod.get("status") or {}),
        "networkStatus": {} if network is None else network.status,
    }
    found = [conditions.pod_condition(pod)]
    node_name = str((pod.get("spec") or {}).get("nodeName") or "")
    node = around.nodes.get(node_name) if around.nodes is not None and node_name else None
    if node is not None:
        found.append(conditions.node_condition(node))
    if around.claims is not None and around.volumes is not None:
        mounted = {n: around.claims.get(n) for n in conditions.mounted_claims(pod)}
        bound = [str((c.get("spec") or {}).get("volumeName") or "") for c in mounted.values() if c]
        volumes = {v: around.volumes.get(v) for v in bound if v}
        found.append(conditions.volume_condition(pod, mounted, volumes))
    old_conditions = list(current.get("conditions") or [])
    wanted["conditions"] = bodies.with_times(found, old_conditions, ctx.now_text)
    changed = {
        k: _replacing(current.get(k), v) for k, v in wanted.items() if (current.get(k) or {}) != v
    }
    if not changed:
        return None
    if current.get("currentState") != current_state.value or not current.get("lastTransitionTime"):
        changed["lastTransitionTime"] = ctx.now_text
    events = tuple(
        writes.Event(
            "Warning",
            _ABNORMAL[str(c.get("type"))],
            f"{c.get('reason', '')}: {c.get('message', '')}"[:1024],
            about=bodies.name(gs),
        )
        for c in conditions.newly_false(found, old_conditions)
    )
    return writes.Patch(
        writes.Kind.GAME_SERVER, bodies.name(gs), {"status": changed}, status=True, events=events
    )


def _replacing(old: object, new: object) -> object:
    """`new` as a merge patch that replaces `old`: an object's keys that `new` no longer has
    are removed (null), so a copied status keeps nothing its source dropped."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    return {**{k: None for k in old if k not in new}, **new}


def cleanup(
    ctx: creation.SetContext,
    gs: bodies.GameServer,
    pod: bodies.Pod | None,
    target: frozenset[int],
    created: frozenset[int],
    ordinal: int,
) -> writes.Delete | None:
    """Delete a GameServer whose pod is gone for good (Delete) or replaced (Cascade)."""
    if ctx.desired.reclaim_policy is vocabulary.ReclaimPolicy.DELETE:
        stale = pod is None and (
            bodies.labels_of(gs).get(wire.GS_DELETING) == "true" or ordinal not in target
        )
    else:
        pod_uid = bodies.uid(pod) if pod else None
        stale = bodies.owner_uid(gs, "Pod") != pod_uid and ordinal not in created
    if not stale or bodies.terminating(gs):
        return None
    return writes.Delete(writes.Kind.GAME_SERVER, bodies.name(gs), bodies.uid(gs))
