"""Every field of a FleetAutoscaler is checked and named as the YAML spells it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from gamefleet.v1 import autoscaler_pb2

from hub.core import documents
from hub.core.autoscaling.validation import validate

VALID: dict[str, Any] = {
    "metadata": {"name": "arena", "namespace": "games"},
    "spec": {
        "fleetName": "arena",
        "policy": {
            "type": "Chain",
            "chain": [
                {
                    "id": "evening",
                    "type": "Schedule",
                    "schedule": {
                        "between": {"start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
                        "activePeriod": {
                            "timezone": "Europe/Paris",
                            "startCron": "0 18 * * *",
                            "duration": "4h",
                        },
                        "policy": {
                            "type": "Buffer",
                            "buffer": {"bufferSize": "10%", "minReplicas": 5, "maxReplicas": 500},
                        },
                    },
                },
                {
                    "id": "hook",
                    "type": "Webhook",
                    "webhook": {"url": "https://scaler.example/", "timeout": "2s"},
                },
                {
                    "id": "default",
                    "type": "Buffer",
                    "buffer": {
                        "bufferSize": 20,
                        "minReplicas": 0,
                        "maxReplicas": 1000,
                        "perClusterLabel": "region",
                    },
                },
            ],
        },
        "behavior": {
            "scaleDown": {"stabilizationWindow": "60s", "maxStep": 50},
            "scaleUp": {"maxStep": 0},
        },
        "sync": {"type": "Events", "minInterval": "0.1s"},
    },
}


def problems(doc: dict[str, Any]) -> list[str]:
    return [str(p) for p in validate(documents.from_document(doc, autoscaler_pb2.FleetAutoscaler))]


def with_field(path: list[str | int], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return doc


def test_the_full_example_is_valid() -> None:
    assert problems(VALID) == []


CHAIN = ["spec", "policy", "chain"]
DEFAULT = [*CHAIN, 2, "buffer"]
EVENING = [*CHAIN, 0, "schedule"]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["metadata", "name"], "Arena", 'metadata.name: "Arena" is not a valid DNS-1123 label'),
        (["spec", "fleetName"], "", "spec.fleetName: is required"),
        (["spec", "policy", "type"], "Magic", 'spec.policy.type: "Magic" is not one of'),
        (
            [*DEFAULT, "bufferSize"],
            0,
            "spec.policy.chain[2].buffer.bufferSize: 0 must be at least 1",
        ),
        (
            [*DEFAULT, "bufferSize"],
            "100%",
            'bufferSize: "100%" must be a percentage from 1% to 99%',
        ),
        ([*DEFAULT, "bufferSize"], "lots", 'bufferSize: "lots" must be a count'),
        ([*DEFAULT, "maxReplicas"], 0, "chain[2].buffer.maxReplicas: 0 must be between 1 and"),
        ([*DEFAULT, "maxReplicas"], 10, "chain[2].buffer.maxReplicas: 10 is below bufferSize (20)"),
        ([*DEFAULT, "minReplicas"], -1, "chain[2].buffer.minReplicas: -1 is negative"),
        ([*DEFAULT, "perClusterLabel"], "a b", "chain[2].buffer.perClusterLabel: name part"),
        ([*CHAIN, 1, "webhook", "url"], "ftp://x", 'chain[1].webhook.url: "ftp://x" is not an'),
        ([*CHAIN, 1, "webhook", "timeout"], "0s", "chain[1].webhook.timeout: must be from 0.1s"),
        ([*CHAIN, 1, "webhook", "caBundle"], "bm9wZQ==", "chain[1].webhook.caBundle: holds no PEM"),
        ([*CHAIN, 1, "id"], "evening", 'chain[1].id: "evening" is used twice'),
        ([*CHAIN, 1, "type"], "Chain", 'chain[1].type: "Chain" is not one of'),
        ([*EVENING, "activePeriod", "timezone"], "Mars/Olympus", 'activePeriod.timezone: "Mars'),
        ([*EVENING, "activePeriod", "startCron"], "0 25 * * *", "startCron: hour: 25"),
        ([*EVENING, "activePeriod", "duration"], "4 hours", 'activePeriod.duration: "4 hours"'),
        ([*EVENING, "between", "end"], "2024-01-01T00:00:00Z", "between.end: must be after"),
        ([*EVENING, "policy", "type"], "Schedule", 'schedule.policy.type: "Schedule" is not one'),
        (
            [*EVENING, "policy", "buffer", "minReplicas"],
            0,
            "minReplicas: must be at least 1 with a percentage bufferSize",
        ),
        (
            ["spec", "behavior", "scaleDown", "stabilizationWindow"],
            "7200s",
            "spec.behavior.scaleDown.stabilizationWindow: must be from 0s to 3600s",
        ),
        (["spec", "behavior", "scaleUp", "maxStep"], -3, "spec.behavior.scaleUp.maxStep: -3"),
        (["spec", "sync", "type"], "Polling", 'spec.sync.type: "Polling" is not one of'),
        (["spec", "sync", "interval"], "30s", "spec.sync.interval: applies to type FixedInterval"),
        (["spec", "sync", "minInterval"], "0s", "spec.sync.minInterval: must be from 0.01s"),
    ],
)
def test_each_bad_field_is_named(path: list[str | int], value: Any, message: str) -> None:
    found = problems(with_field(path, value))
    assert any(message in p for p in found), found


def test_a_policy_field_of_another_type_is_refused() -> None:
    doc = with_field(
        ["spec", "policy"],
        {
            "type": "Buffer",
            "buffer": {"bufferSize": 1, "maxReplicas": 2},
            "webhook": {"url": "http://x/"},
        },
    )
    assert problems(doc) == ["spec.policy.webhook: is set, but type is Buffer"]


def test_every_problem_is_reported_at_once() -> None:
    doc = with_field(["spec", "fleetName"], "")
    doc["spec"]["sync"] = {"type": "FixedInterval", "minInterval": "1s"}
    found = problems(doc)
    assert "spec.fleetName: is required" in found
    assert "spec.sync.minInterval: applies to type Events only" in found
