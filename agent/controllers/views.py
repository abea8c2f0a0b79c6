"""Translate observed Kubernetes objects (plain dicts) into the core's frozen views.

Pure functions, no I/O: what a pod, a GameServer and a GameServerSet say, in the terms the
decisions in `agent.core` read.
"""

from __future__ import annotations

import calendar
import json
import time
from typing import Any

from agent.core import intstr, model, reserve_ids, revision, scaling, state, wire

Obj = dict[str, Any]

PRE_DELETE_FINALIZER = "gamefleet.io/pre-delete-hook"
"""Pod finalizer holding a deleted pod while its preDelete labelsHandler holds."""
KRUISE_POD_READY = "KruisePodReady"
"""The readiness gate (and pod condition) Kruise uses for `markPodNotReady`."""
IN_PLACE_UPDATE = "gamefleet.io/in-place-update"
"""Pod annotation: the target revision of an in-place update and the images it replaces."""
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def meta(obj: Obj | None) -> Obj:
    if not obj:
        return {}
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def labels_of(obj: Obj | None) -> dict[str, str]:
    return dict(meta(obj).get("labels") or {})


def annotations_of(obj: Obj | None) -> dict[str, str]:
    return dict(meta(obj).get("annotations") or {})


def parse_time(text: object) -> float | None:
    """RFC 3339 (as the API server writes it) to epoch seconds."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# GameServerSet.


def spec(gss: Obj) -> Obj:
    value = gss.get("spec")
    return value if isinstance(value, dict) else {}


def pod_template(gss: Obj) -> Obj:
    """The PodTemplateSpec part of gameServerTemplate (without volumeClaimTemplates and
    reclaimPolicy), which is what the revision hashes."""
    template = spec(gss).get("gameServerTemplate") or {}
    return {"metadata": template.get("metadata") or {}, "spec": template.get("spec") or {}}


def service_name(gss: Obj) -> str:
    return str(spec(gss).get("serviceName") or meta(gss).get("name", ""))


def pre_delete_handler(gss: Obj) -> dict[str, str]:
    """`lifecycle.preDelete.labelsHandler`: the labels that hold a pod before deletion."""
    lifecycle = spec(gss).get("lifecycle") or {}
    handler = (lifecycle.get("preDelete") or {}).get("labelsHandler") or {}
    return {str(k): str(v) for k, v in handler.items()}


def in_place_update_handler(gss: Obj) -> dict[str, str]:
    """`lifecycle.inPlaceUpdate.labelsHandler`: the labels that hold a pod before an in-place
    update."""
    lifecycle = spec(gss).get("lifecycle") or {}
    handler = (lifecycle.get("inPlaceUpdate") or {}).get("labelsHandler") or {}
    return {str(k): str(v) for k, v in handler.items()}


def pre_delete_finalizers(gss: Obj) -> tuple[str, ...]:
    """`lifecycle.preDelete.finalizersHandler`: finalizers put on each pod at creation; whoever
    owns them (the game, another controller) removes them to let the deleted pod go."""
    return _hook_finalizers(gss, "preDelete")


def in_place_update_finalizers(gss: Obj) -> tuple[str, ...]:
    """`lifecycle.inPlaceUpdate.finalizersHandler`: finalizers put on each pod at creation and
    again with each in-place update; while the pod carries any, its next in-place update waits
    (PreUpdate) until their owner removes them."""
    return _hook_finalizers(gss, "inPlaceUpdate")


def marks_pod_not_ready(gss: Obj) -> tuple[bool, bool]:
    """`markPodNotReady` of the preDelete and the inPlaceUpdate lifecycle hooks."""
    lifecycle = spec(gss).get("lifecycle") or {}
    return (
        bool((lifecycle.get("preDelete") or {}).get("markPodNotReady")),
        bool((lifecycle.get("inPlaceUpdate") or {}).get("markPodNotReady")),
    )


def kruise_pod_ready(pod: Obj) -> bool | None:
    """The pod's `KruisePodReady` condition; None when the pod has none."""
    condition = _pod_condition(pod, KRUISE_POD_READY)
    return None if condition is None else condition.get("status") == "True"


def _hook_finalizers(gss: Obj, hook: str) -> tuple[str, ...]:
    lifecycle = spec(gss).get("lifecycle") or {}
    finalizers = (lifecycle.get(hook) or {}).get("finalizersHandler") or []
    return tuple(str(f) for f in finalizers if f)


