"""Translate observed Kubernetes bodies into the core's frozen views.

Pure functions, no I/O: what a pod, a GameServer and a GameServerSet say, in the terms the
decisions in `agent.core` read. Each function takes a typed body or a plain parsed dict.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Literal

from okg import reserve_ids, vocabulary

from . import bodies, intstr, model, revision, scaling, state, wire

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

PRE_DELETE_FINALIZER = "gamefleet.io/pre-delete-hook"
"""Pod finalizer holding a deleted pod while its preDelete labelsHandler holds."""
KRUISE_POD_READY = "KruisePodReady"
"""The readiness gate (and pod condition) Kruise uses for `markPodNotReady`."""
IN_PLACE_UPDATE_READY = "InPlaceUpdateReady"
"""Kruise's readiness gate (and pod condition) of in-place updates: False from just before the
images are patched (and through `gracePeriodSeconds`) until the new containers run."""
START_IN_PLACE_UPDATE = "StartInPlaceUpdate"
"""The reason of a False `InPlaceUpdateReady`: the update has begun."""
IN_PLACE_UPDATE = "gamefleet.io/in-place-update"
"""Pod annotation: the target revision of an in-place update and the images it replaces."""
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"

meta = bodies.meta
labels_of = bodies.labels_of
annotations_of = bodies.annotations_of
owner_uid = bodies.owner_uid
parse_time = bodies.parse_time
rfc3339 = bodies.rfc3339


def owner_index(obj: bodies.Raw) -> str | None:
    """Cache index: `<namespace>/<set>` from the owner-gss label."""
    owner = bodies.labels_of(obj).get(wire.OWNER_GSS)
    if not owner:
        return None
    return f"{bodies.namespace(obj)}/{owner}"


# GameServerSet.


def spec(gss: bodies.Raw) -> bodies.GameServerSetSpec:
    return bodies.as_game_server_set(gss).get("spec") or {}


def pod_template(gss: bodies.Raw) -> bodies.PodTemplate:
    """The PodTemplateSpec part of gameServerTemplate (without volumeClaimTemplates and
    reclaimPolicy), which is what the revision hashes."""
    template = spec(gss).get("gameServerTemplate") or {}
    return {"metadata": bodies.meta(template), "spec": template.get("spec") or {}}


def service_name(gss: bodies.Raw) -> str:
    return str(spec(gss).get("serviceName") or bodies.name(gss))


_Hook = Literal["preDelete", "inPlaceUpdate"]


def _hook(gss: bodies.Raw, hook: _Hook) -> bodies.LifecycleHook:
    lifecycle = spec(gss).get("lifecycle") or {}
    return lifecycle.get(hook) or {}


def pre_delete_handler(gss: bodies.Raw) -> dict[str, str]:
    """`lifecycle.preDelete.labelsHandler`: the labels that hold a pod before deletion."""
    handler = _hook(gss, "preDelete").get("labelsHandler") or {}
    return {str(k): str(v) for k, v in handler.items()}


def in_place_update_handler(gss: bodies.Raw) -> dict[str, str]:
    """`lifecycle.inPlaceUpdate.labelsHandler`: the labels that hold a pod before an in-place
    update."""
    handler = _hook(gss, "inPlaceUpdate").get("labelsHandler") or {}
    return {str(k): str(v) for k, v in handler.items()}


def pre_delete_finalizers(gss: bodies.Raw) -> tuple[str, ...]:
    """`lifecycle.preDelete.finalizersHandler`: finalizers put on each pod at creation; whoever
    owns them (the game, another controller) removes them to let the deleted pod go."""
    return _hook_finalizers(gss, "preDelete")


def in_place_update_finalizers(gss: bodies.Raw) -> tuple[str, ...]:
    """`lifecycle.inPlaceUpdate.finalizersHandler`: finalizers put on each pod at creation and
    again with each in-place update; while the pod carries any, its next in-place update waits
    (PreUpdate) until their owner removes them."""
    return _hook_finalizers(gss, "inPlaceUpdate")


def marks_pod_not_ready(gss: bodies.Raw) -> tuple[bool, bool]:
    """`markPodNotReady` of the preDelete and the inPlaceUpdate lifecycle hooks."""
    return (
        bool(_hook(gss, "preDelete").get("markPodNotReady")),
        bool(_hook(gss, "inPlaceUpdate").get("markPodNotReady")),
    )


def _hook_finalizers(gss: bodies.Raw, hook: _Hook) -> tuple[str, ...]:
    finalizers = _hook(gss, hook).get("finalizersHandler") or []
    return tuple(str(f) for f in finalizers if f)


@dataclasses.dataclass(frozen=True)
class Hooks:
    """The set's lifecycle hooks, as every pod view and pod write reads them."""

    pre_delete: Mapping[str, str] = dataclasses.field(default_factory=dict)
    pre_delete_finalizers: tuple[str, ...] = ()
    in_place_update: Mapping[str, str] = dataclasses.field(default_factory=dict)
    in_place_update_finalizers: tuple[str, ...] = ()
    mark_pre_delete: bool = False
    mark_pre_update: bool = False

    @property
    def marks(self) -> bool:
        """Some hook asks to mark pods not ready (the `KruisePodReady` gate)."""
        return self.mark_pre_delete or self.mark_pre_update

    def creation_finalizers(self) -> list[str]:
        """The finalizers each new pod carries."""
        found = [PRE_DELETE_FINALIZER] if self.pre_delete else []
        found += self.pre_delete_finalizers
        found += [f for f in self.in_place_update_finalizers if f not in found]
        return found


