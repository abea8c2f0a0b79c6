"""allocate: a Ready game server of a fleet for a match, through the hub."""

from __future__ import annotations

import argparse

from gamefleet.v1 import allocation_pb2, allocation_pb2_grpc, gameserver_pb2

from . import connection, output
from .errors import CliError
from .gameserver_commands import GAMESERVER_API_VERSION, address

_SCHEDULING = {"Packed": allocation_pb2.PACKED, "Distributed": allocation_pb2.DISTRIBUTED}


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fleet", help="the fleet to take a server of")
    parser.add_argument("--request-id", required=True, help="idempotency key (≤ 128 chars)")
    parser.add_argument(
        "--selector",
        action="append",
        default=[],
        help="KEY=VALUE[,KEY=VALUE...]: one selector; repeat for the next ones, tried in order",
    )
    parser.add_argument("--label", action="append", default=[], help="KEY=VALUE to set")
    parser.add_argument("--annotation", action="append", default=[], help="KEY=VALUE to set")
    parser.add_argument("--prefer", action="append", default=[], help="a cluster to try first")
    parser.add_argument(
        "--scheduling",
        choices=sorted(_SCHEDULING),
        default="Packed",
        help="Packed: clusters and nodes holding the most allocated servers first; "
        "Distributed: those holding the fewest",
    )
    parser.add_argument(
        "--players-region", default="", help="the players' region: its clusters are tried first"
    )
    parser.add_argument(
        "--latency",
        action="append",
        default=[],
        help="REGION=MILLISECONDS: the players' round-trip time to a region (repeat); the"
        " fastest region's clusters are tried first",
    )
    parser.add_argument(
        "-o", "--output", choices=["table", "yaml", "json"], default="table", help="output format"
    )


def _pairs(flag: str, values: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        for pair in value.split(","):
            key, sep, text = pair.partition("=")
            if not sep or not key:
                raise CliError(f"{flag}: {pair!r} is not KEY=VALUE")
            found[key] = text
    return found


def _latencies(values: list[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for region, milliseconds in _pairs("--latency", values).items():
        try:
            found[region] = float(milliseconds)
        except ValueError:
            raise CliError(f"--latency: {milliseconds!r} is not a number of milliseconds") from None
    return found


def allocate(args: argparse.Namespace) -> None:
    request = allocation_pb2.AllocateRequest(
        namespace=args.namespace,
        fleet=args.fleet,
        request_id=args.request_id,
        selectors=[
            allocation_pb2.AllocationSelector(match_labels=_pairs("--selector", [value]))
            for value in args.selector
        ],
        preferred_clusters=args.prefer,
        scheduling=_SCHEDULING[args.scheduling],
        labels=_pairs("--label", args.label),
        annotations=_pairs("--annotation", args.annotation),
        players_region=args.players_region,
        region_latency_ms=_latencies(args.latency),
    )
    stub = allocation_pb2_grpc.AllocationServiceStub(
        connection.open_channel(connection.target_from(args))
    )
    response = stub.Allocate(request)
    server = response.game_server
    if args.output in ("yaml", "json"):
        doc = output.document(response, GAMESERVER_API_VERSION, "GameServerAllocation")
        doc["replayed"] = response.replayed
        output.print_documents([doc], args.output)
        return
    output.print_table(_HEADERS, [_row(server, response.replayed)])


_HEADERS = ["CLUSTER", "NAMESPACE", "NAME", "OPSSTATE", "ADDRESS", "REPLAYED"]


def _row(server: gameserver_pb2.GameServer, replayed: bool) -> list[object]:
    """An allocated server as a table row (``_HEADERS``)."""
    return [
        server.cluster,
        server.namespace,
        server.name,
        server.ops_state,
        address(server),
        str(replayed).lower(),
    ]


_SAME = {"Cluster": allocation_pb2.SAME_CLUSTER, "Zone": allocation_pb2.SAME_ZONE}


def add_group_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--request-id", required=True, help="the group's idempotency key")
    parser.add_argument(
        "--member",
        action="append",
        default=[],
        required=True,
        help="NAME=FLEET: one server of FLEET for the member NAME; repeat for each member",
    )
    parser.add_argument(
        "--same",
        choices=sorted(_SAME),
        default="Cluster",
        help="where every member must be: one cluster, or one zone of one cluster",
    )
    parser.add_argument(
        "-o", "--output", choices=["table", "yaml", "json"], default="table", help="output format"
    )


def allocate_group(args: argparse.Namespace) -> None:
    request = allocation_pb2.AllocateGroupRequest(
        request_id=args.request_id,
        same=_SAME[args.same],
        members=[
            allocation_pb2.GroupMember(
                name=name,
                request=allocation_pb2.AllocateRequest(namespace=args.namespace, fleet=fleet),
            )
            for value in args.member
            for name, fleet in _pairs("--member", [value]).items()
        ],
    )
    stub = allocation_pb2_grpc.AllocationServiceStub(
        connection.open_channel(connection.target_from(args))
    )
    response = stub.AllocateGroup(request)
    if args.output in ("yaml", "json"):
        doc = output.document(response, GAMESERVER_API_VERSION, "GameServerGroupAllocation")
        output.print_documents([doc], args.output)
        return
    rows = [
        [member.name, *_row(member.allocation.game_server, response.replayed)]
        for member in response.members
    ]
    output.print_table(["MEMBER", *_HEADERS], rows)
