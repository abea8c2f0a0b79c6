"""OKG's external scaler: the replicas KEDA should set, from idle and leaving servers."""

from __future__ import annotations

import dataclasses
import math
import struct

METRIC_NAME = "gssReplicas"
METRIC_TARGET = 1


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
    """An integer; an invalid value is ignored, as in OKG."""
    scale_down_threshold: str = ""
    """An absolute number (>= 1) or a ratio in (0, 1) of the total."""


@dataclasses.dataclass(frozen=True)
class ScalerInput:
    """What the scaler counts."""

    replicas: int
    """spec.replicas."""
    total: int
    """Pods of the set."""
    none: int
    """Pods whose ops state is None."""
    wait_to_be_deleted: int
    """WaitToBeDeleted pods that are not yet Deleting."""


def is_active(config: ScalerConfig, current_replicas: int, wait_to_be_deleted: int) -> bool:
    """Active when minAvailable > 0, else while servers other than WaitToBeDeleted remain."""
    if _min_number(config.min_available) > 0:
        return True
    return current_replicas - wait_to_be_deleted > 0


def desired_replicas(config: ScalerConfig, observed: ScalerInput) -> int:
    """The replicas the metric reports."""
    threshold = _threshold(config.scale_down_threshold, observed.total)
    if threshold is not None and observed.wait_to_be_deleted > threshold:
        return observed.replicas - observed.wait_to_be_deleted
    maximum = _max_available(config.max_available)
    minimum = min_none(config.min_available, observed.total, observed.none)
    if maximum is not None:
        minimum = min(minimum, maximum)
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
        raise ScalerConfigError("minAvailable", f"{text!r} is not a number") from None
    if value < 0 or not math.isfinite(value):
        raise ScalerConfigError(
            "minAvailable", f"{text!r} must be 0, a ratio between 0 and 1, or a number >= 1"
        )
    return value


def _float32(value: float) -> float:
    # OKG parses with 32-bit precision; ratios like 0.3 round differently in 64 bits.
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


def _max_available(text: str) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _threshold(text: str, total: int) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ScalerConfigError("scaleDownThreshold", f"{text!r} is not a number") from None
    if value <= 0 or not math.isfinite(value):
        raise ScalerConfigError("scaleDownThreshold", f"{text!r} must be positive")
    return value * total if value < 1 else value
