"""The gamefleet command: run a hub or an agent, and operate fleets and clusters."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Callable, Sequence
from typing import TypeAlias

import grpc

from . import (
    allocation_commands,
    autoscaler_commands,
    cert_commands,
    cluster_commands,
    connection,
    describe_commands,
    fleet_commands,
    gameserver_commands,
    hub_commands,
    rollout_commands,
)
from .errors import CliError

Handler = Callable[[argparse.Namespace], None]
# argparse's class is generic only in its stubs.
Subparsers: TypeAlias = "argparse._SubParsersAction[_Parser]"

DEFAULT_NAMESPACE = "default"
AGENT_RUN_DESCRIPTION = (
    "Run the in-cluster agent: reconcile OpenKruiseGame GameServerSets and GameServers in one "
    "Kubernetes cluster (OpenKruise not needed), probe service qualities and serve KEDA's "
    "external scaler. With --hub and --cluster it also keeps the hub's fleets in this cluster "
    "and reports their status. Replicas elect one leader through a Lease; a replica that "
    "loses the lease exits with status 1 so its supervisor restarts it."
)
# UNAVAILABLE answers that come from a hub that does answer: no hint about --hub for them.
_HUB_ANSWERS = ("this hub is not the leader", "store unavailable")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit status 1, like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {self.prog}: {message}\n")
        raise SystemExit(1)


def _version() -> str:
    try:
        return importlib.metadata.version("gamefleet")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _client_flags(parser: argparse.ArgumentParser, namespaced: bool = True) -> None:
    """The global flags again on a verb, so they work before or after it (as kubectl's do)."""
    connection.add_hub_flags(parser, defaults=False)
    if namespaced:
        parser.add_argument(
            "-n",
            "--namespace",
            default=argparse.SUPPRESS,
            help=f"namespace of the fleets and game servers (default {DEFAULT_NAMESPACE})",
        )


def _group(
    commands: Subparsers,
    name: str,
    help: str,
    dest: str,
    client: bool = True,
    namespaced: bool = True,
) -> Subparsers:
    """A verb whose next word is a kind; a client verb takes the global flags too."""
    epilog = connection.GLOBAL_FLAGS_EPILOG if client else None
    parser = commands.add_parser(name, help=help, description=help, epilog=epilog)
    if client:
        _client_flags(parser, namespaced)
    kinds: Subparsers = parser.add_subparsers(
        dest=dest, required=True, parser_class=_Parser, metavar="KIND", title="kinds"
    )
    return kinds


def _command(
    commands: Subparsers,
    name: str,
    help: str,
    handler: Handler,
    aliases: Sequence[str] = (),
    namespaced: bool = True,
) -> _Parser:
    parser: _Parser = commands.add_parser(
        name,
        help=help,
        description=help,
        aliases=list(aliases),
        epilog=connection.GLOBAL_FLAGS_EPILOG,
    )
    _client_flags(parser, namespaced)
    parser.set_defaults(handler=handler)
    return parser


def _output_flags(parser: argparse.ArgumentParser, watch: bool = True) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=["table", "wide", "yaml", "json"],
        default="table",
        help="output format (wide: more columns)",
    )
    parser.add_argument("-l", "--selector", default="", help="label selector, e.g. game=arena")
    if watch:
        parser.add_argument(
            "-w", "--watch", action="store_true", help="after listing, print changes as they happen"
        )
        parser.add_argument(
            "--output-watch-events",
            action="store_true",
            help="with --watch: an EVENT column (ADDED, MODIFIED, DELETED)",
        )


def _add_hub(commands: Subparsers) -> None:
    hub = _group(
        commands, "hub", "run the hub and manage its certificates", "hub_command", client=False
    )
    serve = hub.add_parser(
        "serve", help="serve the hub's gRPC API", description="serve the hub's gRPC API"
    )
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
        sub = hub.add_parser(name, help=text, description=text)
        add_flags(sub)
        sub.set_defaults(handler=handler)


def _add_agent(commands: Subparsers) -> None:
    agent = _group(commands, "agent", "run the in-cluster agent", "agent_command", client=False)
    # The agent's own parser takes its flags (see _run_agent), so client commands never import it.
    run = agent.add_parser("run", help="reconcile GameServerSets in one cluster", add_help=False)
    run.add_argument("agent_args", nargs=argparse.REMAINDER, help="the agent's flags")
    run.set_defaults(handler=lambda args: _run_agent(args.agent_args))


