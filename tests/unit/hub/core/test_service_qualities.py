"""Service-quality probes at the hub: the gRPC handler's checks and the one-handler rule."""

from __future__ import annotations

from typing import Any

import pytest

from hub.core import validation
from okg import service_quality

from .fleets import MINIMAL_FLEET, fleet, set_at

SQ = "spec.template.serviceQualities"


@pytest.mark.parametrize(
    ("handler", "paths"),
    [
        pytest.param({"port": 9090}, [], id="port-only"),
        pytest.param({"port": 9090, "service": "game"}, [], id="port-and-service"),
        pytest.param({"port": 9090, "service": ""}, [], id="empty-service-is-overall"),
        pytest.param({"service": "game"}, ["q.grpc.port"], id="no-port"),
        pytest.param({"port": 0}, ["q.grpc.port"], id="port-0"),
        pytest.param({"port": 65536}, ["q.grpc.port"], id="port-too-big"),
        pytest.param({"port": "health"}, ["q.grpc.port"], id="named-port"),
        pytest.param({"port": True}, ["q.grpc.port"], id="port-bool"),
        pytest.param({"port": 9090, "service": 3}, ["q.grpc.service"], id="service-not-string"),
        pytest.param({"port": 9090, "host": "x"}, ["q.grpc.host"], id="unknown-field"),
    ],
)
def test_grpc_handler(handler: dict[str, Any], paths: list[str]) -> None:
    problems = service_quality.grpc_problems(handler, "q.grpc")
    assert [p.path for p in problems] == paths, [str(p) for p in problems]


def test_grpc_without_a_port_says_it_is_required() -> None:
    (problem,) = service_quality.grpc_problems({}, f"{SQ}[0].grpc")
    assert str(problem) == f"{SQ}[0].grpc.port: is required"


@pytest.mark.parametrize(
    ("quality", "found"),
    [
        pytest.param({}, "none", id="none"),
        pytest.param(
            {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}},
            "exec, tcpSocket",
            id="exec-and-tcp",
        ),
    ],
)
def test_a_probe_sets_exactly_one_handler(quality: dict[str, Any], found: str) -> None:
    doc = set_at(MINIMAL_FLEET, f"{SQ}", [{"name": "q", **quality}])
    (problem,) = validation.validate_fleet(fleet(doc))
    assert problem.path == f"{SQ}[0]"
    assert f"(found {found})" in problem.message


def test_a_fleet_with_a_grpc_probe_without_a_port_names_the_field() -> None:
    good = {"name": "health", "grpc": {"port": 9090, "service": "game"}}
    bad = {"name": "bad", "grpc": {"service": "game"}}
    doc = set_at(MINIMAL_FLEET, SQ, [good, bad])
    problems = validation.validate_fleet(fleet(doc))
    assert [p.path for p in problems] == [f"{SQ}[1].grpc.port"], [str(p) for p in problems]
