"""The allocation ledger's rules, state in and decision out."""

from __future__ import annotations

import pytest

from agent.core import ledger
from agent.core.ledger import Decision, Entry, Server

READY = Server(state="Ready", ops_state="None")


@pytest.mark.parametrize(
    ("server", "entry", "busy", "expected"),
    [
        (READY, None, False, Decision.TAKE),
        (Server("Ready", ""), None, False, Decision.TAKE),
        (READY, None, True, Decision.CONFLICT),
        (Server("Ready", "None", deleting=True), None, False, Decision.CONFLICT),
        (Server("NotReady", "None"), None, False, Decision.CONFLICT),
        (Server("Ready", "Maintaining"), None, False, Decision.CONFLICT),
        (Server("Ready", "custom-state"), None, False, Decision.CONFLICT),
        (Server("Ready", "Allocated", request_id="r1"), None, False, Decision.HELD),
        (Server("Ready", "Allocated", request_id="r2"), None, False, Decision.CONFLICT),
        (Server("Ready", "Allocated"), None, False, Decision.CONFLICT),
        (READY, Entry("r1"), False, Decision.HELD),
        (READY, Entry("r1"), True, Decision.HELD),
        (READY, Entry("r2"), False, Decision.CONFLICT),
        (None, Entry("r1"), False, Decision.HELD),
        (None, None, False, Decision.CONFLICT),
    ],
)
def test_which_allocation_may_take_a_server(
    server: Server | None, entry: Entry | None, busy: bool, expected: Decision
) -> None:
    assert ledger.decide_allocation(server, entry, busy, "r1") is expected


@pytest.mark.parametrize(
    ("server", "entry", "expected"),
    [
        (Server("Ready", "Allocated", request_id="r1"), None, Decision.TAKE),
        (Server("Ready", "Allocated", request_id="r2"), None, Decision.CONFLICT),
        (READY, None, Decision.CONFLICT),
        (READY, Entry("r1"), Decision.TAKE),
        (READY, Entry("r2"), Decision.CONFLICT),
        (None, None, Decision.CONFLICT),
    ],
)
def test_only_the_requests_own_allocation_is_given_back(
    server: Server | None, entry: Entry | None, expected: Decision
) -> None:
    assert ledger.decide_release(server, entry, "r1") is expected


def test_an_entry_ends_once_its_game_server_says_the_same_or_is_gone() -> None:
    entry = Entry("r1")
    assert ledger.caught_up(entry, Server("Ready", "Allocated", request_id="r1"))
    assert ledger.caught_up(entry, None)
    assert not ledger.caught_up(entry, READY)
    assert not ledger.caught_up(entry, Server("Ready", "Allocated", request_id="r2"))


def test_entries_round_trip_and_garbage_is_not_an_entry() -> None:
    entry = Entry("r1", {"match": "m1"}, {"players": "8"}, 1700000000.125)
    assert Entry.decode(entry.encode()) == entry
    for garbage in ("", "{", "[]", '{"labels": {}}', '{"requestId": "r", "labels": 3}'):
        assert Entry.decode(garbage) is None


def test_an_entry_too_large_for_the_ledger_is_refused() -> None:
    assert ledger.entry_problem(Entry("r1", {"a": "b"})) is None
    huge = Entry("r1", annotations={"note": "x" * ledger.MAX_ENTRY_BYTES})
    problem = ledger.entry_problem(huge)
    assert problem is not None and "bytes" in problem
