"""rollout status, pause, resume, undo and history of a fleet."""

from __future__ import annotations

import argparse
import sys

from gamefleet.v1 import fleet_pb2, fleet_pb2_grpc, gameserverset_pb2

from hub.core import documents, rollout_status

from . import connection, output


def _stub(args: argparse.Namespace) -> fleet_pb2_grpc.RolloutServiceStub:
    channel = connection.open_channel(connection.target_from(args))
    return fleet_pb2_grpc.RolloutServiceStub(channel)


def _request(args: argparse.Namespace) -> fleet_pb2.RolloutRequest:
    return fleet_pb2.RolloutRequest(
        ref=fleet_pb2.FleetRef(namespace=args.namespace, name=args.name)
    )


def status(args: argparse.Namespace) -> None:
    channel = connection.open_channel(connection.target_from(args))
    fleet = fleet_pb2_grpc.FleetServiceStub(channel).GetFleet(
        fleet_pb2.GetFleetRequest(ref=_request(args).ref)
    )
    print_status(fleet)


def print_status(fleet: fleet_pb2.Fleet) -> None:
    meta = fleet.metadata
    if not fleet.spec.HasField("rollout"):
        policy = fleet.spec.update_policy.type or "Parallel"
        sys.stdout.write(
            f"fleet/{meta.name} has no spec.rollout: changes reach clusters by updatePolicy "
            f"{policy}\n"
        )
        return
    progress = fleet.status.rollout
    paused = next(
        (c for c in fleet.status.conditions if c.type == rollout_status.ROLLOUT_PAUSED), None
    )
    output.print_fields(
        [
            ("Fleet", f"{meta.namespace}/{meta.name}"),
            ("Generation", meta.generation),
            ("Phase", progress.phase or "-"),
            (
                "Wave",
                f"{min(progress.wave + 1, progress.waves)} of {progress.waves}"
                if progress.waves
                else "-",
            ),
            (
                "Paused",
                f"{paused.reason}: {paused.message}"
                if paused is not None and paused.status == "True"
                else "no",
            ),
        ]
    )
    output.print_section(
        "Clusters",
        ["CLUSTER", "WAVE", "STATE", "MESSAGE"],
        [[c.cluster, c.wave + 1, c.state, c.message or "-"] for c in progress.clusters],
    )


def pause(args: argparse.Namespace) -> None:
    fleet = _stub(args).PauseRollout(_request(args))
    sys.stdout.write(f"fleet/{fleet.metadata.name} rollout paused\n")


def resume(args: argparse.Namespace) -> None:
    fleet = _stub(args).ResumeRollout(_request(args))
    sys.stdout.write(f"fleet/{fleet.metadata.name} rollout resumed\n")


def undo(args: argparse.Namespace) -> None:
    fleet = _stub(args).UndoRollout(_request(args))
    sys.stdout.write(
        f"fleet/{fleet.metadata.name} rolled back (generation {fleet.metadata.generation})\n"
    )


def history(args: argparse.Namespace) -> None:
    answer = _stub(args).RolloutHistory(_request(args))
    rows = [
        [revision.generation, output.age(revision.time), _images(revision.template) or "-"]
        for revision in answer.revisions
    ]
    output.print_table(["GENERATION", "AGE", "IMAGES"], rows)


def _images(template: gameserverset_pb2.GameServerSetSpec) -> str:
    spec = documents.to_document(template.game_server_template).get("spec", {})
    containers = spec.get("containers", []) if isinstance(spec, dict) else []
    return ",".join(str(c["image"]) for c in containers if isinstance(c, dict) and "image" in c)
