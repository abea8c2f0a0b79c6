"""Counters and lists: the declaration, the status annotation, bounds and actions."""

from __future__ import annotations

import json

import pytest

from okg import capacity as cap

DECLARED = json.dumps(
    {"counters": {"rooms": {"capacity": 10}}, "lists": {"players": {"capacity": 2}}}
)


def test_declaration_parses_counters_and_lists() -> None:
    found = cap.parse(DECLARED, "d")
    assert found.counters == {"rooms": cap.Counter(0, 10)}
    assert found.lists == {"players": cap.CounterList(2, ())}


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ("nope", "d"),
        ("[]", "d"),
        ('{"counter": {}}', "d.counter"),
        ('{"counters": {"a b": {}}}', 'd.counters["a b"]'),
        ('{"counters": {"rooms": {"capacity": -1}}}', 'd.counters["rooms"].capacity'),
        ('{"counters": {"rooms": {"capacity": "3"}}}', 'd.counters["rooms"].capacity'),
        ('{"counters": {"rooms": {"count": 4, "capacity": 3}}}', 'd.counters["rooms"].count'),
        ('{"counters": {"rooms": {"size": 3}}}', 'd.counters["rooms"].size'),
        ('{"lists": {"p": {"capacity": 1001}}}', 'd.lists["p"].capacity'),
        ('{"lists": {"p": {"capacity": 1, "values": ["a", "b"]}}}', 'd.lists["p"].values'),
        ('{"lists": {"p": {"capacity": 3, "values": ["a", "a"]}}}', 'd.lists["p"].values'),
        ('{"lists": {"p": {"capacity": 3, "values": [""]}}}', 'd.lists["p"].values[0]'),
    ],
)
def test_a_bad_declaration_names_its_field(doc: str, path: str) -> None:
    with pytest.raises(cap.CapacityError) as raised:
        cap.parse(doc, "d")
    assert raised.value.path == path


def test_too_many_names_are_refused() -> None:
    doc = json.dumps({"counters": {f"c{i}": {"capacity": 1} for i in range(17)}})
    with pytest.raises(cap.CapacityError, match="at most 16"):
        cap.parse(doc, "d")


def test_current_values_come_from_the_status_over_the_declaration() -> None:
    status = cap.status_text(
        cap.Capacity(
            {"rooms": cap.Counter(3, 10), "undeclared": cap.Counter(1, 1)},
            {"players": cap.CounterList(2, ("p1",))},
            ("r1",),
        )
    )
    found = cap.current({cap.DECLARATION: DECLARED, cap.STATUS: status})
    assert found == cap.Capacity(
        {"rooms": cap.Counter(3, 10)}, {"players": cap.CounterList(2, ("p1",))}, ("r1",)
    )
    assert cap.current({}) is None
    assert cap.current({cap.DECLARATION: DECLARED, cap.STATUS: "garbage"}) == cap.parse(
        DECLARED, "d"
    )


def test_within_checks_every_bound() -> None:
    held = cap.Capacity({"rooms": cap.Counter(3, 10)}, {"players": cap.CounterList(2, ("a",))})
    assert cap.within(held, cap.Need(counters={"rooms": cap.CounterBounds(min_available=7)}))
    assert not cap.within(held, cap.Need(counters={"rooms": cap.CounterBounds(min_available=8)}))
    assert cap.within(held, cap.Need(counters={"rooms": cap.CounterBounds(max_count=3)}))
    assert not cap.within(held, cap.Need(counters={"rooms": cap.CounterBounds(max_count=2)}))
    assert not cap.within(held, cap.Need(counters={"other": cap.CounterBounds()}))
    assert cap.within(held, cap.Need(lists={"players": cap.ListBounds("a", 1)}))
    assert not cap.within(held, cap.Need(lists={"players": cap.ListBounds("b")}))
    assert not cap.within(None, cap.Need(counters={"rooms": cap.CounterBounds()}))
    assert cap.within(None, cap.Need(allocated=True))


def test_actions_apply_all_or_nothing() -> None:
    held = cap.Capacity({"rooms": cap.Counter(9, 10)}, {"players": cap.CounterList(2, ("a",))})
    after = cap.apply(
        held,
        cap.Actions(
            {"rooms": cap.CounterChange(1)}, {"players": cap.ListChange(("b", "a"), ("x",))}
        ),
        "r1",
    )
    assert after.counters["rooms"] == cap.Counter(10, 10)
    assert after.lists["players"].values == ("a", "b")
    assert after.requests == ("r1",)
    with pytest.raises(cap.CapacityError) as raised:
        cap.apply(held, cap.Actions({"rooms": cap.CounterChange(2)}))
    assert raised.value.path == 'counters["rooms"].delta'
    with pytest.raises(cap.CapacityError):
        cap.apply(held, cap.Actions({"rooms": cap.CounterChange(-10)}))
    with pytest.raises(cap.CapacityError):
        cap.apply(held, cap.Actions(lists={"players": cap.ListChange(("b", "c"))}))
    with pytest.raises(cap.CapacityError):
        cap.apply(held, cap.Actions({"seats": cap.CounterChange(1)}))
    raised_capacity = cap.apply(held, cap.Actions({"rooms": cap.CounterChange(5, capacity=20)}))
    assert raised_capacity.counters["rooms"] == cap.Counter(14, 20)


