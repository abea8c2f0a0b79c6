"""Allocation by capacity: choice by counter, re-allocation, actions that must fit."""

from __future__ import annotations

from hub.core.allocation import Scheduling, Selector, Server, choose_by_capacity
from okg import capacity as cap


def rooms(cluster: str, name: str, count: int, size: int = 10, **fields: object) -> Server:
    held = cap.Capacity({"rooms": cap.Counter(count, size)})
    return Server(cluster, name, capacity=held, **fields)  # type: ignore[arg-type]


NEED_ROOM = cap.Need(counters={"rooms": cap.CounterBounds(min_available=1)})
TAKE_ROOM = cap.Actions({"rooms": cap.CounterChange(1)})


def test_packed_takes_the_least_room_first_distributed_the_most() -> None:
    servers = [rooms("a", "gs-0", 2), rooms("a", "gs-1", 8), rooms("b", "gs-2", 5)]
    selectors = [Selector({}, NEED_ROOM)]
    packed = choose_by_capacity(servers, ["a", "b"], selectors, TAKE_ROOM)
    spread = choose_by_capacity(
        servers, ["a", "b"], selectors, TAKE_ROOM, scheduling=Scheduling.DISTRIBUTED
    )
    assert packed is not None and packed.name == "gs-1"
    assert spread is not None and spread.name == "gs-0"


def test_a_full_server_is_never_chosen() -> None:
    servers = [rooms("a", "gs-0", 10), rooms("a", "gs-1", 9)]
    best = choose_by_capacity(servers, ["a"], [Selector({}, NEED_ROOM)], TAKE_ROOM)
    assert best is not None and best.name == "gs-1"
    assert choose_by_capacity(servers[:1], ["a"], [Selector({}, NEED_ROOM)], TAKE_ROOM) is None
    # Without a bound, the action alone must still fit.
    assert choose_by_capacity(servers[:1], ["a"], [Selector()], TAKE_ROOM) is None


def test_allocated_servers_are_taken_only_when_asked() -> None:
    allocated = rooms("a", "gs-0", 4, ops_state="Allocated")
    ready = rooms("a", "gs-1", 0)
    again = cap.Need(True, {"rooms": cap.CounterBounds(min_available=1)})
    first = choose_by_capacity([allocated, ready], ["a"], [Selector({}, again)], TAKE_ROOM)
    assert first is not None and first.name == "gs-0"
    plain = choose_by_capacity([allocated, ready], ["a"], [Selector({}, NEED_ROOM)], TAKE_ROOM)
    assert plain is not None and plain.name == "gs-1"
    # Allocated first, Ready when no Allocated server has room: the usual pair of selectors.
    full = rooms("a", "gs-0", 10, ops_state="Allocated")
    pair = [Selector({}, again), Selector({}, NEED_ROOM)]
    fallback = choose_by_capacity([full, ready], ["a"], pair, TAKE_ROOM)
    assert fallback is not None and fallback.name == "gs-1"
    deleting = rooms("a", "gs-2", 0, ops_state="Allocated", deleting=True)
    assert choose_by_capacity([deleting], ["a"], [Selector({}, again)]) is None


def test_labels_bounds_reserved_tried_and_clusters_are_honoured() -> None:
    servers = [
        rooms("a", "gs-0", 9, labels={"mode": "duel"}),
        rooms("a", "gs-1", 1, labels={"mode": "ffa"}),
        rooms("b", "gs-2", 8, labels={"mode": "ffa"}),
    ]
    ffa = [Selector({"mode": "ffa"}, NEED_ROOM)]
    best = choose_by_capacity(servers, ["a", "b"], ffa, TAKE_ROOM)
    assert best is not None and best.key == ("b", "gs-2")
    skipped = choose_by_capacity(servers, ["a", "b"], ffa, TAKE_ROOM, reserved=[("b", "gs-2")])
    assert skipped is not None and skipped.key == ("a", "gs-1")
    assert choose_by_capacity(servers, ["a"], ffa, TAKE_ROOM, tried=[("a", "gs-1")]) is None
    preferred = choose_by_capacity(servers, ["a", "b"], ffa, TAKE_ROOM, preferred=["a"])
    assert preferred is not None and preferred.key == ("a", "gs-1")
    few = [Selector({}, cap.Need(counters={"rooms": cap.CounterBounds(max_available=1)}))]
    only = choose_by_capacity(servers, ["a", "b"], few, TAKE_ROOM)
    assert only is not None and only.name == "gs-0"


def test_a_server_without_the_counter_is_not_a_candidate() -> None:
    bare = Server("a", "gs-0")
    assert choose_by_capacity([bare], ["a"], [Selector({}, NEED_ROOM)]) is None
    assert choose_by_capacity([bare], ["a"], [Selector()], TAKE_ROOM) is None


def test_lists_order_and_fit() -> None:
    def players(name: str, values: tuple[str, ...]) -> Server:
        return Server("a", name, capacity=cap.Capacity(lists={"p": cap.CounterList(3, values)}))

    servers = [players("gs-0", ()), players("gs-1", ("x", "y")), players("gs-2", ("x", "y", "z"))]
    join = cap.Actions(lists={"p": cap.ListChange(("new",))})
    need = cap.Need(lists={"p": cap.ListBounds(min_available=1)})
    best = choose_by_capacity(servers, ["a"], [Selector({}, need)], join)
    assert best is not None and best.name == "gs-1"
    holding = cap.Need(lists={"p": cap.ListBounds(contains="z")})
    assert choose_by_capacity(servers, ["a"], [Selector({}, holding)], join) is None


def test_the_pool_chooses_as_the_reference_does() -> None:
    import itertools
    import random

    from hub.core.allocation import Pool

    again = cap.Need(True, {"rooms": cap.CounterBounds(min_available=1)})
    shapes = [
        [Selector({}, again), Selector({}, NEED_ROOM)],
        [Selector({"mode": "ffa"}, NEED_ROOM)],
        [Selector({}, again)],
        [Selector()],
    ]
    for seed in range(40):
        pick = random.Random(seed)
        servers = [
            rooms(
                pick.choice("abc"),
                f"gs-{i}",
                pick.randrange(0, 5),
                size=4,
                ops_state=pick.choice(["None", "Allocated", "Maintaining"]),
                node=pick.choice(["n1", "n2"]),
                labels={"mode": pick.choice(["ffa", "duel"])},
            )
            for i in range(12)
        ]
        pool = Pool()
        for server in servers:
            pool.put(server)
        reserved = [s.key for s in pick.sample(servers, 2)]
        for selectors, scheduling, preferred in itertools.product(shapes, Scheduling, [(), ("c",)]):
            args = (["a", "b", "c"], selectors, TAKE_ROOM, scheduling, preferred, reserved)
            assert pool.best_by_capacity(*args) == choose_by_capacity(servers, *args)
