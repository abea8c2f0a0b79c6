"""allocate: a Ready game server of a fleet for a match, through the hub."""

from __future__ import annotations

import argparse

from gamefleet.v1 import allocation_pb2, allocation_pb2_grpc

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
    headers = ["CLUSTER", "NAMESPACE", "NAME", "OPSSTATE", "ADDRESS", "REPLAYED"]
    row: list[object] = [
        server.cluster,
        server.namespace,
        server.name,
        server.ops_state,
        address(server),
        str(response.replayed).lower(),
    ]
    output.print_table(headers, [row])
