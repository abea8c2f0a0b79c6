"""Frozen views of what the agent observes and wants, shared by every decision module."""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING

from okg.vocabulary import (
    OpsState,
    PodUpdatePolicy,
    ReclaimPolicy,
    ScaleDownStrategy,
    UpdateStrategyType,
)

if TYPE_CHECKING:
    from collections.abc import Mapping


class PodPhase(enum.StrEnum):
    """Kubernetes pod phase."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


@dataclasses.dataclass(frozen=True)
class ContainerImage:
    """One container's image."""

    name: str
    image: str


@dataclasses.dataclass(frozen=True)
class TemplateRevision:
    """A pod template's identity.

    `name` hashes the whole template; `shape` hashes it with every container image blanked, so
    two revisions with the same shape differ only in images and allow an in-place update.
    """

    name: str
    shape: str
    images: tuple[ContainerImage, ...] = ()


@dataclasses.dataclass(frozen=True)
class PodView:
    """What the decisions need to know about one game server's pod (and its GameServer)."""

    ordinal: int
    name: str = ""
    uid: str = ""
    phase: PodPhase = PodPhase.RUNNING
    ready: bool | None = True
    """The PodReady condition; None when the pod has none yet."""
    ready_since: float | None = None
    """When PodReady last turned true, in epoch seconds."""
    deleting: bool = False
    """The pod has a deletion timestamp."""
    held_pre_delete: bool = False
    """A preDelete lifecycle hook holds the pod before deletion."""
    held_pre_update: bool = False
    """An inPlaceUpdate lifecycle hook holds the pod before its update."""
    update_hook_holds: bool = False
    """The pod carries every `lifecycle.inPlaceUpdate.labelsHandler` label with its value, or
    any `finalizersHandler` finalizer: an in-place update of it waits (PreUpdate) until the game
    changes a label or the finalizers' owner removes them."""
    in_place_updating: bool = False
    """New images are patched in and the containers have not all restarted yet."""
    revision: str = ""
    shape: str = ""
    images: tuple[ContainerImage, ...] = ()
    """The images the pod's spec carries now."""
    image_overrides: tuple[ContainerImage, ...] = ()
    """`GameServer.spec.containers` images: this server's own images."""
    ops_state: OpsState = OpsState.NONE
    update_priority: int = 0
    deletion_priority: int = 0
    holds_players: bool = False
    """A counter of its GameServer is above 0 or a list holds a value (players, rooms taken;
    `okg.capacity.Capacity.in_use`)."""

    @property
    def held(self) -> bool:
        """Terminating or held before deletion: no longer managed, its ordinal still taken."""
        return self.deleting or self.held_pre_delete

    @property
    def in_use(self) -> bool:
        """Allocated, or holding players on its counters or lists: player continuity keeps it.
        The one test every system decision asks (scale-down, drain through it, rolling
        updates, a stranded server's replacement); only targeted actions remove such a server."""
        return self.ops_state is OpsState.ALLOCATED or self.holds_players


@dataclasses.dataclass(frozen=True)
class UpdateStrategy:
    """`spec.updateStrategy`, flattened.

    `idle_only` is gamefleet's `updateStrategy.rollingUpdate.idleOnly`: update only servers whose
    ops state is None.
    """

    type: UpdateStrategyType = UpdateStrategyType.ROLLING_UPDATE
    partition: int = 0
    max_unavailable: int | str = 1
    pod_update_policy: PodUpdatePolicy = PodUpdatePolicy.RECREATE
    paused: bool = False
    min_ready_seconds: int = 0
    idle_only: bool = False
    grace_period_seconds: int = 0
    """`rollingUpdate.inPlaceUpdateStrategy.gracePeriodSeconds`: how long a pod is out of
    service (its `InPlaceUpdateReady` gate False) before its images are patched."""

    @property
    def in_place(self) -> bool:
        """The policy may update pods in place."""
        return self.pod_update_policy is not PodUpdatePolicy.RECREATE


@dataclasses.dataclass(frozen=True)
class GameServerSetView:
    """The desired state of one GameServerSet, as the decisions read it."""

    name: str
    replicas: int
    generation: int = 0
    reserve_ids: frozenset[int] = frozenset()
    """`spec.reserveGameServerIds`, parsed (see `reserve_ids.parse_reserve_ids`)."""
    scale_down: ScaleDownStrategy = ScaleDownStrategy.GENERAL
    scale_max_unavailable: int | str | None = None
    """`scaleStrategy.maxUnavailable`: at most this many servers not Ready while scaling up
    (absolute or percent of replicas); None is no limit."""
    reclaim_policy: ReclaimPolicy = ReclaimPolicy.CASCADE
    update: UpdateStrategy = UpdateStrategy()
    revision: TemplateRevision = TemplateRevision(name="", shape="")
    """The template revision every pod should reach."""


@dataclasses.dataclass(frozen=True)
class GameServerView:
    """A GameServer's spec and metadata, as the pod-label rules read them."""

    name: str
    owner: str
    ops_state: str = OpsState.NONE.value
    """The raw wire string: OKG accepts any string here."""
    update_priority: int | str = 0
    deletion_priority: int | str = 0
    network_disabled: bool = False
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Condition:
    """A status condition."""

    type: str
    status: str
    reason: str
    message: str