def _add_get(commands: Subparsers) -> None:
    get = _group(commands, "get", "list fleets, game servers or clusters", "kind")
    kinds: list[tuple[str, list[str], str, Handler]] = [
        ("fleets", ["fleet"], "fleets with their placement and counts", fleet_commands.get),
        ("gameservers", ["gameserver", "gs"], "game servers in every cluster",
         gameserver_commands.get),
        ("clusters", ["cluster"], "member clusters and their health", cluster_commands.get),
        ("fleetautoscalers", ["fleetautoscaler", "fas"],
         "fleet autoscalers and their last decision", autoscaler_commands.get),
    ]  # fmt: skip
    for kind, aliases, text, handler in kinds:
        namespaced = kind != "clusters"
        sub = _command(get, kind, text, handler, aliases, namespaced)
        sub.add_argument(
            "name",
            nargs="?",
            metavar="CLUSTER/NAME" if kind == "gameservers" else "NAME",
            help="just this one"
            + (" (a bare NAME if only one cluster has it)" if kind == "gameservers" else ""),
        )
        _output_flags(sub, watch=kind != "fleetautoscalers")
        if namespaced:
            sub.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
        if kind == "gameservers":
            gameserver_commands.add_filter_flags(sub)
        if kind == "fleets":
            fleet_commands.add_get_flags(sub)


def _add_describe(commands: Subparsers) -> None:
    describe = _group(
        commands, "describe", "show one object in detail, with its recent events", "kind"
    )
    for kind, aliases, text, handler, namespaced in (
        ("fleet", ["fleets"], "a fleet: status, conditions, clusters, events",
         describe_commands.fleet, True),
        ("gameserver", ["gameservers", "gs"], "a game server: state, address, events",
         describe_commands.gameserver, True),
        ("cluster", ["clusters"], "a cluster: health, capacity, fleets placed, events",
         describe_commands.cluster, False),
    ):  # fmt: skip
        sub = _command(describe, kind, text, handler, aliases, namespaced)
        if kind == "gameserver":
            sub.add_argument(
                "name", metavar="CLUSTER/NAME", help="a bare NAME if only one cluster has it"
            )
            sub.add_argument("--cluster", default="", help="look a bare NAME up in this cluster")
        else:
            sub.add_argument("name", help=f"the {kind}'s name")


def _add_fleet_verbs(commands: Subparsers) -> None:
    apply = _command(
        commands, "apply", "create or update fleets from a manifest", fleet_commands.apply
    )
    apply.add_argument(
        "-f",
        "--filename",
        required=True,
        help="YAML file of Fleets or OKG GameServerSets; - reads stdin",
    )
    apply.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and compute placement on the hub, store nothing",
    )

    delete = _group(commands, "delete", "delete a fleet or a fleet autoscaler", "kind")
    fleet = _command(delete, "fleet", "delete a fleet", fleet_commands.delete)
    fleet.add_argument("name", help="the fleet's name")
    autoscaler = _command(
        delete,
        "fleetautoscaler",
        "delete a fleet autoscaler (the fleet's replicas go back to the user)",
        autoscaler_commands.delete,
        ["fas"],
    )
    autoscaler.add_argument("name", help="the autoscaler's name")

    scale = _group(commands, "scale", "set a fleet's replicas", "kind")
    fleet = _command(scale, "fleet", "set a fleet's total replicas", fleet_commands.scale)
    fleet.add_argument("name", help="the fleet's name")
    fleet.add_argument("--replicas", type=int, required=True, help="the new total")

    update = _group(commands, "update", "targeted operations on game servers", "kind")
    servers = _command(
        update,
        "gameservers",
        "set opsState, priorities, networkDisabled or images of game servers",
        gameserver_commands.update,
        ["gameserver", "gs"],
    )
    gameserver_commands.add_update_flags(servers)

    allocate = _command(
        commands,
        "allocate",
        "allocate a Ready game server of a fleet",
        allocation_commands.allocate,
    )
    allocation_commands.add_flags(allocate)
    group = _command(
        commands,
        "allocate-group",
        "allocate one game server per member, all in one cluster (or zone), all or nothing",
        allocation_commands.allocate_group,
    )
    allocation_commands.add_group_flags(group)


