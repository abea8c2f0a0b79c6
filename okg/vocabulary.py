"""OKG's vocabulary: the API group and version, and the states and policies its GameServerSet
and GameServer speak, as the hub validates them and the agent acts on them."""

from __future__ import annotations

import enum

GROUP = "game.kruise.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class OpsState(enum.StrEnum):
    """A GameServer's operations state; any other string on the wire reads as NONE."""

    NONE = "None"
    WAIT_TO_BE_DELETED = "WaitToBeDeleted"
    MAINTAINING = "Maintaining"
    ALLOCATED = "Allocated"
    KILL = "Kill"

    @classmethod
    def from_wire(cls, value: str | None) -> OpsState:
        """Read a label or spec value; unknown and missing values rank like NONE (as in OKG)."""
        if value is None:
            return cls.NONE
        try:
            return cls(value)
        except ValueError:
            return cls.NONE


class GameServerState(enum.StrEnum):
    """A GameServer's current state, derived from its pod."""

    UNKNOWN = "Unknown"
    CREATING = "Creating"
    READY = "Ready"
    NOT_READY = "NotReady"
    CRASH = "Crash"
    UPDATING = "Updating"
    DELETING = "Deleting"
    PRE_DELETE = "PreDelete"
    PRE_UPDATE = "PreUpdate"


class NetworkState(enum.StrEnum):
    """Desired or current state of a GameServer's network."""

    READY = "Ready"
    NOT_READY = "NotReady"
    WAITING = "Waiting"


class ScaleDownStrategy(enum.StrEnum):
    """`scaleStrategy.scaleDownStrategyType`."""

    GENERAL = "General"
    RESERVE_IDS = "ReserveIds"


class ReclaimPolicy(enum.StrEnum):
    """`gameServerTemplate.reclaimPolicy`: who owns the GameServer object."""

    CASCADE = "Cascade"
    DELETE = "Delete"


class UpdateStrategyType(enum.StrEnum):
    """`updateStrategy.type`."""

    ROLLING_UPDATE = "RollingUpdate"
    ON_DELETE = "OnDelete"


class PodUpdatePolicy(enum.StrEnum):
    """`updateStrategy.rollingUpdate.podUpdatePolicy`."""

    RECREATE = "ReCreate"
    IN_PLACE_IF_POSSIBLE = "InPlaceIfPossible"
    IN_PLACE_ONLY = "InPlaceOnly"
