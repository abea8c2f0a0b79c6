"""Which policy decides: chain order, schedules in and out of a chain, the webhook's review."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from gamefleet.v1 import autoscaler_pb2

from hub.core import documents
from hub.core.autoscaling import review
from hub.core.autoscaling.policy import Policy

from .scenarios import cluster, snapshot

BUFFER = {"type": "Buffer", "buffer": {"bufferSize": 5, "maxReplicas": 100}}
HOOK = {"type": "Webhook", "webhook": {"url": "http://127.0.0.1:9/scale"}}
EVENINGS = {
    "type": "Schedule",
    "schedule": {
        "activePeriod": {"timezone": "Europe/Paris", "startCron": "0 18 * * *", "duration": "4h"},
        "policy": {"type": "Buffer", "buffer": {"bufferSize": 50, "maxReplicas": 500}},
    },
}


def policy(doc: dict[str, Any]) -> Policy:
    return Policy.of(documents.from_document(doc, autoscaler_pb2.AutoscalerPolicy))


def paris(hour: int) -> float:
    zone = datetime.timezone(datetime.timedelta(hours=2))  # Paris in July
    return datetime.datetime(2025, 7, 10, hour, tzinfo=zone).timestamp()


def test_a_lone_buffer_always_applies() -> None:
    leaves = policy(BUFFER).applicable(paris(3))
    assert [leaf.name for leaf in leaves] == ["Buffer"]
    assert leaves[0].buffer is not None and leaves[0].buffer.buffer_size.number_value == 5


def test_a_lone_schedule_applies_only_while_active() -> None:
    evenings = policy(EVENINGS)
    assert [leaf.name for leaf in evenings.applicable(paris(19))] == ["Schedule/Buffer"]
    assert evenings.applicable(paris(12)) == []
    assert evenings.next_change(paris(12)) == paris(18)


def test_chain_entries_in_order_schedule_first_while_active() -> None:
    chain = policy(
        {
            "type": "Chain",
            "chain": [
                {"id": "evening", **EVENINGS},
                {"id": "hook", **HOOK},
                {"id": "default", **BUFFER},
            ],
        }
    )
    assert [leaf.name for leaf in chain.applicable(paris(19))] == [
        "Chain[evening]/Schedule/Buffer",
        "Chain[hook]/Webhook",
        "Chain[default]/Buffer",
    ]
    assert [leaf.name for leaf in chain.applicable(paris(12))] == [
        "Chain[hook]/Webhook",
        "Chain[default]/Buffer",
    ]
    assert len(chain.webhooks) == 1


def test_review_request_is_agones_shaped_with_the_clusters() -> None:
    state = snapshot(
        cluster("eu", allocated=4, assigned=10, region="eu", idle=6),
        cluster("us", allocated=1, assigned=3, region="us", idle=2),
        replicas=13,
    )
    body = review.request("u-1", state)
    assert body["request"]["status"] == {
        "replicas": 13,
        "readyReplicas": 8,
        "reservedReplicas": 0,
        "allocatedReplicas": 5,
    }
    assert body["request"]["clusters"][0] == {
        "name": "eu",
        "labels": {"region": "eu"},
        "phase": "Ready",
        "replicas": 10,
        "readyReplicas": 6,
        "allocatedReplicas": 4,
    }
    assert (body["request"]["uid"], body["request"]["name"]) == ("u-1", "arena")


def test_review_answer() -> None:
    def answer(doc: object) -> int | None:
        return review.answer("u-1", json.dumps(doc).encode(), 1000)

    assert answer({"response": {"uid": "u-1", "scale": True, "replicas": 42}}) == 42
    assert answer({"response": {"scale": False, "replicas": 42}}) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not JSON"),
        (b"[]", 'no "response" object'),
        (b'{"response": {"uid": "other", "scale": true, "replicas": 1}}', "uid"),
        (b'{"response": {"scale": "yes"}}', "scale must be a boolean"),
        (b'{"response": {"scale": true, "replicas": "3"}}', "replicas must be an integer"),
        (b'{"response": {"scale": true, "replicas": 5000}}', "between 0 and 1000"),
    ],
)
def test_review_refuses_bad_answers(body: bytes, message: str) -> None:
    with pytest.raises(review.ReviewError, match=message):
        review.answer("u-1", body, 1000)
