"""Server groups: the places (cluster, or zone of a cluster) where every member has a
candidate, in the order they are tried, and the member no place can give."""

from __future__ import annotations

from hub.core.allocation import Selector, Server
from hub.core.groups import (
    Place,
    Same,
    first_missing,
    member_places,
    member_request_id,
    places,
)
from okg import capacity as cap

READY = ["a", "b", "c"]


def spots(same: Same, *servers: tuple[Server, str], **selector: str) -> set[Place]:
    return member_places(servers, READY, [Selector(selector)], cap.NO_ACTIONS, same)


def test_a_cluster_where_every_member_has_a_candidate() -> None:
    game = spots(Same.CLUSTER, (Server("a", "g-0"), ""), (Server("b", "g-1"), ""))
    voice = spots(Same.CLUSTER, (Server("b", "v-0"), ""), (Server("c", "v-1"), ""))
    assert places({"game": game, "voice": voice}) == [Place("b")]
    assert first_missing({"game": game, "voice": voice}) is None


def test_only_candidates_count() -> None:
    """Allocated, not Ready, deleting servers and servers of clusters not Ready are not
    candidates, nor servers the member's selector does not match."""
    game = spots(
        Same.CLUSTER,
        (Server("a", "g-0", ops_state="Allocated"), ""),
        (Server("b", "g-1", state="Scheduled"), ""),
        (Server("c", "g-2", deleting=True), ""),
        (Server("gone", "g-3"), ""),
        (Server("a", "g-4", labels={"mode": "duel"}), ""),
        mode="ffa",
    )
    assert game == set()


def test_the_zone_constraint_needs_one_zone_of_one_cluster() -> None:
    game = spots(Same.ZONE, (Server("a", "g-0"), "z1"), (Server("b", "g-1"), "z1"))
    voice = spots(Same.ZONE, (Server("a", "v-0"), "z2"), (Server("b", "v-1"), "z1"))
    assert places({"game": game, "voice": voice}) == [Place("b", "z1")]
    # The same servers fit together in either cluster when only the cluster counts.
    game = spots(Same.CLUSTER, (Server("a", "g-0"), "z1"), (Server("b", "g-1"), "z1"))
    voice = spots(Same.CLUSTER, (Server("a", "v-0"), "z2"), (Server("b", "v-1"), "z1"))
    assert places({"game": game, "voice": voice}) == [Place("a"), Place("b")]


def test_preferred_clusters_are_tried_first_then_by_name() -> None:
    everywhere = {Place("a"), Place("b"), Place("c")}
    found = {"game": everywhere, "voice": everywhere}
    assert places(found, ["c", "b"]) == [Place("c"), Place("b"), Place("a")]
    assert places(found) == [Place("a"), Place("b"), Place("c")]


def test_the_member_no_place_can_give_is_named() -> None:
    found = {"game": {Place("a"), Place("b")}, "voice": {Place("b")}, "relay": {Place("a")}}
    assert places(found) == []
    assert first_missing(found) == "relay"
    assert first_missing({"game": set(), "voice": {Place("a")}}) == "game"


def test_a_member_by_capacity_needs_room() -> None:
    full = cap.Capacity({"rooms": cap.Counter(4, 4)})
    room = cap.Capacity({"rooms": cap.Counter(1, 4)})
    need = cap.Need(allocated=True, counters={"rooms": cap.CounterBounds(min_available=1)})
    servers = [
        (Server("a", "g-0", ops_state="Allocated", capacity=full), ""),
        (Server("b", "g-1", ops_state="Allocated", capacity=room), ""),
    ]
    take = cap.Actions({"rooms": cap.CounterChange(1)})
    found = member_places(servers, READY, [Selector({}, need)], take, Same.CLUSTER)
    assert found == {Place("b")}


def test_a_member_request_id_never_collides_with_a_single_one() -> None:
    assert member_request_id("match-1", "voice") == "match-1/voice"
