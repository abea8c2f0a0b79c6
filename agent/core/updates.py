"""Plan a rolling update: which game servers move to the target revision now, and how.

Follows Advanced StatefulSet as OKG configures it: updatePriority first (higher first), then
higher ordinal; `partition` servers stay on the old revision; at most `maxUnavailable`
(percent of replicas rounded down, at least 1) are unavailable at once. gamefleet never updates
a server in use (`PodView.in_use`: Allocated, or players on its counters or lists; it is picked
up once no longer in use); with `idle_only`, only servers whose ops state is None are updated.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING

from okg import vocabulary

from . import intstr, model, revision

if TYPE_CHECKING:
    from collections.abc import Sequence


class UpdateKind(enum.StrEnum):
    """How a server reaches the target revision."""

    IN_PLACE = "InPlace"
    """Patch the container images on the live pod."""
    RECREATE = "Recreate"
    """Delete the pod; it is created again at the target revision."""


@dataclasses.dataclass(frozen=True)
class UpdateAction:
    """Move one server to the target revision."""

    ordinal: int
    name: str
    uid: str
    kind: UpdateKind
    images: tuple[model.ContainerImage, ...]
    """For IN_PLACE: every container's image after the patch."""


@dataclasses.dataclass(frozen=True)
class UpdatePlan:
    """The update actions of one reconcile, and the servers it is waiting for."""

    actions: tuple[UpdateAction, ...]
    waiting_allocated: tuple[int, ...]
    """Old-revision servers left alone because they are in use (Allocated, or players on
    their counters or lists)."""
    waiting_busy: tuple[int, ...]
    """Old-revision servers left alone by idle-only because their ops state is not None."""
    blocked: tuple[int, ...]
    """Old-revision servers InPlaceOnly cannot update: more than images changed."""
    unavailable: int
    """Servers in the update window counted as unavailable."""
    pre_update: tuple[int, ...] = ()
    """Servers due for an in-place update that their inPlaceUpdate hook holds (PreUpdate):
    they keep serving and do not count as unavailable."""


_NOTHING = UpdatePlan(actions=(), waiting_allocated=(), waiting_busy=(), blocked=(), unavailable=0)


def max_unavailable(value: int | str, replicas: int) -> int:
    """Resolve maxUnavailable as Advanced StatefulSet does: percent rounds down, at least 1."""
    return max(1, intstr.scaled_value(value, replicas, round_up=False))


def plan_update(
    desired: model.GameServerSetView,
    pods: Sequence[model.PodView],
    now: float,
) -> UpdatePlan:
    """Choose the servers to update now.

    `pods` are the set's pods that it keeps (ScalePlan.target); `now` is in epoch seconds.
    """
    strategy = desired.update
    if strategy.type is vocabulary.UpdateStrategyType.ON_DELETE or strategy.paused:
        return _NOTHING
    target = desired.revision
    done = sorted((p for p in pods if _on_target(p, target)), key=lambda p: -p.ordinal)
    waiting = [p for p in pods if not _on_target(p, target)]
    allocated = [p for p in waiting if p.in_use]
    busy = [p for p in waiting if strategy.idle_only and _busy(p)]
    eligible = [p for p in waiting if _eligible(p, strategy.idle_only)]
    eligible.sort(key=lambda p: (-p.update_priority, -p.ordinal))
    window = (done + eligible)[: max(0, desired.replicas - strategy.partition)]
    to_update = {p.ordinal for p in eligible if not p.held_pre_update}

    limit = max_unavailable(strategy.max_unavailable, desired.replicas)
    actions: list[UpdateAction] = []
    blocked: list[int] = []
    pre_update: list[int] = []
    unavailable = 0
    for pod in window:
        if pod.ordinal in to_update:
            action = _action(pod, target, strategy.pod_update_policy)
            if action is None:
                blocked.append(pod.ordinal)
                continue
            if action.kind is UpdateKind.IN_PLACE and pod.update_hook_holds:
                pre_update.append(pod.ordinal)
                continue
            actions.append(action)
        if not _available(pod, target, strategy.min_ready_seconds, now):
            unavailable += 1
        if unavailable >= limit:
            break
    return UpdatePlan(
        actions=tuple(actions),
        waiting_allocated=tuple(sorted(p.ordinal for p in allocated)),
        waiting_busy=tuple(sorted(p.ordinal for p in busy)),
        blocked=tuple(blocked),
        unavailable=unavailable,
        pre_update=tuple(pre_update),
    )


def _on_target(pod: model.PodView, target: model.TemplateRevision) -> bool:
    """Already updated, or leaving: either way not a server to update."""
    return pod.held or pod.revision == target.name


def _busy(pod: model.PodView) -> bool:
    return pod.ops_state is not vocabulary.OpsState.NONE and not pod.in_use


def _eligible(pod: model.PodView, idle_only: bool) -> bool:
    if pod.in_use:
        return False
    return pod.ops_state is vocabulary.OpsState.NONE if idle_only else True


def _action(
    pod: model.PodView, target: model.TemplateRevision, policy: vocabulary.PodUpdatePolicy
) -> UpdateAction | None:
    in_place = policy is not vocabulary.PodUpdatePolicy.RECREATE and pod.shape == target.shape
    if policy is vocabulary.PodUpdatePolicy.IN_PLACE_ONLY and not in_place:
        return None
    if in_place:
        images = revision.images_for(target.images, pod.image_overrides)
        return UpdateAction(pod.ordinal, pod.name, pod.uid, UpdateKind.IN_PLACE, images)
    return UpdateAction(pod.ordinal, pod.name, pod.uid, UpdateKind.RECREATE, ())


def _available(
    pod: model.PodView, target: model.TemplateRevision, min_ready_seconds: int, now: float
) -> bool:
    """On the target revision, running, ready for min_ready_seconds, not mid-update."""
    if pod.revision != target.name or pod.held or pod.in_place_updating:
        return False
    if pod.phase is not model.PodPhase.RUNNING or pod.ready is not True:
        return False
    if min_ready_seconds == 0:
        return True
    return pod.ready_since is not None and now - pod.ready_since >= min_ready_seconds


@dataclasses.dataclass(frozen=True)
class ImagePatch:
    """Patch one live pod to run its own images (GameServer.spec.containers)."""

    ordinal: int
    name: str
    uid: str
    images: tuple[model.ContainerImage, ...]


def plan_image_overrides(pods: Sequence[model.PodView]) -> tuple[ImagePatch, ...]:
    """Patch each pod whose GameServer asks for images it does not run yet.

    A per-server image is a targeted user action, so it applies to Allocated servers too.
    """
    patches: list[ImagePatch] = []
    for pod in pods:
        if pod.held or not pod.image_overrides:
            continue
        wanted = revision.images_for(pod.images, pod.image_overrides)
        if wanted != pod.images:
            patches.append(ImagePatch(pod.ordinal, pod.name, pod.uid, wanted))
    return tuple(patches)