def hooks(gss: bodies.Raw) -> Hooks:
    mark_pre_delete, mark_pre_update = marks_pod_not_ready(gss)
    return Hooks(
        pre_delete=pre_delete_handler(gss),
        pre_delete_finalizers=pre_delete_finalizers(gss),
        in_place_update=in_place_update_handler(gss),
        in_place_update_finalizers=in_place_update_finalizers(gss),
        mark_pre_delete=mark_pre_delete,
        mark_pre_update=mark_pre_update,
    )


def kruise_pod_ready(pod: bodies.Raw) -> bool | None:
    """The pod's `KruisePodReady` condition; None when the pod has none."""
    condition = bodies.find_condition(_status(pod).get("conditions"), KRUISE_POD_READY)
    return None if condition is None else condition.get("status") == "True"


def has_gate(pod: bodies.Raw, condition_type: str) -> bool:
    """The pod's spec lists this readiness gate."""
    gates = (bodies.as_pod(pod).get("spec") or {}).get("readinessGates") or []
    return any(g.get("conditionType") == condition_type for g in gates)


def in_place_update_ready(pod: bodies.Raw) -> bool | None:
    """The pod's `InPlaceUpdateReady` condition; None when the pod has none."""
    condition = bodies.find_condition(_status(pod).get("conditions"), IN_PLACE_UPDATE_READY)
    return None if condition is None else condition.get("status") == "True"


def in_place_update_started(pod: bodies.Raw) -> float | None:
    """When the pod's in-place update took it out of service (`InPlaceUpdateReady` False,
    `StartInPlaceUpdate`), in epoch seconds; None when it is not out of service for one."""
    condition = bodies.find_condition(_status(pod).get("conditions"), IN_PLACE_UPDATE_READY)
    if condition is None or condition.get("status") != "False":
        return None
    if condition.get("reason") != START_IN_PLACE_UPDATE:
        return None
    return bodies.parse_time(condition.get("lastTransitionTime")) or 0.0


def hook_holds(handler: Mapping[str, str], pod_labels: Mapping[str, str]) -> bool:
    """The pod still carries every handler label with the handler's value."""
    return bool(handler) and all(pod_labels.get(k) == v for k, v in handler.items())


