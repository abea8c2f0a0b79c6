"""The writer's patch for one GameServer: action + record in one guarded write."""

from __future__ import annotations

import json
from typing import Any

from agent.core import quality as q
from agent.quality import actions

NOW = "2026-01-01T00:00:00Z"
QUALITIES = q.parse_qualities(
    [{"name": "idle", "exec": {"command": ["cat", "state"]}, "serviceQualityAction": [
        {"state": True, "result": "idle", "opsState": "WaitToBeDeleted",
         "labels": {"gs-sync/delete-block": "false"}}]}]
)  # fmt: skip


def gs(result: str | None, record: str | None = None) -> dict[str, Any]:
    notes = {actions.RECORD_ANNOTATION: record} if record else {}
    conds = [{"name": "idle", "status": "True", "result": result}] if result is not None else []
    return {
        "metadata": {"name": "gs-0", "namespace": "ns", "resourceVersion": "7",
                     "annotations": notes},
        "status": {"serviceQualitiesConditions": conds},
    }  # fmt: skip


def test_first_outcome_fires_and_records() -> None:
    patch, decision = actions.plan(QUALITIES, gs("idle"), NOW)
    assert patch is not None and decision.fired == ("idle",)
    assert patch["spec"] == {"opsState": "WaitToBeDeleted"}
    assert patch["metadata"]["labels"] == {"gs-sync/delete-block": "false"}
    assert patch["metadata"]["resourceVersion"] == "7"
    record = json.loads(patch["metadata"]["annotations"][actions.RECORD_ANNOTATION])
    assert record == {"idle": {"actedAt": NOW, "result": "idle", "status": True}}


def test_recorded_outcome_writes_nothing() -> None:
    first, _ = actions.plan(QUALITIES, gs("idle"), NOW)
    assert first is not None
    recorded = first["metadata"]["annotations"][actions.RECORD_ANNOTATION]
    assert actions.plan(QUALITIES, gs("idle", recorded), NOW)[0] is None


def test_non_matching_outcome_is_recorded_without_action() -> None:
    patch, decision = actions.plan(QUALITIES, gs("busy"), NOW)
    assert patch is not None and decision.fired == ()
    assert "spec" not in patch and "labels" not in patch["metadata"]


def test_no_outcome_yet_writes_nothing() -> None:
    assert actions.plan(QUALITIES, gs(None), NOW)[0] is None
