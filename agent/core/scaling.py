"""Decide which ordinals to create and which game servers to delete for a GameServerSet.

OKG's rules (okg-semantics.md, "Scaling and targeted delete") plus gamefleet's player
continuity: a system scale-down never picks a server in use (`PodView.in_use`: Allocated, or
players on its counters or lists). Only targeted actions remove
one: opsState Kill, reserving its id, or a user deleting its pod.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING

from okg import vocabulary

from . import intstr, model

if TYPE_CHECKING:
    from collections.abc import Sequence

_DELETE_RANK = {
    vocabulary.OpsState.KILL: 100,
    vocabulary.OpsState.WAIT_TO_BE_DELETED: 1,
    vocabulary.OpsState.NONE: 0,
    vocabulary.OpsState.ALLOCATED: -1,
    vocabulary.OpsState.MAINTAINING: -2,
}


class DeleteReason(enum.StrEnum):
    """Why a plan deletes a game server."""

    RESERVED = "Reserved"
    """Its id was added to reserveGameServerIds (targeted)."""
    KILL = "Kill"
    """Its opsState is Kill (targeted)."""
    SCALE_DOWN = "ScaleDown"


@dataclasses.dataclass(frozen=True)
class ReserveMemory:
    """What the controller keeps between reconciles, on the set's annotations.

    `explicit` is the reserveGameServerIds the last plan acted on (OKG's
    `game.kruise.io/reserve-ids`); `implicit` the ordinals scale-down removed.
    """

    explicit: frozenset[int] = frozenset()
    implicit: frozenset[int] = frozenset()


@dataclasses.dataclass(frozen=True)
class Deletion:
    """One game server to delete."""

    ordinal: int
    name: str
    uid: str
    reason: DeleteReason


@dataclasses.dataclass(frozen=True)
class ScalePlan:
    """The actions of one reconcile, to apply in this order.

    1. `replicas` (when not None): write spec.replicas, lowered by the Kill servers.
    2. `reserve_ids` (when not None) and `memory`: write spec.reserveGameServerIds and the
       memory annotations in one patch.
    3. `delete`, then `create`.
    """

    create: tuple[int, ...]
    delete: tuple[Deletion, ...]
    memory: ReserveMemory
    reserve_ids: tuple[int, ...] | None
    replicas: int | None
    held_back: int
    """Servers in use kept although replicas asks for fewer."""
    target: frozenset[int]
    """Ordinals the set keeps once the plan is applied, including pods being replaced."""


def creations_allowed(
    desired: model.GameServerSetView, pods: Sequence[model.PodView]
) -> int | None:
    """How many pods a scale-up may create now under `scaleStrategy.maxUnavailable` (OKG's
    parallel pod management: servers not yet Ready count against it); None when unlimited.
    A percentage rounds down, but at least one pod may always be on its way."""
    if desired.scale_max_unavailable is None:
        return None
    limit = max(
        1, intstr.scaled_value(desired.scale_max_unavailable, desired.replicas, round_up=False)
    )
    unavailable = sum(1 for p in pods if not p.held and not p.deleting and p.ready is not True)
    return max(0, limit - unavailable)


def compute_scale(
    desired: model.GameServerSetView,
    pods: Sequence[model.PodView],
    memory: ReserveMemory,
) -> ScalePlan:
    """Plan the creations and deletions that bring the set's pods to `desired`."""
    live = [p for p in pods if not p.held]
    explicit = desired.reserve_ids
    newly_reserved = explicit - memory.explicit
    implicit = (memory.implicit - newly_reserved) | (memory.explicit - explicit)
    # An ordinal that exists is not a removed one, whatever a stale memory says.
    implicit -= {p.ordinal for p in live}
    held = frozenset(p.ordinal for p in pods if p.held)
    targeted = [p for p in live if p.ordinal in explicit]
    kept = [p for p in live if p.ordinal not in explicit]
    # A held pod whose ordinal is not reserved is being replaced in place (a user deleted it,
    # or it was evicted): it keeps its slot and the same ordinal comes back once it is gone.
    replacing = sorted(held - explicit - implicit, reverse=True)

    replicas = _replicas_after_kill(desired, pods, memory)
    delete = [_deletion(p, DeleteReason.RESERVED) for p in targeted]
    create: list[int] = []
    held_back = 0
    excess = len(kept) + len(replacing) - replicas
    if excess < 0:
        taken = held | explicit | {p.ordinal for p in kept}
        create = _free_ordinals(taken, -excess)
        implicit -= frozenset(create)
    elif excess > 0:
        # Player continuity: no server in use (Allocated, or players on its counters).
        candidates = sorted((p for p in kept if not p.in_use), key=_delete_order)
        chosen = candidates[:excess]
        delete += [_deletion(p, _scale_down_reason(p)) for p in chosen]
        absorbed = replacing[: excess - len(chosen)]
        implicit |= {p.ordinal for p in chosen} | frozenset(absorbed)
        held_back = excess - len(chosen) - len(absorbed)

    deleted = {d.ordinal for d in delete}
    target = (frozenset(p.ordinal for p in kept) - deleted) | (held - explicit - implicit)
    target |= frozenset(create)
    reserve_ids: tuple[int, ...] | None = None
    if desired.scale_down is vocabulary.ScaleDownStrategy.RESERVE_IDS and implicit:
        # ReserveIds remembers every removed ordinal in the spec itself.
        reserve_ids = tuple(sorted(explicit | implicit))
        explicit, implicit = frozenset(reserve_ids), frozenset()
    return ScalePlan(
        create=tuple(create),
        delete=tuple(delete),
        memory=ReserveMemory(explicit=explicit, implicit=implicit),
        reserve_ids=reserve_ids,
        replicas=replicas if replicas != desired.replicas else None,
        held_back=held_back,
        target=target,
    )


def _replicas_after_kill(
    desired: model.GameServerSetView, pods: Sequence[model.PodView], memory: ReserveMemory
) -> int:
    """Lower replicas by the Kill servers, once the set is settled (as OKG does)."""
    settled = (
        not any(p.held for p in pods)
        and len(pods) == desired.replicas
        and memory.explicit == desired.reserve_ids
    )
    if not settled:
        return desired.replicas
    killed = sum(1 for p in pods if p.ops_state is vocabulary.OpsState.KILL)
    return desired.replicas - killed


def _free_ordinals(taken: frozenset[int] | set[int], count: int) -> list[int]:
    found: list[int] = []
    ordinal = 0
    while len(found) < count:
        if ordinal not in taken:
            found.append(ordinal)
        ordinal += 1
    return found


def delete_rank(ops_state: vocabulary.OpsState) -> int:
    """OKG's scale-down rank of an ops state: higher goes first."""
    return _DELETE_RANK[ops_state]


def _delete_order(pod: model.PodView) -> tuple[int, int, int]:
    return (-delete_rank(pod.ops_state), -pod.deletion_priority, -pod.ordinal)


def _scale_down_reason(pod: model.PodView) -> DeleteReason:
    if pod.ops_state is vocabulary.OpsState.KILL:
        return DeleteReason.KILL
    return DeleteReason.SCALE_DOWN


def _deletion(pod: model.PodView, reason: DeleteReason) -> Deletion:
    return Deletion(ordinal=pod.ordinal, name=pod.name, uid=pod.uid, reason=reason)
