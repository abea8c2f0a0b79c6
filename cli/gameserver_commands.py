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


OPS_STATES = "None, WaitToBeDeleted, Maintaining, Allocated, Kill"


def add_filter_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fleet", default="", help="only this fleet's servers")
    parser.add_argument("--cluster", default="", help="only servers in this cluster")
    parser.add_argument("--state", default="", help="only servers in this state (e.g. Ready)")
    parser.add_argument("--ops-state", default="", help="only servers with this opsState")


def add_update_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names",
        nargs="*",
        metavar="CLUSTER/NAME",
        help="game servers (a bare NAME if only one cluster has it); or select with --fleet/-l",
    )
    parser.add_argument("--fleet", default="", help="restrict to one fleet")
    parser.add_argument("--cluster", default="", help="restrict to one cluster (and bare names)")
    parser.add_argument("-l", "--selector", default="", help="label selector")
    parser.add_argument("--ops-state", help=f"set spec.opsState: {OPS_STATES}")
    parser.add_argument(
        "--force",
        action="store_true",
        help="allow an --ops-state that takes Allocated servers out of Allocated",
    )
    parser.add_argument(
        "--allow-custom-ops-state",
        action="store_true",
        help="allow an --ops-state that OKG does not define (it ranks like None)",
    )
    parser.add_argument("--update-priority", type=int, help="set spec.updatePriority")
    parser.add_argument("--deletion-priority", type=int, help="set spec.deletionPriority")
    parser.add_argument(
        "--network-disabled", choices=["true", "false"], help="set spec.networkDisabled"
    )
    parser.add_argument(
        "--image", action="append", default=[], help="CONTAINER=IMAGE, an in-place image update"
    )


def _headers(fmt: str) -> list[str]:
    headers = ["CLUSTER", "NAMESPACE", "NAME", "STATE", "OPSSTATE", "DP", "UP", "ADDRESS"]
    if fmt == "wide":
        headers += ["NODE", "ZONE", "IMAGES"]
    return headers


def _row(server: gameserver_pb2.GameServer, fmt: str) -> list[object]:
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
    if fmt == "wide":
        images = ",".join(f"{c}={i}" for c, i in sorted(server.images.items()))
        row += [server.node or "-", server.zone or "-", images or "-"]
    return row


def get_one(
    stub: gameserver_pb2_grpc.GameServerServiceStub, args: argparse.Namespace, name: str
) -> gameserver_pb2.GameServer:
    """The server CLUSTER/NAME (or a bare NAME, in --cluster or in the one cluster having it)."""
    return stub.GetGameServer(
        gameserver_pb2.GetGameServerRequest(
            namespace=args.namespace, name=name, cluster=getattr(args, "cluster", "")
        )
    )


def get(args: argparse.Namespace) -> None:
    stub = _stub(args)
    if args.watch:
        _watch(stub, args)
        return
    if args.name and args.all_namespaces:
        raise CliError("-A: a game server is found by name in one namespace; give -n instead")
    servers = [get_one(stub, args, args.name)] if args.name else _list(stub, args)
    if args.output in ("yaml", "json"):
        docs = [output.document(s, GAMESERVER_API_VERSION, "GameServer") for s in servers]
        output.print_documents(docs, args.output)
        return
    if not servers:
        sys.stderr.write("No game servers found.\n")
        return
    output.print_table(_headers(args.output), [_row(s, args.output) for s in servers])


def _list(
    stub: gameserver_pb2_grpc.GameServerServiceStub, args: argparse.Namespace
) -> list[gameserver_pb2.GameServer]:
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
        servers += response.game_servers
        if not response.next_page_token:
            return servers
        request.page_token = response.next_page_token


def _watch(stub: gameserver_pb2_grpc.GameServerServiceStub, args: argparse.Namespace) -> None:
    """The servers, then every change the agents report, until interrupted."""
    cluster, _, name = (args.name or "").rpartition("/")
    request = gameserver_pb2.WatchGameServersRequest(
        namespace="" if args.all_namespaces else args.namespace,
        fleet=args.fleet,
        cluster=cluster or args.cluster,
        state=args.state,
        ops_state=args.ops_state,
        label_selector=args.selector,
    )
    headers = (["EVENT"] if args.output_watch_events else []) + _headers(args.output)
    rows = output.RowStream(headers)
    for event in stub.WatchGameServers(request):
        server = event.game_server
        if name and server.name != name:
            continue
        if args.output in ("yaml", "json"):
            doc = output.document(server, GAMESERVER_API_VERSION, "GameServer")
            output.print_watched_document(doc, args.output)
            continue
        prefix: list[object] = [event.type] if args.output_watch_events else []
        rows.row(prefix + _row(server, args.output))


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
            cluster=args.cluster,
            names=args.names,
            label_selector=args.selector,
            patch=patch,
            allow_unallocate=args.force,
            allow_custom_ops_state=args.allow_custom_ops_state,
        )
    )
    for name in response.updated:
        sys.stdout.write(f"gameserver/{name} updated\n")
    if response.errors:
        first = sorted(response.errors.items())[0]
        more = f" (and {len(response.errors) - 1} more)" if len(response.errors) > 1 else ""
        raise CliError(f"{first[0]}: {first[1]}{more}")
