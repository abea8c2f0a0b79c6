"""GameServer state derivation and the pod metadata a GameServer dictates."""

from __future__ import annotations

import pytest

from agent.core import model, state, wire
from okg import vocabulary

from .sim import pod

S = vocabulary.GameServerState
P = model.PodPhase


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"deleting": True, "held_pre_delete": True}, S.DELETING, id="deleting-first"),
        pytest.param(
            {"held_pre_delete": True, "held_pre_update": True}, S.PRE_DELETE, id="pre-del"
        ),
        pytest.param(
            {"held_pre_update": True, "in_place_updating": True}, S.PRE_UPDATE, id="pre-up"
        ),
        pytest.param({"in_place_updating": True, "phase": P.FAILED}, S.UPDATING, id="updating"),
        pytest.param({"phase": P.FAILED, "ready": False}, S.CRASH, id="crash"),
        pytest.param({"phase": P.PENDING, "ready": None}, S.CREATING, id="creating"),
        pytest.param({"ready": True}, S.READY, id="ready"),
        pytest.param({"ready": False}, S.NOT_READY, id="not-ready"),
        pytest.param({"ready": None}, S.UNKNOWN, id="no-ready-condition"),
        pytest.param({"phase": P.SUCCEEDED, "ready": None}, S.UNKNOWN, id="succeeded"),
    ],
)
def test_derive_state(fields: dict[str, object], expected: vocabulary.GameServerState) -> None:
    assert state.derive_state(pod(0, **fields)) is expected


def test_desired_network_state_follows_network_disabled() -> None:
    assert state.desired_network_state(True) is vocabulary.NetworkState.NOT_READY
    assert state.desired_network_state(False) is vocabulary.NetworkState.READY


def test_pod_labels_carry_the_wire_protocol_and_gs_sync_labels() -> None:
    gs = model.GameServerView(
        name="gs-1",
        owner="gs",
        ops_state="Custom",
        update_priority="20",
        deletion_priority=7,
        network_disabled=True,
        labels={"gs-sync/delete-block": "false", "team": "a"},
    )
    assert state.pod_labels(gs, S.READY) == {
        "gs-sync/delete-block": "false",
        wire.OWNER_GSS: "gs",
        wire.GS_STATE: "Ready",
        wire.GS_OPS_STATE: "Custom",
        wire.GS_UPDATE_PRIORITY: "20",
        wire.GS_DELETE_PRIORITY: "7",
        wire.NETWORK_DISABLED: "true",
    }


def _with_players(players: int) -> model.GameServerView:
    declared = '{"counters": {"players": {"capacity": 10}}}'
    current = f'{{"counters": {{"players": {{"count": {players}, "capacity": 10}}}}}}'
    annotations = {"gamefleet.io/counters-lists": declared}
    if players >= 0:
        annotations["gamefleet.io/counters-lists-status"] = current
    return model.GameServerView(name="gs-1", owner="gs", annotations=annotations)


def test_a_server_with_players_labels_its_pod_and_loses_the_label_when_they_leave() -> None:
    labelled = state.pod_labels(_with_players(2), S.READY)
    assert labelled[wire.HOLDS_PLAYERS] == "true"
    for idle in (_with_players(0), _with_players(-1), model.GameServerView(name="g", owner="gs")):
        assert wire.HOLDS_PLAYERS not in state.pod_labels(idle, S.READY)
    left = state.pod_labels(_with_players(0), S.READY)
    assert state.label_changes(labelled, left) == {wire.HOLDS_PLAYERS: None}
    assert state.label_changes(left, labelled) == {wire.HOLDS_PLAYERS: "true"}
    assert state.label_changes(left, left) == {}


def test_wire_labels_win_over_gs_sync_labels_of_the_same_key() -> None:
    gs = model.GameServerView(name="gs-1", owner="gs", labels={"gs-sync/x": "1"})
    assert state.pod_labels(gs, S.READY)[wire.GS_OPS_STATE] == "None"


def test_only_gs_sync_annotations_reach_the_pod() -> None:
    gs = model.GameServerView(
        name="gs-1", owner="gs", annotations={"gs-sync/a": "1", "gs-syncx": "2", "other": "3"}
    )
    assert state.pod_annotations(gs) == {"gs-sync/a": "1"}


def test_changed_time_annotations_stamp_only_changed_labels() -> None:
    current = {wire.GS_OPS_STATE: "None", wire.GS_STATE: "Ready"}
    wanted = {wire.GS_OPS_STATE: "Allocated", wire.GS_STATE: "Ready"}
    now = "2025-01-01T00:00:00Z"
    assert state.changed_time_annotations(current, wanted, now) == {
        wire.OPS_STATE_LAST_CHANGED: now
    }


def test_pod_view_ops_reads_labels_leniently() -> None:
    labels = {
        wire.GS_OPS_STATE: "Bogus",
        wire.GS_UPDATE_PRIORITY: "x",
        wire.GS_DELETE_PRIORITY: "-3",
    }
    assert state.pod_view_ops(labels) == (vocabulary.OpsState.NONE, 0, -3)
    assert state.pod_view_ops({}) == (vocabulary.OpsState.NONE, 0, 0)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("web-3", 3),
        ("web-0", 0),
        ("web-03", None),
        ("web-x", None),
        ("web-extra-3", None),
        ("other-3", None),
        ("web-", None),
    ],
)
def test_ordinal_from_name(name: str, expected: int | None) -> None:
    assert state.ordinal_from_name("web", name) == expected


def test_new_game_server_starts_idle_with_the_template_metadata() -> None:
    gs = state.new_game_server("web", 4, {"app": "x"}, {"note": "y"})
    assert gs.name == state.game_server_name("web", 4) == "web-4"
    assert (gs.ops_state, gs.update_priority, gs.deletion_priority) == ("None", 0, 0)
    assert gs.network_disabled is False
    assert gs.labels == {"app": "x", wire.OWNER_GSS: "web"}
    assert gs.annotations == {"note": "y"}


@pytest.mark.parametrize(
    ("held_pre_delete", "held_pre_update", "updating", "marks", "ready"),
    [
        (False, False, False, (True, True), True),
        (True, False, False, (True, False), False),
        (True, False, False, (False, True), True),
        (False, True, False, (False, True), False),
        (False, False, True, (False, True), False),
        (False, True, False, (True, False), True),
    ],
)
def test_kruise_pod_ready_is_false_only_in_the_phase_of_a_hook_that_marks(
    held_pre_delete: bool,
    held_pre_update: bool,
    updating: bool,
    marks: tuple[bool, bool],
    ready: bool,
) -> None:
    view = pod(
        0,
        held_pre_delete=held_pre_delete,
        held_pre_update=held_pre_update,
        in_place_updating=updating,
    )
    assert state.kruise_pod_ready(view, *marks) is ready
