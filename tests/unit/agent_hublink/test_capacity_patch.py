"""The agent's commit of an allocation by capacity: state, bounds and actions, in one patch."""

from __future__ import annotations

import json
from typing import Any

from agent.hublink import translate
from okg import capacity as cap

DECLARED = json.dumps({"counters": {"rooms": {"capacity": 2}}})


def server(ops_state: str = "None", count: int | None = None, **extra: Any) -> dict[str, Any]:
    annotations = {cap.DECLARATION: DECLARED}
    if count is not None:
        annotations[cap.STATUS] = cap.status_text(cap.Capacity({"rooms": cap.Counter(count, 2)}))
    return {
        "metadata": {"name": "gs-0", "namespace": "games", "annotations": annotations, **extra},
        "spec": {"opsState": ops_state},
        "status": {"currentState": "Ready"},
    }


NEED = cap.Need(counters={"rooms": cap.CounterBounds(min_available=1)})
AGAIN = cap.Need(True, NEED.counters)
TAKE = cap.Actions({"rooms": cap.CounterChange(1)})


def test_a_ready_server_is_allocated_with_its_counter_raised() -> None:
    patch = translate.capacity_patch(server(), NEED, TAKE, "r1")
    assert patch is not None
    assert patch["spec"] == {"opsState": "Allocated"}
    written = cap.parse(patch["metadata"]["annotations"][cap.STATUS], "s", status=True)
    assert written.counters["rooms"] == cap.Counter(1, 2)
    assert written.requests == ("r1",)


def test_an_allocated_server_with_room_is_reallocated_until_full() -> None:
    assert translate.capacity_patch(server("Allocated", 1), AGAIN, TAKE, "r2") is not None
    assert translate.capacity_patch(server("Allocated", 2), AGAIN, TAKE, "r3") is None
    assert translate.capacity_patch(server("Allocated", 1), NEED, TAKE, "r2") is None
    assert translate.capacity_patch(server("None", 1), AGAIN, TAKE, "r2") is None
    gone = server("Allocated", 0, deletionTimestamp="2026-01-01T00:00:00Z")
    assert translate.capacity_patch(gone, AGAIN, TAKE, "r4") is None


def test_an_action_that_does_not_fit_is_refused() -> None:
    assert translate.capacity_patch(server("None", 2), cap.NO_NEED, TAKE, "r1") is None


def test_the_reported_server_carries_its_counters() -> None:
    reported = translate.game_server(server("Allocated", 1))
    assert reported.counters["rooms"].count == 1
    assert reported.counters["rooms"].capacity == 2
    plain = server()
    del plain["metadata"]["annotations"]
    assert not translate.game_server(plain).counters


def test_applied_requests_are_recognised() -> None:
    obj = server("Allocated", 1)
    obj["metadata"]["annotations"][cap.STATUS] = cap.status_text(
        cap.Capacity({"rooms": cap.Counter(1, 2)}, requests=("r1",))
    )
    assert translate.applied_request(obj, "r1")
    assert not translate.applied_request(obj, "r2")
