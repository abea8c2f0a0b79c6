"""The shared body helpers: metadata, owner references, conditions, times, priorities."""

from __future__ import annotations

import pytest

from agent.core import bodies, intstr


def test_metadata_of_any_body() -> None:
    pod = {
        "metadata": {
            "name": "gs-1",
            "namespace": "games",
            "uid": "u1",
            "resourceVersion": "42",
            "generation": 3,
            "labels": {"a": "b"},
            "finalizers": ["f"],
            "deletionTimestamp": "2026-01-01T00:00:00Z",
            "ownerReferences": [{"kind": "GameServerSet", "uid": "set", "name": "gs"}],
        }
    }
    assert bodies.key(pod) == ("games", "gs-1")
    assert (bodies.uid(pod), bodies.resource_version(pod), bodies.generation(pod)) == (
        "u1",
        "42",
        3,
    )
    labels = bodies.labels_of(pod)
    labels["c"] = "d"  # a copy
    assert bodies.labels_of(pod) == {"a": "b"}
    assert bodies.annotations_of(pod) == {}
    assert bodies.finalizers(pod) == ["f"] and bodies.terminating(pod)
    assert bodies.owner_uid(pod, "GameServerSet") == "set"
    assert bodies.owner_uid(pod, "Pod") is None
    for nothing in (None, {}, {"metadata": None}, {"metadata": "x"}):
        assert bodies.meta(nothing) == {} and bodies.name(nothing) == ""


def test_one_owner_reference_builder() -> None:
    pod = {"metadata": {"name": "gs-1", "uid": "u1"}}
    assert bodies.owner_reference(pod, "Pod", "v1") == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "gs-1",
        "uid": "u1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    gss = {"apiVersion": "game.kruise.io/v1alpha1", "metadata": {"name": "gs", "uid": "s"}}
    assert bodies.owner_reference(gss, "GameServerSet", "x")["apiVersion"] == (
        "game.kruise.io/v1alpha1"
    )


def test_conditions_keep_their_transition_time_while_the_compared_fields_stay() -> None:
    old = [{"type": "A", "status": "False", "reason": "r1", "lastTransitionTime": "t0"}]
    same_status = [{"type": "A", "status": "False", "reason": "r2"}]
    assert bodies.with_times(same_status, old, "t1")[0]["lastTransitionTime"] == "t1"
    assert bodies.with_times(same_status, old, "t1", ("status",))[0]["lastTransitionTime"] == "t0"
    assert bodies.find_condition(old, "A") == old[0]
    assert bodies.find_condition(old, "B") is None
    assert bodies.find_condition(None, "A") is None


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2026-01-01T00:00:00Z", 1_767_225_600.0),
        ("2026-01-01T00:00:00.5Z", 1_767_225_600.5),
        ("2026-01-01T01:00:00+01:00", 1_767_225_600.0),
        ("2026-01-01T00:00:00", 1_767_225_600.0),  # no zone: UTC
        ("", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_one_rfc3339_parser(text: object, epoch: float | None) -> None:
    assert bodies.parse_time(text) == epoch


def test_one_rfc3339_format() -> None:
    assert bodies.rfc3339(1_767_225_600.9) == "2026-01-01T00:00:00Z"
    assert bodies.rfc3339(1_767_225_600.5, micro=True) == "2026-01-01T00:00:00.500000Z"
    assert bodies.parse_time(bodies.rfc3339(1_767_225_600.0)) == 1_767_225_600.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, 7), ("7", 7), (" -3 ", -3), ("high", 0), (None, 0), (True, 0), (2.5, 0)],
)
def test_one_priority_parser(value: object, expected: int) -> None:
    assert intstr.priority_value(value) == expected
