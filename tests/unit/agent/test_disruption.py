"""The Allocated servers' disruption budget, state in / state out."""

from __future__ import annotations

from typing import Any

from agent.core import disruption
from okg import vocabulary

SET: dict[str, Any] = {
    "apiVersion": vocabulary.API_VERSION,
    "kind": "GameServerSet",
    "metadata": {"name": "arena", "namespace": "games", "uid": "u-1"},
}


def test_the_budget_selects_the_sets_allocated_pods_and_allows_no_eviction() -> None:
    body = disruption.budget_body(SET)
    assert body["metadata"]["name"] == "arena-allocated"
    assert body["metadata"]["namespace"] == "games"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert body["spec"] == {
        "maxUnavailable": 0,
        "selector": {
            "matchLabels": {
                "game.kruise.io/owner-gss": "arena",
                "game.kruise.io/gs-opsState": "Allocated",
            }
        },
    }


def test_a_second_budget_selects_the_sets_pods_holding_players() -> None:
    assert list(disruption.budget_specs("arena")) == ["arena-allocated", "arena-players"]
    body = disruption.budget_body(SET, "arena-players")
    assert body["metadata"]["name"] == "arena-players"
    assert body["metadata"]["labels"] == {disruption.LABEL: "arena"}
    assert body["spec"] == {
        "maxUnavailable": 0,
        "selector": {
            "matchLabels": {
                "game.kruise.io/owner-gss": "arena",
                "gamefleet.io/holds-players": "true",
            }
        },
    }
    assert not disruption.needs_write(SET, body, "arena-players")
    assert disruption.needs_write(SET, disruption.budget_body(SET), "arena-players")


def test_a_missing_or_changed_budget_is_written_an_intact_one_is_not() -> None:
    intact = disruption.budget_body(SET)
    assert disruption.needs_write(SET, None)
    assert not disruption.needs_write(SET, intact)
    loosened = {**intact, "spec": {**intact["spec"], "maxUnavailable": 1}}
    assert disruption.needs_write(SET, loosened)
    widened = {**intact, "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {}}}}
    assert disruption.needs_write(SET, widened)
    both = {**intact, "spec": {**intact["spec"], "minAvailable": 1}}
    assert disruption.needs_write(SET, both)


def test_a_set_being_deleted_gets_no_budget() -> None:
    deleting = {**SET, "metadata": {**SET["metadata"], "deletionTimestamp": "2026-12-01T00:00:00Z"}}
    assert not disruption.needs_write(deleting, None)