def test_recent_requests_are_bounded() -> None:
    held = cap.Capacity({"rooms": cap.Counter(0, 100)})
    for i in range(cap.RECENT_REQUESTS + 3):
        held = cap.apply(held, cap.Actions({"rooms": cap.CounterChange(1)}), f"r{i}")
    assert len(held.requests) == cap.RECENT_REQUESTS
    assert held.requests[-1] == f"r{cap.RECENT_REQUESTS + 2}"
    assert cap.parse(cap.status_text(held), "s", status=True).requests == held.requests


def test_in_use_means_a_count_or_a_value() -> None:
    assert not cap.Capacity({"rooms": cap.Counter(0, 3)}).in_use()
    assert cap.Capacity({"rooms": cap.Counter(1, 3)}).in_use()
    assert cap.Capacity(lists={"p": cap.CounterList(3, ("a",))}).in_use()


def test_the_games_edits() -> None:
    held = cap.Capacity({"rooms": cap.Counter(3, 10)}, {"players": cap.CounterList(2, ("a",))})
    assert cap.edit(held, "counters", "rooms", {"delta": 2}).counters["rooms"].count == 5
    assert cap.edit(held, "counters", "rooms", {"count": 0}).counters["rooms"].count == 0
    assert cap.edit(held, "counters", "rooms", {"capacity": 4}).counters["rooms"].capacity == 4
    after = cap.edit(held, "lists", "players", {"add": ["b"], "remove": ["a"]})
    assert after.lists["players"].values == ("b",)
    assert after.counters == held.counters


@pytest.mark.parametrize(
    ("kind", "name", "body", "path"),
    [
        ("counters", "rooms", {"delta": 8}, "body"),
        ("counters", "rooms", {"delta": "1"}, "body.delta"),
        ("counters", "rooms", {"count": -1}, "body.count"),
        ("counters", "rooms", {"delta": 1, "count": 1}, "body.count"),
        ("counters", "rooms", {"size": 1}, "body.size"),
        ("counters", "rooms", [], "body"),
        ("lists", "players", {"add": ["b", "c"]}, "body.add"),
        ("lists", "players", {"add": [""]}, "body.add[0]"),
        ("lists", "players", {"capacity": 5000}, "body.capacity"),
    ],
)
def test_a_bad_edit_names_the_field(kind: str, name: str, body: object, path: str) -> None:
    held = cap.Capacity({"rooms": cap.Counter(3, 10)}, {"players": cap.CounterList(2, ("a",))})
    with pytest.raises(cap.CapacityError) as raised:
        cap.edit(held, kind, name, body)
    assert raised.value.path == path
    assert not isinstance(raised.value, cap.NotDeclaredError)


def test_an_undeclared_name_is_not_found() -> None:
    with pytest.raises(cap.NotDeclaredError):
        cap.edit(cap.Capacity({"rooms": cap.Counter(0, 1)}), "counters", "seats", {"delta": 1})
    with pytest.raises(cap.NotDeclaredError):
        cap.edit(None, "lists", "players", {"add": ["a"]})


def test_the_pod_view_reads_a_server_in_use_from_its_counters() -> None:
    from agent.core import views

    declared = json.dumps({"counters": {"players": {"capacity": 8}}})

    def game_server(count: int) -> dict[str, object]:
        status = cap.status_text(cap.Capacity({"players": cap.Counter(count, 8)}))
        annotations = {cap.DECLARATION: declared, cap.STATUS: status}
        return {"metadata": {"name": "gs-0", "annotations": annotations}, "spec": {}}

    pod = {"metadata": {"name": "gs-0"}, "status": {"phase": "Running"}}
    assert views.pod_view(pod, 0, game_server(2), {}).in_use
    assert not views.pod_view(pod, 0, game_server(0), {}).in_use
    assert not views.pod_view(pod, 0, None, {}).in_use


def test_fits_agrees_with_apply() -> None:
    import random

    pick = random.Random(7)
    for _ in range(500):
        held = cap.Capacity(
            {"rooms": cap.Counter(pick.randrange(0, 4), 3)},
            {"p": cap.CounterList(3, tuple(pick.sample("abcd", pick.randrange(0, 4))))},
        )
        actions = cap.Actions(
            {pick.choice(["rooms", "seats"]): cap.CounterChange(pick.randrange(-4, 4))},
            {"p": cap.ListChange(tuple(pick.sample("abcde", 2)), tuple(pick.sample("ab", 1)))},
        )
        try:
            cap.apply(held, actions)
            applied = True
        except cap.CapacityError:
            applied = False
        assert cap.fits(held, actions) == applied