def hook_holds(handler: dict[str, str], pod_labels: dict[str, str]) -> bool:
    """The pod still carries every handler label with the handler's value."""
    return bool(handler) and all(pod_labels.get(k) == v for k, v in handler.items())


def gss_view(gss: Obj) -> model.GameServerSetView:
    """The set's desired state. Raises ReserveIdsError or ValueError on an invalid spec."""
    s = spec(gss)
    rolling = (s.get("updateStrategy") or {}).get("rollingUpdate") or {}
    update_type = (s.get("updateStrategy") or {}).get("type") or "RollingUpdate"
    max_unavailable = rolling.get("maxUnavailable", 1)
    if max_unavailable is None:
        max_unavailable = 1
    update = model.UpdateStrategy(
        type=model.UpdateStrategyType(update_type),
        partition=int(rolling.get("partition") or 0),
        max_unavailable=max_unavailable,
        pod_update_policy=model.PodUpdatePolicy(rolling.get("podUpdatePolicy") or "ReCreate"),
        paused=bool(rolling.get("paused", False)),
        min_ready_seconds=int(rolling.get("minReadySeconds") or 0),
        idle_only=bool(rolling.get("idleOnly", False)),
    )
    # Resolve once so a bad value fails here, not half-way through a plan.
    intstr.scaled_value(max_unavailable, 100, round_up=False)
    scale = s.get("scaleStrategy") or {}
    scale_max_unavailable = scale.get("maxUnavailable")
    if scale_max_unavailable is not None:
        intstr.scaled_value(scale_max_unavailable, 100, round_up=False)
    template = s.get("gameServerTemplate") or {}
    return model.GameServerSetView(
        name=str(meta(gss).get("name", "")),
        replicas=int(s.get("replicas") or 0),
        generation=int(meta(gss).get("generation") or 0),
        reserve_ids=reserve_ids.parse_reserve_ids(s.get("reserveGameServerIds") or []),
        scale_down=model.ScaleDownStrategy(scale.get("scaleDownStrategyType") or "General"),
        scale_max_unavailable=scale_max_unavailable,
        reclaim_policy=model.ReclaimPolicy(template.get("reclaimPolicy") or "Cascade"),
        update=update,
        revision=revision.template_revision(pod_template(gss)),
    )


def reserve_memory(gss: Obj) -> scaling.ReserveMemory:
    notes = annotations_of(gss)
    explicit = notes.get(wire.RESERVE_IDS)
    implicit = notes.get(wire.IMPLICIT_RESERVE_IDS)
    try:
        return scaling.ReserveMemory(
            explicit=reserve_ids.from_annotation(explicit) if explicit else frozenset(),
            implicit=reserve_ids.from_annotation(implicit) if implicit else frozenset(),
        )
    except reserve_ids.ReserveIdsError:
        return scaling.ReserveMemory()


def memory_annotations(memory: scaling.ReserveMemory) -> dict[str, str]:
    return {
        wire.RESERVE_IDS: reserve_ids.to_annotation(memory.explicit),
        wire.IMPLICIT_RESERVE_IDS: reserve_ids.to_annotation(memory.implicit),
    }


# GameServer.


def gs_view(gs: Obj | None, set_name: str, template: Obj) -> model.GameServerView:
    """The GameServer as the pod-label rules read it; a fresh one when it does not exist."""
    if gs is None:
        tmeta = template.get("metadata") or {}
        return state.new_game_server(
            set_name, 0, tmeta.get("labels") or {}, tmeta.get("annotations") or {}
        )
    s = gs.get("spec") or {}
    return model.GameServerView(
        name=str(meta(gs).get("name", "")),
        owner=set_name,
        ops_state=str(s.get("opsState") or model.OpsState.NONE.value),
        update_priority=s.get("updatePriority") or 0,
        deletion_priority=s.get("deletionPriority") or 0,
        network_disabled=bool(s.get("networkDisabled", False)),
        labels=labels_of(gs),
        annotations=annotations_of(gs),
    )


def image_overrides(gs: Obj | None) -> tuple[model.ContainerImage, ...]:
    if gs is None:
        return ()
    containers = (gs.get("spec") or {}).get("containers") or []
    return tuple(
        model.ContainerImage(name=str(c.get("name", "")), image=str(c.get("image", "")))
        for c in containers
        if isinstance(c, dict) and c.get("image")
    )


