"""Messages to documents and back, with errors that name the field."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from gamefleet.v1 import fleet_pb2, gameserverset_pb2

from hub.core import documents, errors

from .fleets import FULL_FLEET, MINIMAL_FLEET, set_at


@pytest.mark.parametrize("doc", [FULL_FLEET, MINIMAL_FLEET])
def test_round_trip(doc: dict[str, Any]) -> None:
    parsed = documents.from_document(doc, fleet_pb2.Fleet)
    assert documents.to_document(parsed) == doc


def test_whole_numbers_come_back_as_ints() -> None:
    spec = gameserverset_pb2.GameServerSetSpec()
    spec.reserve_game_server_ids.add().number_value = 3
    spec.reserve_game_server_ids.add().number_value = 2.5
    spec.game_server_template.update({"spec": {"nested": [{"port": 7777}]}})
    doc = documents.to_document(spec)
    assert doc["reserveGameServerIds"] == [3, 2.5]
    assert isinstance(doc["reserveGameServerIds"][0], int)
    assert doc["gameServerTemplate"] == {"spec": {"nested": [{"port": 7777}]}}
    assert isinstance(doc["gameServerTemplate"]["spec"]["nested"][0]["port"], int)


def test_field_presence_is_kept() -> None:
    spec = gameserverset_pb2.GameServerSetSpec()
    spec.update_strategy.rolling_update.partition = 0
    assert documents.to_document(spec) == {"updateStrategy": {"rollingUpdate": {"partition": 0}}}
    assert documents.to_document(gameserverset_pb2.GameServerSetSpec()) == {}


def test_from_document_accepts_whole_floats_and_proto_names() -> None:
    parsed = documents.from_document(
        {"spec": {"replicas": 3.0, "update_policy": {"type": "Parallel"}}}, fleet_pb2.Fleet
    )
    assert parsed.spec.replicas == 3
    assert parsed.spec.update_policy.type == "Parallel"


def test_null_leaves_a_field_unset() -> None:
    parsed = documents.from_document({"spec": {"placement": None}}, fleet_pb2.Fleet)
    assert not parsed.spec.HasField("placement")


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("spec.template.bogus", 1, "spec.template.bogus: unknown field"),
        (
            "spec.placement.clusters",
            [{"name": "a", "wieght": 2}],
            "spec.placement.clusters[0].wieght: unknown field",
        ),
        ("spec.replicas", "three", 'spec.replicas: must be an integer, not "three"'),
        ("spec.replicas", 2.5, "spec.replicas: must be an integer, not 2.5"),
        ("spec.replicas", True, "spec.replicas: must be an integer, not a boolean"),
        ("spec.replicas", 2**31, "spec.replicas: must be between -2147483648 and 2147483647"),
        (
            "spec.template.reclaimPolicy",
            3,
            "spec.template.reclaimPolicy: must be a string, not a number",
        ),
        (
            "spec.template.serviceQualities",
            {"name": "x"},
            "spec.template.serviceQualities: must be a list, not an object",
        ),
        (
            "spec.template.serviceQualities",
            [{"permanent": "yes"}],
            "spec.template.serviceQualities[0].permanent: must be a boolean, not a string",
        ),
        (
            "spec.template.network",
            "HostPort",
            "spec.template.network: must be an object, not a string",
        ),
        (
            "spec.template.gameServerTemplate",
            [],
            "spec.template.gameServerTemplate: must be an object, not a list",
        ),
        ("metadata.labels", {"game": 1}, 'metadata.labels["game"]: must be a string, not a number'),
        ("metadata.labels", ["game"], "metadata.labels: must be an object, not a list"),
        (
            "metadata.createTime",
            "yesterday",
            'metadata.createTime: "yesterday" is not an RFC 3339 timestamp',
        ),
        (
            "metadata.createTime",
            datetime.datetime(2024, 1, 1),
            "metadata.createTime: must be a quoted RFC 3339 string",
        ),
        (
            "spec.template.gameServerTemplate.metadata.creationTimestamp",
            datetime.date(2024, 1, 1),
            "spec.template.gameServerTemplate.metadata.creationTimestamp: "
            "must be a JSON value, not a date",
        ),
        (
            "spec.template.reserveGameServerIds",
            [float("nan")],
            "spec.template.reserveGameServerIds[0]: must be a finite number",
        ),
    ],
)
def test_from_document_names_the_bad_field(field: str, value: Any, error: str) -> None:
    with pytest.raises(errors.ValidationError) as info:
        documents.from_document(set_at(FULL_FLEET, field, value), fleet_pb2.Fleet)
    assert [str(problem) for problem in info.value.errors] == [error]


def test_from_document_reports_every_bad_field() -> None:
    doc = {"spec": {"replicas": "x", "bogus": 1, "template": {"reclaimPolicy": 1}}}
    with pytest.raises(errors.ValidationError) as info:
        documents.from_document(doc, fleet_pb2.Fleet)
    assert [problem.path for problem in info.value.errors] == [
        "spec.replicas",
        "spec.bogus",
        "spec.template.reclaimPolicy",
    ]
    assert str(info.value) == 'spec.replicas: must be an integer, not "x" (and 2 more)'


def test_from_document_rejects_a_non_object() -> None:
    with pytest.raises(errors.ValidationError, match="must be an object, not a list"):
        documents.from_document([], fleet_pb2.Fleet)


def test_from_document_prefixes_paths() -> None:
    with pytest.raises(errors.ValidationError) as info:
        documents.from_document({"bogus": 1}, gameserverset_pb2.GameServerSetSpec, "spec.template")
    assert info.value.errors == (errors.FieldError("spec.template.bogus", "unknown field"),)
