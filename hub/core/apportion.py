"""Integer shares of a total under per-member bounds: the arithmetic behind placement."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from fractions import Fraction


@dataclasses.dataclass(frozen=True)
class Share:
    """One member's claim: a weight (at least 1) and bounds; `maximum` None means no limit."""

    name: str
    weight: int = 1
    minimum: int = 0
    maximum: int | None = None

    @property
    def floor(self) -> int:
        """The minimum, lowered to the maximum if it exceeds it."""
        if self.maximum is None:
            return self.minimum
        return min(self.minimum, self.maximum)


def capacity(shares: Sequence[Share]) -> int | None:
    """The most the shares can hold together; None when unlimited."""
    if not shares or any(share.maximum is None for share in shares):
        return None if shares else 0
    return sum(share.maximum for share in shares if share.maximum is not None)


def weighted(total: int, shares: Sequence[Share]) -> dict[str, int]:
    """Split `total` in proportion to the weights, every share kept within its bounds.

    What a maximum cuts off goes to the others in proportion, and a minimum is a floor rather
    than a head start. Fractions are resolved by the largest-remainder method, ties by name, so
    the result sums exactly to `total`, or to the capacity when that is smaller. When the
    minimums alone exceed `total`, `total` is split in proportion to the minimums instead.
    """
    if not shares:
        return {}
    if any(share.weight < 1 for share in shares):
        raise ValueError("every weight must be at least 1")
    floors = sum(share.floor for share in shares)
    if floors >= total:
        if floors == 0:
            return {share.name: 0 for share in shares}
        quotas = {share.name: Fraction(total * share.floor, floors) for share in shares}
        return _largest_remainder(total, quotas)
    limit = capacity(shares)
    if limit is not None and limit <= total:
        return {share.name: share.maximum or 0 for share in shares}
    level = _water_level(total, shares)
    return _largest_remainder(total, {share.name: _quota(share, level) for share in shares})


def in_order(total: int, shares: Sequence[Share]) -> dict[str, int]:
    """Give every share its minimum, then fill the shares in the given order up to each maximum.

    When the minimums alone exceed `total`, the minimums are filled in order too.
    """
    result = {share.name: 0 for share in shares}
    remaining = total
    for share in shares:
        given = min(share.floor, remaining)
        result[share.name] = given
        remaining -= given
    for share in shares:
        room = remaining if share.maximum is None else share.maximum - result[share.name]
        given = max(0, min(room, remaining))
        result[share.name] += given
        remaining -= given
    return result


def _quota(share: Share, level: Fraction) -> Fraction:
    quota = max(Fraction(share.floor), share.weight * level)
    if share.maximum is not None:
        quota = min(quota, Fraction(share.maximum))
    return quota


def _water_level(total: int, shares: Sequence[Share]) -> Fraction:
    """The level t at which the sum of clamp(weight * t, floor, maximum) equals `total`.

    The sum is piecewise linear in t with bends where a share meets a bound, so walk the bends
    in order and interpolate on the segment that crosses `total`.
    """
    bends = {Fraction(0)}
    for share in shares:
        bends.add(Fraction(share.floor, share.weight))
        if share.maximum is not None:
            bends.add(Fraction(share.maximum, share.weight))
    previous_level = Fraction(0)
    previous_sum = sum((_quota(share, previous_level) for share in shares), Fraction(0))
    for level in sorted(bends):
        level_sum = sum((_quota(share, level) for share in shares), Fraction(0))
        if level_sum >= total:
            if level_sum == previous_sum:
                return level
            step = (total - previous_sum) / (level_sum - previous_sum)
            return previous_level + (level - previous_level) * step
        previous_level, previous_sum = level, level_sum
    slope = sum(share.weight for share in shares if share.maximum is None)
    return previous_level + (total - previous_sum) / slope


def _largest_remainder(total: int, quotas: dict[str, Fraction]) -> dict[str, int]:
    result = {name: math.floor(quota) for name, quota in quotas.items()}
    leftover = total - sum(result.values())
    by_remainder = sorted(quotas, key=lambda name: (-(quotas[name] - result[name]), name))
    for name in by_remainder[:leftover]:
        result[name] += 1
    return result
