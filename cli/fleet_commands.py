"""apply, get, delete and scale fleets."""

from __future__ import annotations

import argparse
import sys

from gamefleet.v1 import fleet_pb2, fleet_pb2_grpc

from . import connection, manifests, output
from .errors import CliError

FLEET_API_VERSION = manifests.FLEET_API_VERSION


def _stub(args: argparse.Namespace) -> fleet_pb2_grpc.FleetServiceStub:
    return fleet_pb2_grpc.FleetServiceStub(connection.open_channel(connection.target_from(args)))


def _ref(args: argparse.Namespace, name: str) -> fleet_pb2.FleetRef:
    return fleet_pb2.FleetRef(namespace=args.namespace, name=name)


def apply(args: argparse.Namespace) -> None:
    fleets = manifests.load_fleets(args.filename)
    stub = _stub(args)
    for fleet in fleets:
        if not fleet.metadata.namespace:
            fleet.metadata.namespace = args.namespace
        response = stub.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet, dry_run=args.dry_run))
        verb = "created" if response.created else "configured" if response.changed else "unchanged"
        suffix = " (dry run)" if args.dry_run else ""
        sys.stdout.write(f"fleet/{response.fleet.metadata.name} {verb}{suffix}\n")


def _placed(fleet: fleet_pb2.Fleet) -> str:
    return ",".join(f"{c.cluster}={c.desired_replicas}" for c in fleet.status.clusters) or "-"


def _condition_reason(fleet: fleet_pb2.Fleet) -> str:
    for condition in fleet.status.conditions:
        if condition.status != "True":
            return condition.reason
    return ""


def _print_fleets(fleets: list[fleet_pb2.Fleet], fmt: str) -> None:
    if fmt in ("yaml", "json"):
        docs = [output.document(f, FLEET_API_VERSION, "Fleet") for f in fleets]
        output.print_documents(docs, fmt)
        return
    headers = ["NAMESPACE", "NAME", "REPLICAS", "PLACED", "READY", "ALLOCATED", "ALLOCATABLE"]
    headers += ["CLUSTERS"]
    headers += ["GENERATION", "AGE"]
    if fmt == "wide":
        headers += ["STRATEGY", "NETWORK", "PROBLEM"]
    rows = []
    for fleet in fleets:
        row: list[object] = [
            fleet.metadata.namespace,
            fleet.metadata.name,
            fleet.spec.replicas,
            fleet.status.replicas,
            fleet.status.counts.ready,
            fleet.status.counts.allocated,
            fleet.status.allocatable,
            _placed(fleet),
            fleet.metadata.generation,
            output.age(fleet.metadata.create_time),
        ]
        if fmt == "wide":
            row += [
                fleet.spec.placement.strategy or "Weighted",
                fleet.spec.template.network.network_type or "-",
                _condition_reason(fleet) or "-",
            ]
        rows.append(row)
    output.print_table(headers, rows)


def add_get_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=0,
        help="fleets per ListFleets call (0: the hub's default); every page is fetched",
    )


def list_fleets(
    stub: fleet_pb2_grpc.FleetServiceStub, request: fleet_pb2.ListFleetsRequest
) -> list[fleet_pb2.Fleet]:
    """Every fleet the request selects, following next_page_token to the last page."""
    fleets: list[fleet_pb2.Fleet] = []
    while True:
        response = stub.ListFleets(request)
        fleets += response.fleets
        if not response.next_page_token:
            return fleets
        request.page_token = response.next_page_token


def get(args: argparse.Namespace) -> None:
    stub = _stub(args)
    if args.name:
        fleet = stub.GetFleet(fleet_pb2.GetFleetRequest(ref=_ref(args, args.name)))
        _print_fleets([fleet], args.output)
        return
    if args.chunk_size < 0:
        raise CliError(f"--chunk-size: must be 0 or more, not {args.chunk_size}")
    request = fleet_pb2.ListFleetsRequest(
        namespace="" if args.all_namespaces else args.namespace,
        label_selector=args.selector,
        page_size=args.chunk_size,
    )
    fleets = list_fleets(stub, request)
    if not fleets and args.output not in ("yaml", "json"):
        sys.stderr.write("No fleets found.\n")
        return
    _print_fleets(fleets, args.output)


def delete(args: argparse.Namespace) -> None:
    _stub(args).DeleteFleet(fleet_pb2.DeleteFleetRequest(ref=_ref(args, args.name)))
    sys.stdout.write(f"fleet/{args.name} deleted\n")


def scale(args: argparse.Namespace) -> None:
    fleet = _stub(args).ScaleFleet(
        fleet_pb2.ScaleFleetRequest(ref=_ref(args, args.name), replicas=args.replicas)
    )
    sys.stdout.write(f"fleet/{fleet.metadata.name} scaled to {fleet.spec.replicas}\n")
