"""Counters and lists in an allocation request and a fleet's template: bad fields named."""

from __future__ import annotations

import pytest
from gamefleet.v1 import allocation_pb2, gameserverset_pb2
from google.protobuf import json_format

from hub.api import allocations
from hub.api.errors import AbortError, status_for
from hub.core import template_validation
from hub.core.errors import ValidationError
from okg import capacity as cap


def refusal(message: allocation_pb2.AllocateRequest) -> str:
    with pytest.raises((AbortError, ValidationError)) as raised:
        allocations.request_of(message)
    found = status_for(raised.value)
    assert found is not None and found[0].name == "INVALID_ARGUMENT"
    return found[1]


def base(**fields: object) -> allocation_pb2.AllocateRequest:
    return allocation_pb2.AllocateRequest(
        namespace="games",
        fleet="arena",
        request_id="r1",
        **fields,  # type: ignore[arg-type]
    )


def test_a_request_by_capacity_is_read() -> None:
    message = base(
        selectors=[
            allocation_pb2.AllocationSelector(
                game_server_state=allocation_pb2.ALLOCATED,
                counters={"rooms": allocation_pb2.CounterSelector(min_available=1)},
            ),
            allocation_pb2.AllocationSelector(
                counters={"rooms": allocation_pb2.CounterSelector(min_available=1)}
            ),
        ],
        counters={"rooms": allocation_pb2.CounterAction(delta=1)},
        lists={"players": allocation_pb2.ListAction(add_values=["p1"])},
    )
    request = allocations.request_of(message)
    assert request.by_capacity
    assert [n.allocated for n in request.needs] == [True, False]
    assert request.actions.counters["rooms"] == cap.CounterChange(1)
    assert request.actions.lists["players"].add == ("p1",)
    assert not allocations.request_of(base()).by_capacity


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        (
            {
                "selectors": [
                    allocation_pb2.AllocationSelector(
                        counters={"a b": allocation_pb2.CounterSelector()}
                    )
                ]
            },
            'selectors[0].counters["a b"]: ',
        ),
        (
            {
                "selectors": [
                    allocation_pb2.AllocationSelector(
                        counters={"rooms": allocation_pb2.CounterSelector(min_available=-1)}
                    )
                ]
            },
            'selectors[0].counters["rooms"].min_available: ',
        ),
        (
            {
                "selectors": [
                    allocation_pb2.AllocationSelector(
                        counters={"rooms": allocation_pb2.CounterSelector(min_count=3, max_count=2)}
                    )
                ]
            },
            'selectors[0].counters["rooms"].max_count: ',
        ),
        (
            {
                "selectors": [
                    allocation_pb2.AllocationSelector(
                        lists={"p": allocation_pb2.ListSelector(contains_value="x" * 200)}
                    )
                ]
            },
            'selectors[0].lists["p"].contains_value: ',
        ),
        (
            {"selectors": [allocation_pb2.AllocationSelector(game_server_state=7)]},  # type: ignore[arg-type]
            "selectors[0].game_server_state: ",
        ),
        (
            {"counters": {"rooms": allocation_pb2.CounterAction(capacity=-1)}},
            'counters["rooms"].capacity: ',
        ),
        (
            {"counters": {"rooms": allocation_pb2.CounterAction(delta=2_000_000_000)}},
            'counters["rooms"].delta: ',
        ),
        (
            {"lists": {"p": allocation_pb2.ListAction(add_values=[""])}},
            'lists["p"].add_values[0]: ',
        ),
        ({"lists": {"p": allocation_pb2.ListAction(capacity=5000)}}, 'lists["p"].capacity: '),
    ],
)
def test_bad_capacity_fields_are_named(fields: dict[str, object], path: str) -> None:
    assert refusal(base(**fields)).startswith(path)


def template(declaration: str) -> gameserverset_pb2.GameServerSetSpec:
    doc = {
        "gameServerTemplate": {
            "metadata": {"annotations": {cap.DECLARATION: declaration}},
            "spec": {"containers": [{"name": "game", "image": "game:1"}]},
        }
    }
    return json_format.ParseDict(doc, gameserverset_pb2.GameServerSetSpec())


def test_the_templates_declaration_is_checked() -> None:
    ok = template('{"counters": {"rooms": {"capacity": 10}}, "lists": {"p": {"capacity": 100}}}')
    assert template_validation.validate_template(ok, "spec.template", 3) == []
    bad = template('{"counters": {"rooms": {"count": 11, "capacity": 10}}}')
    [problem] = template_validation.validate_template(bad, "spec.template", 3)
    assert problem.path == (
        'spec.template.gameServerTemplate.metadata.annotations["gamefleet.io/counters-lists"]'
        '.counters["rooms"].count'
    )
    assert "above the capacity 10" in problem.message
