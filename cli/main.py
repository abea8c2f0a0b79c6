"""The gamefleet command: run a hub or an agent, and operate fleets and clusters."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import grpc

from . import (
    allocation_commands,
    autoscaler_commands,
    cert_commands,
    cluster_commands,
    connection,
    fleet_commands,
    gameserver_commands,
    hub_commands,
)
from .errors import CliError

Handler = Callable[[argparse.Namespace], None]
AUTOSCALER_KINDS = ("fleetautoscalers", "fleetautoscaler", "fas")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit status 1, like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {self.prog}: {message}\n")
        raise SystemExit(1)


def _client_parser(
    subparsers: argparse._SubParsersAction[_Parser], name: str, help: str | None = None
) -> _Parser:
    parser = subparsers.add_parser(name, help=help)
    connection.add_hub_flags(parser)
    parser.add_argument("-n", "--namespace", default="default")
    return parser


def _output_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", choices=["table", "wide", "yaml", "json"], default="table"
    )
    parser.add_argument("-l", "--selector", default="", help="label selector")


def build_parser() -> _Parser:
    parser = _Parser(prog="gamefleet", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    hub = commands.add_parser("hub", help="run the hub")
    hub_commands_ = hub.add_subparsers(dest="hub_command", required=True, parser_class=_Parser)
    serve = hub_commands_.add_parser("serve", help="serve the hub's gRPC API")
    hub_commands.add_serve_flags(serve)
    serve.set_defaults(handler=hub_commands.serve)
    for name, add_flags, handler, text in (
        ("init-ca", cert_commands.add_flags_init_ca, cert_commands.init_ca,
         "create the hub's certificate authority"),
        ("issue-agent-cert", cert_commands.add_flags_issue_agent_cert,
         cert_commands.issue_agent_cert, "issue a cluster's agent client certificate"),
        ("issue-server-cert", cert_commands.add_flags_issue_server_cert,
         cert_commands.issue_server_cert, "issue the hub's serving certificate"),
    ):  # fmt: skip
        sub = hub_commands_.add_parser(name, help=text)
        add_flags(sub)
        sub.set_defaults(handler=handler)

    agent = commands.add_parser("agent", help="run the in-cluster agent")
    agent_commands = agent.add_subparsers(dest="agent_command", required=True, parser_class=_Parser)
    # The agent's own parser takes its flags, so that client commands never import it.
    agent_run = agent_commands.add_parser(
        "run", help="reconcile GameServerSets in one cluster", add_help=False
    )
    agent_run.add_argument("agent_args", nargs=argparse.REMAINDER)

    apply = _client_parser(commands, "apply", help="create or update fleets from a manifest")
    apply.add_argument("-f", "--filename", required=True, help="YAML file, or - for stdin")
    apply.add_argument("--dry-run", action="store_true")
    apply.set_defaults(handler=fleet_commands.apply)

    get = commands.add_parser("get", help="show fleets or clusters")
    get_kinds = get.add_subparsers(dest="kind", required=True, parser_class=_Parser)
    for kind, handler in (
        ("fleets", fleet_commands.get),
        ("fleet", fleet_commands.get),
        ("clusters", cluster_commands.get),
        ("cluster", cluster_commands.get),
        ("gameservers", gameserver_commands.get),
        ("gameserver", gameserver_commands.get),
        ("gs", gameserver_commands.get),
        *((kind, autoscaler_commands.get) for kind in AUTOSCALER_KINDS),
    ):
        sub = _client_parser(get_kinds, kind)
        sub.add_argument("name", nargs="?")
        _output_flag(sub)
        if not kind.startswith("cluster"):
            sub.add_argument("-A", "--all-namespaces", action="store_true")
        if kind.startswith(("gameserver", "gs")):
            gameserver_commands.add_filter_flags(sub)
        if kind.startswith("fleet"):
            fleet_commands.add_get_flags(sub)
        sub.set_defaults(handler=handler)

    update = commands.add_parser("update", help="targeted operations on game servers")
    update_kinds = update.add_subparsers(dest="kind", required=True, parser_class=_Parser)
    for kind in ("gameservers", "gameserver", "gs"):
        sub = _client_parser(update_kinds, kind)
        gameserver_commands.add_update_flags(sub)
        sub.set_defaults(handler=gameserver_commands.update)

    allocate = _client_parser(commands, "allocate", help="allocate a Ready game server of a fleet")
    allocation_commands.add_flags(allocate)
    allocate.set_defaults(handler=allocation_commands.allocate)

    delete = commands.add_parser("delete", help="delete a fleet or a fleet autoscaler")
    delete_kinds = delete.add_subparsers(dest="kind", required=True, parser_class=_Parser)
    delete_fleet = _client_parser(delete_kinds, "fleet")
    delete_fleet.add_argument("name")
    delete_fleet.set_defaults(handler=fleet_commands.delete)
    for kind in AUTOSCALER_KINDS[1:]:
        delete_autoscaler = _client_parser(delete_kinds, kind)
        delete_autoscaler.add_argument("name")
        delete_autoscaler.set_defaults(handler=autoscaler_commands.delete)

    scale = commands.add_parser("scale", help="set a fleet's replicas")
    scale_kinds = scale.add_subparsers(dest="kind", required=True, parser_class=_Parser)
    scale_fleet = _client_parser(scale_kinds, "fleet")
    scale_fleet.add_argument("name")
    scale_fleet.add_argument("--replicas", type=int, required=True)
    scale_fleet.set_defaults(handler=fleet_commands.scale)

    register = commands.add_parser("register", help="register a member cluster")
    register_kinds = register.add_subparsers(dest="kind", required=True, parser_class=_Parser)
    register_cluster = _client_parser(register_kinds, "cluster")
    register_cluster.add_argument("name")
    register_cluster.add_argument("--label", action="append", default=[], help="KEY=VALUE")
    register_cluster.set_defaults(handler=cluster_commands.register)

    for name, handler in (
        ("cordon", cluster_commands.cordon),
        ("uncordon", cluster_commands.uncordon),
    ):
        sub = _client_parser(commands, name, help=f"{name} a cluster")
        sub.add_argument("name")
        sub.set_defaults(handler=handler)

    remove = commands.add_parser("remove", help="remove a member cluster")
    remove_kinds = remove.add_subparsers(dest="kind", required=True, parser_class=_Parser)
    remove_cluster = _client_parser(remove_kinds, "cluster")
    remove_cluster.add_argument("name")
    remove_cluster.set_defaults(handler=cluster_commands.remove)
    return parser


def _run_agent(argv: Sequence[str]) -> int:
    from agent import run

    parser = _Parser(prog="gamefleet agent run", description=run.__doc__)
    run.add_agent_flags(parser)
    run.run(parser.parse_args(argv))
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["agent", "run"]:
        return _run_agent(argv[2:])
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        handler(args)
    except CliError as exc:
        sys.stderr.write(f"error: {_one_line(str(exc))}\n")
        return 1
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        name = code.name if code is not None else "UNKNOWN"
        sys.stderr.write(f"error: {name}: {_one_line(details or '')}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