def _add_rollout(commands: Subparsers) -> None:
    rollout = commands.add_parser(
        "rollout",
        help="steer a fleet's progressive rollout (spec.rollout)",
        description="steer a fleet's progressive rollout (spec.rollout)",
    )
    actions: Subparsers = rollout.add_subparsers(
        dest="action", required=True, parser_class=_Parser, metavar="ACTION", title="actions"
    )
    for name, handler, text in (
        ("status", rollout_commands.status, "the rollout's phase, wave and each cluster's state"),
        ("pause", rollout_commands.pause, "give no more clusters the new template"),
        ("resume", rollout_commands.resume, "go on (also after a failure paused it)"),
        (
            "undo",
            rollout_commands.undo,
            "back to the previous revision's template, on every cluster at once",
        ),
        ("history", rollout_commands.history, "the fleet's last templates (revisions)"),
    ):
        sub = _command(actions, name, text, handler)
        sub.add_argument("name", help="the fleet's name")


def _add_cluster_verbs(commands: Subparsers) -> None:
    register = _group(commands, "register", "register a member cluster", "kind", namespaced=False)
    cluster = _command(
        register,
        "cluster",
        "register a cluster (or change its labels)",
        cluster_commands.register,
        namespaced=False,
    )
    cluster.add_argument("name", help="the cluster's name (its agent's --cluster)")
    cluster.add_argument(
        "--label", action="append", default=[], help="KEY=VALUE, e.g. region=eu; repeatable"
    )
    for name, handler, text in (
        ("cordon", cluster_commands.cordon, "stop new placement and allocation on a cluster"),
        (
            "drain",
            cluster_commands.drain,
            "cordon a cluster and move its idle servers elsewhere (Allocated ones stay)",
        ),
        ("uncordon", cluster_commands.uncordon, "let a cordoned cluster take work again"),
    ):
        sub = _command(commands, name, text, handler, namespaced=False)
        sub.add_argument("name", help="the cluster's name")
    remove = _group(commands, "remove", "remove a member cluster", "kind", namespaced=False)
    cluster = _command(
        remove, "cluster", "forget a cluster", cluster_commands.remove, namespaced=False
    )
    cluster.add_argument("name", help="the cluster's name")


def build_parser() -> _Parser:
    parser = _Parser(prog="gamefleet", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gamefleet {_version()}")
    connection.add_hub_flags(parser)
    parser.add_argument(
        "-n",
        "--namespace",
        default=None,  # parse_args fills in the default and says whether -n was given
        help=f"namespace of the fleets and game servers (default {DEFAULT_NAMESPACE})",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="COMMAND", title="commands"
    )
    _add_hub(commands)
    _add_agent(commands)
    _add_get(commands)
    _add_describe(commands)
    _add_fleet_verbs(commands)
    _add_rollout(commands)
    _add_cluster_verbs(commands)
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line; ``explicit_namespace`` tells whether -n was given (apply needs it:
    a manifest's own namespace must agree with it, as kubectl requires)."""
    args = build_parser().parse_args(argv)
    args.explicit_namespace = args.namespace is not None
    if args.namespace is None:
        args.namespace = DEFAULT_NAMESPACE
    return args


def agent_run_parser() -> argparse.ArgumentParser:
    from agent import run

    parser = _Parser(prog="gamefleet agent run", description=AGENT_RUN_DESCRIPTION)
    run.add_agent_flags(parser)
    return parser


def _run_agent(argv: Sequence[str]) -> None:
    from agent import run

    run.run(agent_run_parser().parse_args(argv))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _rpc_error(exc: grpc.RpcError, args: argparse.Namespace) -> str:
    code = exc.code() if isinstance(exc, grpc.Call) else None
    details = (exc.details() if isinstance(exc, grpc.Call) else str(exc)) or ""
    name = code.name if code is not None else "UNKNOWN"
    if code is grpc.StatusCode.UNAVAILABLE and not details.startswith(_HUB_ANSWERS):
        details = f"{connection.unreachable_hint(args.hub)}: {details}"
    return f"{name}: {_one_line(details)}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["agent", "run"]:
        _run_agent(argv[2:])
        return 0
    args = parse_args(argv)
    handler: Handler = args.handler
    try:
        handler(args)
    except CliError as exc:
        sys.stderr.write(f"error: {_one_line(str(exc))}\n")
        return 1
    except grpc.RpcError as exc:
        sys.stderr.write(f"error: {_rpc_error(exc, args)}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