def owner_uid(obj: Obj, kind: str) -> str | None:
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("kind") == kind:
            return str(ref.get("uid", ""))
    return None


# Pod.


def pod_images(pod: Obj) -> tuple[model.ContainerImage, ...]:
    containers = (pod.get("spec") or {}).get("containers") or []
    return tuple(
        model.ContainerImage(name=str(c.get("name", "")), image=str(c.get("image", "")))
        for c in containers
    )


def _pod_condition(pod: Obj, kind: str) -> Obj | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def _ready_condition(pod: Obj) -> Obj | None:
    return _pod_condition(pod, "Ready")


def _status_image(status: Obj) -> str:
    return f"{status.get('image', '')}|{status.get('imageID', '')}"


def in_place_updating(pod: Obj) -> bool:
    """New images are patched in and some patched container has not restarted on them yet.

    The kubelet reports the image a container runs in its status: a container is done when
    its status shows the spec's image, or shows another image than before the patch (registries
    may normalise the name) and it is ready again.
    """
    note = annotations_of(pod).get(IN_PLACE_UPDATE)
    if not note:
        return False
    try:
        old = json.loads(note).get("old") or {}
    except (ValueError, AttributeError):
        return False
    wanted = {c.name: c.image for c in pod_images(pod)}
    statuses = {
        str(s.get("name")): s for s in (pod.get("status") or {}).get("containerStatuses") or []
    }
    for name, before in old.items():
        status = statuses.get(name)
        if status is None:
            return True
        if status.get("image") == wanted.get(name):
            continue
        if _status_image(status) == before or not status.get("ready"):
            return True
    return False


def in_place_note(pod: Obj, target_revision: str, images: dict[str, str]) -> str:
    """The annotation an in-place patch writes: the images (with ids) being replaced."""
    statuses = {
        str(s.get("name")): s for s in (pod.get("status") or {}).get("containerStatuses") or []
    }
    old = {
        name: _status_image(statuses.get(name) or {})
        for name, image in images.items()
        if (statuses.get(name) or {}).get("image") != image
    }
    return json.dumps({"revision": target_revision, "old": old}, sort_keys=True)


def pod_view(
    pod: Obj,
    ordinal: int,
    gs: Obj | None,
    handler: dict[str, str],
    hook_finalizers: tuple[str, ...] = (),
    update_handler: dict[str, str] | None = None,
    update_finalizers: tuple[str, ...] = (),
) -> model.PodView:
    """A pod (and its GameServer, when known) as the decisions see it."""
    m = meta(pod)
    pod_labels = labels_of(pod)
    status = pod.get("status") or {}
    terminating = bool(m.get("deletionTimestamp"))
    finalizers = m.get("finalizers") or []
    held = terminating and (
        (PRE_DELETE_FINALIZER in finalizers and hook_holds(handler, pod_labels))
        or any(f in finalizers for f in hook_finalizers)
    )
    ready_cond = _ready_condition(pod)
    ready: bool | None = None
    ready_since: float | None = None
    if ready_cond is not None:
        ready = ready_cond.get("status") == "True"
        if ready:
            ready_since = parse_time(ready_cond.get("lastTransitionTime"))
    try:
        phase = model.PodPhase(status.get("phase") or "Pending")
    except ValueError:
        phase = model.PodPhase.UNKNOWN
    if gs is not None:
        gs_spec = gs.get("spec") or {}
        ops = model.OpsState.from_wire(gs_spec.get("opsState"))
        update_priority = intstr.priority_value(gs_spec.get("updatePriority"))
        deletion_priority = intstr.priority_value(gs_spec.get("deletionPriority"))
    else:
        ops, update_priority, deletion_priority = state.pod_view_ops(pod_labels)
    return model.PodView(
        ordinal=ordinal,
        name=str(m.get("name", "")),
        uid=str(m.get("uid", "")),
        phase=phase,
        ready=ready,
        ready_since=ready_since,
        deleting=terminating and not held,
        held_pre_delete=held,
        update_hook_holds=hook_holds(update_handler or {}, pod_labels)
        or any(f in finalizers for f in update_finalizers),
        in_place_updating=in_place_updating(pod),
        revision=pod_labels.get(wire.REVISION, ""),
        shape=pod_labels.get(wire.REVISION_SHAPE, ""),
        images=pod_images(pod),
        image_overrides=image_overrides(gs),
        ops_state=ops,
        update_priority=update_priority,
        deletion_priority=deletion_priority,
    )
