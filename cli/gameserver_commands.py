"""get and update game servers in every cluster, through the hub."""

from __future__ import annotations

import argparse
import sys

from gamefleet.v1 import gameserver_pb2, gameserver_pb2_grpc

from . import connection, output
from .errors import CliError

GAMESERVER_API_VERSION = "gamefleet.io/v1"


def _stub(args: argparse.Namespace) -> gameserver_pb2_grpc.GameServerServiceStub:
    return gameserver_pb2_grpc.GameServerServiceStub(
        connection.open_channel(connection.target_from(args))
    )


def add_filter_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fleet", default="", help="only this fleet's servers")
    parser.add_argument("--cluster", default="", help="only servers in this cluster")
    parser.add_argument("--state", default="", help="only servers in this state (e.g. Ready)")
    parser.add_argument("--ops-state", default="", help="only servers with this opsState")


def add_update_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="game server names (or use --fleet / -l)")
    parser.add_argument("--fleet", default="", help="restrict to one fleet")
    parser.add_argument("-l", "--selector", default="", help="label selector")
    parser.add_argument("--ops-state", help="None, WaitToBeDeleted, Maintaining, Allocated, Kill")
    parser.add_argument("--update-priority", type=int)
    parser.add_argument("--deletion-priority", type=int)
    parser.add_argument("--network-disabled", choices=["true", "false"])
    parser.add_argument(
        "--image", action="append", default=[], help="CONTAINER=IMAGE, an in-place image update"
    )


def get(args: argparse.Namespace) -> None:
    stub = _stub(args)
    request = gameserver_pb2.ListGameServersRequest(
        namespace="" if args.all_namespaces else args.namespace,
        fleet=args.fleet,
        cluster=args.cluster,
        state=args.state,
        ops_state=args.ops_state,
        label_selector=args.selector,
    )
    servers: list[gameserver_pb2.GameServer] = []
    while True:
        response = stub.ListGameServers(request)
        servers += [s for s in response.game_servers if not args.name or s.name == args.name]
        if not response.next_page_token:
            break
        request.page_token = response.next_page_token
    if args.output in ("yaml", "json"):
        docs = [output.document(s, GAMESERVER_API_VERSION, "GameServer") for s in servers]
        output.print_documents(docs, args.output)
        return
    if not servers:
        sys.stderr.write("No game servers found.\n")
        return
    headers = ["CLUSTER", "NAMESPACE", "NAME", "STATE", "OPSSTATE", "DP", "UP", "ADDRESS"]
    if args.output == "wide":
        headers += ["NODE", "ZONE", "IMAGES"]
    rows = []
    for server in servers:
        row: list[object] = [
            server.cluster,
            server.namespace,
            server.name,
            server.state or "-",
            server.ops_state or "None",
            server.deletion_priority,
            server.update_priority,
            address(server),
        ]
        if args.output == "wide":
            images = ",".join(f"{c}={i}" for c, i in sorted(server.images.items()))
            row += [server.node or "-", server.zone or "-", images or "-"]
        rows.append(row)
    output.print_table(headers, rows)


def address(server: gameserver_pb2.GameServer) -> str:
    """The first external address as players dial it: ip (or a load balancer's DNS name,
    `endPoint`) and the first port."""
    external = server.network_status.fields.get("externalAddresses")
    if external is None or not external.list_value.values:
        return "-"
    first = external.list_value.values[0].struct_value.fields
    host = first["ip"].string_value if "ip" in first else ""
    if not host and "endPoint" in first:
        host = first["endPoint"].string_value
    ports = first["ports"].list_value.values if "ports" in first else []
    port = int(ports[0].struct_value.fields["port"].number_value) if ports else 0
    if not host:
        return "-"
    return f"{host}:{port}" if port else host


def update(args: argparse.Namespace) -> None:
    patch = gameserver_pb2.GameServerPatch()
    if args.ops_state is not None:
        patch.ops_state = args.ops_state
    if args.update_priority is not None:
        patch.update_priority = args.update_priority
    if args.deletion_priority is not None:
        patch.deletion_priority = args.deletion_priority
    if args.network_disabled is not None:
        patch.network_disabled = args.network_disabled == "true"
    for pair in args.image:
        container, sep, image = pair.partition("=")
        if not sep or not container or not image:
            raise CliError(f"--image: {pair!r} is not CONTAINER=IMAGE")
        patch.images[container] = image
    response = _stub(args).UpdateGameServers(
        gameserver_pb2.UpdateGameServersRequest(
            namespace=args.namespace,
            fleet=args.fleet,
            names=args.names,
            label_selector=args.selector,
            patch=patch,
        )
    )
    for name in response.updated:
        sys.stdout.write(f"gameserver/{name} updated\n")
    if response.errors:
        first = sorted(response.errors.items())[0]
        more = f" (and {len(response.errors) - 1} more)" if len(response.errors) > 1 else ""
        raise CliError(f"{first[0]}: {first[1]}{more}")