def gss_view(gss: bodies.Raw) -> model.GameServerSetView:
    """The set's desired state. Raises ReserveIdsError or ValueError on an invalid spec."""
    s = spec(gss)
    strategy = s.get("updateStrategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    max_unavailable = rolling.get("maxUnavailable", 1)
    if max_unavailable is None:
        max_unavailable = 1
    update = model.UpdateStrategy(
        type=vocabulary.UpdateStrategyType(strategy.get("type") or "RollingUpdate"),
        partition=int(rolling.get("partition") or 0),
        max_unavailable=max_unavailable,
        pod_update_policy=vocabulary.PodUpdatePolicy(rolling.get("podUpdatePolicy") or "ReCreate"),
        paused=bool(rolling.get("paused", False)),
        min_ready_seconds=int(rolling.get("minReadySeconds") or 0),
        idle_only=bool(rolling.get("idleOnly", False)),
        grace_period_seconds=int(
            (rolling.get("inPlaceUpdateStrategy") or {}).get("gracePeriodSeconds") or 0
        ),
    )
    # Resolve once so a bad value fails here, not half-way through a plan.
    intstr.scaled_value(max_unavailable, 100, round_up=False)
    scale = s.get("scaleStrategy") or {}
    scale_max_unavailable = scale.get("maxUnavailable")
    if scale_max_unavailable is not None:
        intstr.scaled_value(scale_max_unavailable, 100, round_up=False)
    template = s.get("gameServerTemplate") or {}
    return model.GameServerSetView(
        name=bodies.name(gss),
        replicas=int(s.get("replicas") or 0),
        generation=bodies.generation(gss),
        reserve_ids=reserve_ids.parse_reserve_ids(s.get("reserveGameServerIds") or []),
        scale_down=vocabulary.ScaleDownStrategy(scale.get("scaleDownStrategyType") or "General"),
        scale_max_unavailable=scale_max_unavailable,
        reclaim_policy=vocabulary.ReclaimPolicy(template.get("reclaimPolicy") or "Cascade"),
        update=update,
        revision=revision.template_revision(pod_template(gss)),
    )


def reserve_memory(gss: bodies.Raw) -> scaling.ReserveMemory:
    notes = bodies.annotations_of(gss)
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


def gs_view(
    gs: bodies.Raw | None, set_name: str, template: bodies.PodTemplate
) -> model.GameServerView:
    """The GameServer as the pod-label rules read it; a fresh one when it does not exist."""
    if gs is None:
        tmeta = bodies.meta(template)
        return state.new_game_server(
            set_name, 0, tmeta.get("labels") or {}, tmeta.get("annotations") or {}
        )
    s = bodies.as_game_server(gs).get("spec") or {}
    return model.GameServerView(
        name=bodies.name(gs),
        owner=set_name,
        ops_state=str(s.get("opsState") or vocabulary.OpsState.NONE.value),
        update_priority=s.get("updatePriority") or 0,
        deletion_priority=s.get("deletionPriority") or 0,
        network_disabled=bool(s.get("networkDisabled", False)),
        labels=bodies.labels_of(gs),
        annotations=bodies.annotations_of(gs),
    )


def image_overrides(gs: bodies.Raw | None) -> tuple[model.ContainerImage, ...]:
    if gs is None:
        return ()
    containers = (bodies.as_game_server(gs).get("spec") or {}).get("containers") or []
    return tuple(
        model.ContainerImage(name=str(c.get("name", "")), image=str(c.get("image", "")))
        for c in containers
        if isinstance(c, dict) and c.get("image")
    )


def own_game_server(
    policy: vocabulary.ReclaimPolicy, pod: bodies.Raw | None, gs: bodies.GameServer | None
) -> bodies.GameServer | None:
    """The GameServer that belongs to `pod`: under Cascade, one owned by an earlier pod of the
    ordinal (or by none) does not count."""
    if gs is None or policy is vocabulary.ReclaimPolicy.DELETE:
        return gs
    pod_uid = bodies.uid(pod) if pod else None
    return gs if bodies.owner_uid(gs, "Pod") == pod_uid else None


# Pod.


def _status(pod: bodies.Raw) -> bodies.PodStatus:
    return bodies.as_pod(pod).get("status") or {}


def pod_images(pod: bodies.Raw) -> tuple[model.ContainerImage, ...]:
    containers = (bodies.as_pod(pod).get("spec") or {}).get("containers") or []
    return tuple(
        model.ContainerImage(name=str(c.get("name", "")), image=str(c.get("image", "")))
        for c in containers
    )


def _status_image(status: bodies.ContainerStatus) -> str:
    return f"{status.get('image', '')}|{status.get('imageID', '')}"


def _container_statuses(pod: bodies.Raw) -> dict[str, bodies.ContainerStatus]:
    return {str(s.get("name")): s for s in _status(pod).get("containerStatuses") or []}


def in_place_updating(pod: bodies.Raw) -> bool:
    """An in-place update has the pod: out of service for it (its `InPlaceUpdateReady` gate
    False, through the grace period), patched and not yet running the new images, or back in
    service and not yet Ready again."""
    return (
        in_place_patching(pod)
        or in_place_update_started(pod) is not None
        or _ready_again_pending(pod)
    )


def _ready_again_pending(pod: bodies.Raw) -> bool:
    """An updated pod whose gate is True again but whose `Ready` False is still the one the
    update wrote (not re-evaluated since): the kubelet has yet to make it Ready, so it is still
    updating, not NotReady (which would cost a label and a status write for a transient). Only
    once every readiness gate is True: a gate still False (`KruisePodReady` of markPodNotReady)
    is the agent's to turn, and waits for the update to be over."""
    if not bodies.annotations_of(pod).get(IN_PLACE_UPDATE):
        return False
    found = _status(pod).get("conditions")
    gates = (bodies.as_pod(pod).get("spec") or {}).get("readinessGates") or []
    for listed in gates:
        condition = bodies.find_condition(found, str(listed.get("conditionType")))
        if condition is None or condition.get("status") != "True":
            return False
    gate = bodies.find_condition(found, IN_PLACE_UPDATE_READY)
    ready = bodies.find_condition(found, "Ready")
    if gate is None or ready is None or gate.get("status") != "True":
        return False
    if ready.get("status") != "False":
        return False
    ready_since = bodies.parse_time(ready.get("lastTransitionTime"))
    gate_since = bodies.parse_time(gate.get("lastTransitionTime"))
    return ready_since is not None and gate_since is not None and ready_since <= gate_since


def in_place_patching(pod: bodies.Raw) -> bool:
    """New images are patched in and some patched container has not restarted on them yet.

    The kubelet reports the image a container runs in its status: a container is done when
    its status shows the spec's image, or shows another image than before the patch (registries
    may normalise the name) and it is ready again.
    """
    note = bodies.annotations_of(pod).get(IN_PLACE_UPDATE)
    if not note:
        return False
    try:
        old = json.loads(note).get("old") or {}
    except (ValueError, AttributeError):
        return False
    wanted = {c.name: c.image for c in pod_images(pod)}
    statuses = _container_statuses(pod)
    for container, before in old.items():
        status = statuses.get(container)
        if status is None:
            return True
        if status.get("image") == wanted.get(container):
            continue
        if _status_image(status) == before or not status.get("ready"):
            return True
    return False


def in_place_note(pod: bodies.Raw, target_revision: str, images: Mapping[str, str]) -> str:
    """The annotation an in-place patch writes: the images (with ids) being replaced."""
    statuses = _container_statuses(pod)
    old = {
        container: _status_image(statuses.get(container) or {})
        for container, image in images.items()
        if (statuses.get(container) or {}).get("image") != image
    }
    return json.dumps({"revision": target_revision, "old": old}, sort_keys=True)


def pod_view(
    pod: bodies.Raw,
    ordinal: int,
    gs: bodies.Raw | None,
    handler: Mapping[str, str],
    hook_finalizers: tuple[str, ...] = (),
    update_handler: Mapping[str, str] | None = None,
    update_finalizers: tuple[str, ...] = (),
) -> model.PodView:
    """A pod (and its GameServer, when known) as the decisions see it."""
    pod_labels = bodies.labels_of(pod)
    status = _status(pod)
    terminating = bodies.terminating(pod)
    finalizers = bodies.finalizers(pod)
    held = terminating and (
        (PRE_DELETE_FINALIZER in finalizers and hook_holds(handler, pod_labels))
        or any(f in finalizers for f in hook_finalizers)
    )
    ready_cond = bodies.find_condition(status.get("conditions"), "Ready")
    ready: bool | None = None
    ready_since: float | None = None
    if ready_cond is not None:
        ready = ready_cond.get("status") == "True"
        if ready:
            ready_since = bodies.parse_time(ready_cond.get("lastTransitionTime"))
    try:
        phase = model.PodPhase(status.get("phase") or "Pending")
    except ValueError:
        phase = model.PodPhase.UNKNOWN
    if gs is not None:
        gs_spec = bodies.as_game_server(gs).get("spec") or {}
        ops = vocabulary.OpsState.from_wire(gs_spec.get("opsState"))
        update_priority = intstr.priority_value(gs_spec.get("updatePriority"))
        deletion_priority = intstr.priority_value(gs_spec.get("deletionPriority"))
    else:
        ops, update_priority, deletion_priority = state.pod_view_ops(pod_labels)
    return model.PodView(
        ordinal=ordinal,
        name=bodies.name(pod),
        uid=bodies.uid(pod),
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
        holds_players=_holds_players(gs),
    )


def _holds_players(gs: bodies.Raw | None) -> bool:
    return gs is not None and state.holds_players(bodies.annotations_of(gs))


def view_of(
    pod: bodies.Pod,
    ordinal: int,
    gs: bodies.GameServer | None,
    hooks_: Hooks,
) -> model.PodView:
    """`pod_view` with the set's hooks."""
    return pod_view(
        pod,
        ordinal,
        gs,
        hooks_.pre_delete,
        hooks_.pre_delete_finalizers,
        hooks_.in_place_update,
        hooks_.in_place_update_finalizers,
    )


def servers_of(
    gss: bodies.Raw,
    pods: Iterable[bodies.Pod],
    game_servers: Iterable[bodies.GameServer],
) -> tuple[dict[int, bodies.Pod], dict[int, bodies.GameServer]]:
    """The set's pods and GameServers by ordinal: objects named like its servers, and pods
    not owned by another set of the same name (an earlier one being deleted)."""
    set_name, set_uid = bodies.name(gss), bodies.uid(gss)
    own_pods: dict[int, bodies.Pod] = {}
    for pod in pods:
        ordinal = state.ordinal_from_name(set_name, bodies.name(pod))
        owner = bodies.owner_uid(pod, "GameServerSet")
        if ordinal is None or (owner is not None and owner != set_uid):
            continue
        own_pods[ordinal] = pod
    own_gs: dict[int, bodies.GameServer] = {}
    for gs in game_servers:
        ordinal = state.ordinal_from_name(set_name, bodies.name(gs))
        if ordinal is not None:
            own_gs[ordinal] = gs
    return own_pods, own_gs
