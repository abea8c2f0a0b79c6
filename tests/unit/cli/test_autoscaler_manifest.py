"""The example FleetAutoscaler manifest loads as one and is valid; a kind the CLI does not know
is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from gamefleet.v1 import autoscaler_pb2, fleet_pb2

from cli import autoscaler_commands, manifests
from cli.errors import CliError
from hub.core.autoscaling.validation import validate

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_the_example_autoscaler_is_valid_and_names_its_fleet() -> None:
    [scaler] = manifests.load_objects(str(EXAMPLES / "arena-autoscaler.yaml"))
    assert isinstance(scaler, autoscaler_pb2.FleetAutoscaler)
    assert validate(scaler) == []
    [fleet] = manifests.load_fleets(str(EXAMPLES / "arena.yaml"))
    assert (scaler.spec.fleet_name, scaler.metadata.namespace) == (
        fleet.metadata.name,
        fleet.metadata.namespace,
    )
    assert [entry.id for entry in scaler.spec.policy.chain] == ["evenings", "default"]


def test_a_game_server_set_without_replicas_leaves_them_unset(tmp_path: Path) -> None:
    path = tmp_path / "gss.yaml"
    path.write_text(
        "apiVersion: game.kruise.io/v1alpha1\nkind: GameServerSet\nmetadata: {name: a}\n"
        "spec:\n  gameServerTemplate: {spec: {containers: [{name: a, image: a:1}]}}\n"
    )
    [fleet] = manifests.load_objects(str(path))
    assert isinstance(fleet, fleet_pb2.Fleet)
    assert not fleet.spec.HasField("replicas")


def test_an_unknown_kind_is_named(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("apiVersion: autoscaling.agones.dev/v1\nkind: FleetAutoscaler\n")
    with pytest.raises(CliError, match=r"autoscaling\.agones\.dev/v1/FleetAutoscaler is none of"):
        manifests.load_objects(str(path))


def test_a_list_autoscaler_manifest_loads_and_prints(tmp_path: Path) -> None:
    path = tmp_path / "rooms.yaml"
    path.write_text(
        "apiVersion: gamefleet.io/v1\nkind: FleetAutoscaler\nmetadata: {name: a, namespace: g}\n"
        "spec:\n  fleetName: a\n  policy:\n    type: List\n"
        "    list: {key: rooms, bufferSize: 10%, minCapacity: 4, maxCapacity: 400}\n"
    )
    [scaler] = manifests.load_objects(str(path))
    assert isinstance(scaler, autoscaler_pb2.FleetAutoscaler)
    assert validate(scaler) == []
    summary = autoscaler_commands.policy_summary(scaler.spec.policy)
    assert summary == "List rooms 10% [4,400]"
