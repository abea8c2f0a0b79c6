"""apply, get, delete and scale fleets."""

from __future__ import annotations

import argparse
import sys

from gamefleet.v1 import autoscaler_pb2, fleet_pb2, fleet_pb2_grpc

from hub.core import fleet_status

from . import autoscaler_commands, connection, manifests, output
from .errors import CliError

FLEET_API_VERSION = manifests.FLEET_API_VERSION


def _stub(args: argparse.Namespace) -> fleet_pb2_grpc.FleetServiceStub:
    return fleet_pb2_grpc.FleetServiceStub(connection.open_channel(connection.target_from(args)))


def _ref(args: argparse.Namespace, name: str) -> fleet_pb2.FleetRef:
    return fleet_pb2.FleetRef(namespace=args.namespace, name=name)


def apply(args: argparse.Namespace) -> None:
    """Apply every object of the manifest (Fleets, FleetAutoscalers); ``-n``, when given, must
    agree with the namespace an object names, as kubectl requires, else nothing is applied."""
    objects = manifests.load_objects(args.filename)
    for obj in objects:
        named = obj.metadata.namespace
        if args.explicit_namespace and named and named != args.namespace:
            raise CliError(
                f"{args.filename}: metadata.namespace: {named!r} differs from -n "
                f"{args.namespace!r}; pass -n {named} or leave metadata.namespace out"
            )
        obj.metadata.namespace = named or args.namespace
    stub = _stub(args)
    for fleet in objects:
        if isinstance(fleet, autoscaler_pb2.FleetAutoscaler):
            autoscaler_commands.apply_one(args, fleet)
            continue
        response = stub.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet, dry_run=args.dry_run))
        verb = "created" if response.created else "configured" if response.changed else "unchanged"
        suffix = " (dry run)" if args.dry_run else ""
        sys.stdout.write(f"fleet/{response.fleet.metadata.name} {verb}{suffix}\n")


def _placed(fleet: fleet_pb2.Fleet) -> str:
    return ",".join(f"{c.cluster}={c.desired_replicas}" for c in fleet.status.clusters) or "-"


def problem(fleet: fleet_pb2.Fleet) -> str:
    """The reason of the condition that says what is wrong, or "" when nothing is."""
    found = fleet_status.problem(fleet)
    return found.reason if found is not None else ""


def _headers(fmt: str) -> list[str]:
    headers = ["NAMESPACE", "NAME", "REPLICAS", "PLACED", "READY", "ALLOCATED", "ALLOCATABLE"]
    headers += ["CLUSTERS"]
    headers += ["GENERATION", "AGE"]
    if fmt == "wide":
        headers += ["STRATEGY", "NETWORK", "REPLICAS-OWNER", "PROBLEM"]
    return headers


def _print_fleets(fleets: list[fleet_pb2.Fleet], fmt: str) -> None:
    if fmt in ("yaml", "json"):
        docs = [output.document(f, FLEET_API_VERSION, "Fleet") for f in fleets]
        output.print_documents(docs, fmt)
        return
    output.print_table(_headers(fmt), [_row(fleet, fmt) for fleet in fleets])


def _row(fleet: fleet_pb2.Fleet, fmt: str) -> list[object]:
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
            fleet.replicas_owner or "user",
            problem(fleet) or "-",
        ]
    return row


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
    if args.watch:
        _watch(stub, args)
        return
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


def _watch(stub: fleet_pb2_grpc.FleetServiceStub, args: argparse.Namespace) -> None:
    """The fleets, then every change of them or of their status, until interrupted."""
    request = fleet_pb2.WatchFleetsRequest(
        namespace="" if args.all_namespaces else args.namespace, label_selector=args.selector
    )
    headers = (["EVENT"] if args.output_watch_events else []) + _headers(args.output)
    rows = output.RowStream(headers)
    for event in stub.WatchFleets(request):
        fleet = event.fleet
        if args.name and fleet.metadata.name != args.name:
            continue
        if args.output in ("yaml", "json"):
            output.print_watched_document(
                output.document(fleet, FLEET_API_VERSION, "Fleet"), args.output
            )
            continue
        prefix: list[object] = [event.type] if args.output_watch_events else []
        rows.row(prefix + _row(fleet, args.output))


def delete(args: argparse.Namespace) -> None:
    """Delete a fleet; while its clusters still run servers, say what it waits for."""
    response = _stub(args).DeleteFleet(fleet_pb2.DeleteFleetRequest(ref=_ref(args, args.name)))
    if response.removed:
        sys.stdout.write(f"fleet/{args.name} deleted\n")
        return
    meta = response.fleet.metadata
    terminating = fleet_status.condition_of(response.fleet, fleet_status.TERMINATING)
    waiting = terminating.message if terminating is not None else "retiring its sets"
    sys.stdout.write(f"fleet {meta.namespace}/{meta.name} deleting: {waiting}\n")


def scale(args: argparse.Namespace) -> None:
    fleet = _stub(args).ScaleFleet(
        fleet_pb2.ScaleFleetRequest(ref=_ref(args, args.name), replicas=args.replicas)
    )
    sys.stdout.write(f"fleet/{fleet.metadata.name} scaled to {fleet.spec.replicas}\n")
