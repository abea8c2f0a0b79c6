"""OKG's external scaler: the replicas KEDA should set, from idle and leaving servers."""

from __future__ import annotations

import dataclasses
import math
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

METRIC_NAME = "gssReplicas"
METRIC_TARGET = 1

MIN_AVAILABLE = "minAvailable"
MAX_AVAILABLE = "maxAvailable"
SCALE_DOWN_THRESHOLD = "scaleDownThreshold"
"""The scaler metadata keys of a ScaledObject's trigger (OKG's names)."""

_NONE = "None"
_WAIT_TO_BE_DELETED = "WaitToBeDeleted"


class ScalerConfigError(ValueError):
    """A scaler metadata value is invalid; `key` names it."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")


@dataclasses.dataclass(frozen=True)
class ScalerConfig:
    """The ScaledObject's scaler metadata, as strings (empty means unset)."""

    min_available: str = ""
    """An absolute number (>= 1) or a ratio in (0, 1) of the total after scaling."""
    max_available: str = ""
    """An integer >= 0: the most None servers to keep."""
    scale_down_threshold: str = ""
    """An absolute number (>= 1, rounded up) or a ratio in (0, 1) of the total."""

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> ScalerConfig:
        """Read the keys the scaler knows; others (KEDA's own, such as scalerAddress) pass."""
        return cls(
            min_available=metadata.get(MIN_AVAILABLE, ""),
            max_available=metadata.get(MAX_AVAILABLE, ""),
            scale_down_threshold=metadata.get(SCALE_DOWN_THRESHOLD, ""),
        )


def validate(config: ScalerConfig) -> None:
    """Raise ScalerConfigError naming the first invalid key."""
    _min_number(config.min_available)
    _max_available(config.max_available)
    _threshold(config.scale_down_threshold)


@dataclasses.dataclass(frozen=True)
class Server:
    """One pod of the set as the scaler sees it."""

    ops_state: str
    """Its GameServer's opsState (the pod's label while the GameServer is missing)."""
    leaving: bool
    """The pod is terminating: deleted, or held by a preDelete hook after its deletion."""


@dataclasses.dataclass(frozen=True)
class ScalerInput:
    """What the scaler counts."""

    replicas: int
    """spec.replicas."""
    total: int
    """Pods of the set that are not leaving."""
    none: int
    """Of those, the ones whose ops state is None."""
    wait_to_be_deleted: int
    """Of those, the WaitToBeDeleted ones."""


def observe(replicas: int, servers: Iterable[Server]) -> ScalerInput:
    """Count the servers that stay: leaving ones are already on their way out."""
    total = none = wait_to_be_deleted = 0
    for server in servers:
        if server.leaving:
            continue
        total += 1
        if server.ops_state == _NONE:
            none += 1
        elif server.ops_state == _WAIT_TO_BE_DELETED:
            wait_to_be_deleted += 1
    return ScalerInput(replicas, total, none, wait_to_be_deleted)


def is_active(config: ScalerConfig, current_replicas: int, wait_to_be_deleted: int) -> bool:
    """Active when minAvailable > 0, else while servers other than WaitToBeDeleted remain."""
    if _min_number(config.min_available) > 0:
        return True
    return current_replicas - wait_to_be_deleted > 0


def desired_replicas(config: ScalerConfig, observed: ScalerInput) -> int:
    """The replicas the metric reports (never below zero)."""
    return max(0, _desired(config, observed))


def _desired(config: ScalerConfig, observed: ScalerInput) -> int:
    maximum = _max_available(config.max_available)
    minimum = min_none(config.min_available, observed.total, observed.none)
    if maximum is not None:
        minimum = min(minimum, maximum)
    if _threshold_exceeded(config.scale_down_threshold, observed):
        # Past the threshold, removing WaitToBeDeleted servers comes before minAvailable,
        # which only floors the result.
        return max(observed.total - observed.wait_to_be_deleted, minimum)
    if observed.none < minimum:
        return observed.replicas + minimum - observed.none
    if observed.wait_to_be_deleted:
        return observed.replicas - observed.wait_to_be_deleted
    if maximum is not None and observed.none > maximum:
        return observed.replicas + maximum - observed.none
    return observed.replicas


def min_none(min_available: str, total: int, none: int) -> int:
    """The number of None servers minAvailable asks for.

    A ratio x keeps (none + delta) / (total + delta) >= x: delta = (total*x - none) / (1 - x),
    rounded to two decimals, then up.
    """
    ratio = _min_number(min_available)
    if not 0 < ratio < 1:
        return math.ceil(ratio)
    delta = (total * ratio - none) / (1 - ratio)
    if delta <= 0:
        return 0
    return math.ceil(round(delta * 100) / 100) + none


def _min_number(text: str) -> float:
    if not text:
        return 0.0
    try:
        value = _float32(float(text))
    except (ValueError, OverflowError):
        raise ScalerConfigError(MIN_AVAILABLE, f"{text!r} is not a number") from None
    if value < 0 or not math.isfinite(value):
        raise ScalerConfigError(
            MIN_AVAILABLE, f"{text!r} must be 0, a ratio between 0 and 1, or a number >= 1"
        )
    return value


def _float32(value: float) -> float:
    # OKG parses with 32-bit precision; ratios like 0.3 round differently in 64 bits.
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


def _max_available(text: str) -> int | None:
    if not text:
        return None
    try:
        value = int(text, 10)
    except ValueError:
        raise ScalerConfigError(MAX_AVAILABLE, f"{text!r} is not an integer") from None
    if not 0 <= value < 2**31:
        raise ScalerConfigError(MAX_AVAILABLE, f"{text!r} must be an integer >= 0")
    return value


def _threshold(text: str) -> tuple[float, bool] | None:
    """(threshold, is_ratio): a ratio in (0, 1) of the total, else a count rounded up."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ScalerConfigError(SCALE_DOWN_THRESHOLD, f"{text!r} is not a number") from None
    if value <= 0 or not math.isfinite(value):
        raise ScalerConfigError(
            SCALE_DOWN_THRESHOLD, f"{text!r} must be a ratio between 0 and 1 or a number >= 1"
        )
    if value < 1:
        return value, True
    return float(math.ceil(value)), False


def _threshold_exceeded(text: str, observed: ScalerInput) -> bool:
    parsed = _threshold(text)
    if parsed is None or not observed.wait_to_be_deleted:
        return False
    threshold, is_ratio = parsed
    if is_ratio:
        return observed.total > 0 and observed.wait_to_be_deleted / observed.total > threshold
    return observed.wait_to_be_deleted > threshold
