"""Fleets no document can hold, and fleets past the size limits: refused naming the field.

A Fleet arrives as protobuf, so it can carry what YAML cannot (a NaN in a template, a Duration
with nanos out of range); each is a problem at its path, never an exception.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any

import pytest
from gamefleet.v1 import fleet_pb2
from google.protobuf import json_format, struct_pb2

from hub.core import errors, limits, validation

from .fleets import FULL_FLEET, MINIMAL_FLEET, fleet

PL = "spec.placement"


def paths_of(problems: list[errors.FieldError]) -> list[str]:
    return [problem.path for problem in problems]


def with_number(doc: struct_pb2.Struct, key: str, number: float) -> None:
    doc.fields[key].number_value = number


def first_container(template: struct_pb2.Struct) -> struct_pb2.Struct:
    spec = template.fields["spec"].struct_value
    return spec.fields["containers"].list_value.values[0].struct_value


def with_env(doc: dict[str, Any], count: int, value: str) -> fleet_pb2.Fleet:
    """The fleet of ``doc`` whose first container has ``count`` environment variables."""
    doc = copy.deepcopy(doc)
    container = doc["spec"]["template"]["gameServerTemplate"]["spec"]["containers"][0]
    container["env"] = [{"name": f"E{i}", "value": value} for i in range(count)]
    return fleet(doc)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_a_number_that_is_not_finite_is_refused_at_its_path(number: float) -> None:
    # The CLI refuses these in YAML; over gRPC they reach every Struct and Value of a fleet.
    cases: list[tuple[fleet_pb2.Fleet, str]] = []
    template = fleet(FULL_FLEET)
    with_number(first_container(template.spec.template.game_server_template), "x", number)
    cases.append((template, "spec.template.gameServerTemplate.spec.containers[0].x"))
    override = fleet(FULL_FLEET)
    with_number(override.spec.placement.clusters[0].override, "y", number)
    cases.append((override, f"{PL}.clusters[0].override.y"))
    patch = fleet(FULL_FLEET)
    with_number(patch.spec.placement.overrides[0].patch, "z", number)
    cases.append((patch, f"{PL}.overrides[0].patch.z"))
    ids = fleet(FULL_FLEET)
    ids.spec.template.reserve_game_server_ids.add().number_value = number
    cases.append((ids, "spec.template.reserveGameServerIds[2]"))
    unavailable = fleet(FULL_FLEET)
    unavailable.spec.template.update_strategy.rolling_update.max_unavailable.number_value = number
    cases.append((unavailable, "spec.template.updateStrategy.rollingUpdate.maxUnavailable"))
    keyed = fleet(FULL_FLEET)
    with_number(keyed.spec.placement.overrides[0].patch, "example.com/x", number)
    cases.append((keyed, f'{PL}.overrides[0].patch["example.com/x"]'))
    for bad, path in cases:
        assert paths_of(validation.validate_fleet(bad)) == [path]


@pytest.mark.parametrize(
    ("seconds", "nanos", "message"),
    [
        (30, -5, "same sign"),
        (-30, 5, "same sign"),
        (30, 1_000_000_000, "nanos must be between"),
        (30, -1_000_000_000, "nanos must be between"),
        (10**15, 0, "seconds must be between"),
        (-(10**15), 0, "seconds must be between"),
    ],
)
def test_a_duration_out_of_its_range_is_refused(seconds: int, nanos: int, message: str) -> None:
    bad = fleet(MINIMAL_FLEET)
    bad.spec.placement.failover.after.seconds = seconds
    bad.spec.placement.failover.after.nanos = nanos
    problems = validation.validate_fleet(bad)
    assert paths_of(problems) == [f"{PL}.failover.after"]
    assert message in problems[0].message


def test_a_valid_duration_out_of_the_failover_range_is_refused_without_overflow() -> None:
    bad = fleet(MINIMAL_FLEET)
    bad.spec.placement.failover.after.seconds = limits.MAX_DURATION_SECONDS
    problems = validation.validate_fleet(bad)
    assert paths_of(problems) == [f"{PL}.failover.after"]
    assert "between 1s and 86400s" in problems[0].message


def test_every_fleet_that_validates_renders_as_a_document() -> None:
    # What `gamefleet get fleets -o yaml` does with a stored fleet.
    good = fleet(FULL_FLEET)
    good.spec.placement.failover.after.FromNanoseconds(1_500_000_000)
    assert validation.validate_fleet(good) == []
    json_format.MessageToDict(good)


def test_a_fleet_past_the_size_limit_is_refused_naming_its_largest_field() -> None:
    big = fleet(MINIMAL_FLEET)
    big.metadata.annotations["notes"] = "x" * (5 * 2**19)  # 2.5 MiB
    problems = validation.validate_fleet(big)
    assert paths_of(problems) == ["metadata.annotations"]
    assert "1.5 MiB" in problems[0].message

    big = with_env(MINIMAL_FLEET, 16_000, "v" * 100)
    assert paths_of(validation.validate_fleet(big)) == ["spec.template.gameServerTemplate"]


def test_annotations_past_256_kib_are_refused_as_kubernetes_does() -> None:
    big = fleet(FULL_FLEET)
    big.metadata.annotations["notes"] = "x" * limits.MAX_ANNOTATIONS_BYTES
    problems = validation.validate_fleet(big)
    assert paths_of(problems) == ["metadata.annotations"]
    assert "256 KiB" in problems[0].message

    doc = copy.deepcopy(FULL_FLEET)
    metadata = doc["spec"]["template"]["gameServerTemplate"]["metadata"]
    metadata["annotations"]["notes"] = "x" * limits.MAX_ANNOTATIONS_BYTES
    in_template = fleet(doc)
    assert paths_of(validation.validate_fleet(in_template)) == [
        "spec.template.gameServerTemplate.metadata.annotations"
    ]


def test_placement_lists_are_bounded() -> None:
    many = fleet(MINIMAL_FLEET)
    for index in range(limits.MAX_PLACEMENT_CLUSTERS + 1):
        many.spec.placement.clusters.add(name=f"c{index}")
    assert paths_of(validation.validate_fleet(many)) == [f"{PL}.clusters"]

    many = fleet(MINIMAL_FLEET)
    for _ in range(limits.MAX_TEMPLATE_OVERRIDES + 1):
        many.spec.placement.overrides.add().patch.update({"serviceName": "arena"})
    assert paths_of(validation.validate_fleet(many)) == [f"{PL}.overrides"]


def test_checking_overrides_is_bounded_by_patches_times_template_size() -> None:
    # 1,000 distinct cluster overrides on a 16 KiB template took 48 s of the hub's loop.
    heavy = with_env(MINIMAL_FLEET, 300, "v" * 40)
    for index in range(limits.MAX_PLACEMENT_CLUSTERS):
        cluster = heavy.spec.placement.clusters.add(name=f"c{index}")
        cluster.override.update({"serviceName": f"s{index}"})
    started = time.perf_counter()
    problems = validation.validate_fleet(heavy)
    assert time.perf_counter() - started < 1.0
    assert paths_of(problems) == [PL]
    assert "distinct override patches" in problems[0].message

    # The same patch on every cluster is checked once.
    for cluster in heavy.spec.placement.clusters:
        cluster.override.Clear()
        cluster.override.update({"serviceName": "same"})
    assert validation.validate_fleet(heavy) == []
