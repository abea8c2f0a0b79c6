"""Server groups: where a group of servers (one per member, each of its own fleet) can all be
allocated together, state in, state out.

A group's members must all land in one *place*: one cluster, or one zone of one cluster. The
places tried are those where every member has a candidate; the preferred clusters first, in
their order, then by cluster and zone name.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping, Sequence

from okg import capacity as cap

from . import allocation

MEMBER_SEPARATOR = "/"


class Same(enum.Enum):
    CLUSTER = "Cluster"
    ZONE = "Zone"


@dataclasses.dataclass(frozen=True, order=True)
class Place:
    """A cluster, and with ``Same.ZONE`` a zone in it ("" for any zone)."""

    cluster: str
    zone: str = ""


def member_request_id(group_request_id: str, member: str) -> str:
    """A member's own request id: the request ids of single allocations have no '/', so a
    member's never collides with one."""
    return f"{group_request_id}{MEMBER_SEPARATOR}{member}"


def place_of(server: allocation.Server, zone: str, same: Same) -> Place:
    return Place(server.cluster, zone if same is Same.ZONE else "")


def can_take(
    server: allocation.Server,
    selectors: Sequence[allocation.Selector],
    actions: cap.Actions = cap.NO_ACTIONS,
) -> bool:
    """True when a member asking with ``selectors`` and ``actions`` could be given ``server``
    (as ``allocation.choose_by_capacity`` weighs it; no selector: any candidate)."""
    return any(
        allocation.matches(server.labels, selector.labels)
        and allocation.fits(server, selector.need, actions)
        for selector in selectors or [allocation.Selector()]
    )


def member_places(
    servers: Iterable[tuple[allocation.Server, str]],
    ready_clusters: Iterable[str],
    selectors: Sequence[allocation.Selector],
    actions: cap.Actions,
    same: Same,
) -> set[Place]:
    """The places where one member has a candidate; ``servers`` are (server, zone) pairs of
    the member's fleet."""
    usable = set(ready_clusters)
    return {
        place_of(server, zone, same)
        for server, zone in servers
        if server.cluster in usable and can_take(server, selectors, actions)
    }


def places(members: Mapping[str, set[Place]], preferred: Sequence[str] = ()) -> list[Place]:
    """The places where every member has a candidate, in the order to try them: preferred
    clusters first in their order, then by cluster and zone."""
    common: set[Place] | None = None
    for found in members.values():
        common = set(found) if common is None else common & found
    rank = {cluster: i for i, cluster in enumerate(dict.fromkeys(preferred))}
    return sorted(common or (), key=lambda p: (rank.get(p.cluster, len(rank)), p))


def first_missing(members: Mapping[str, set[Place]]) -> str | None:
    """The first member (in the group's order) with no place in common with those before it:
    the one no place can give; None when some place has every member."""
    common: set[Place] | None = None
    for name, found in members.items():
        common = set(found) if common is None else common & found
        if not common:
            return name
    return None
