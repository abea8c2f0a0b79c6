"""`gamefleet agent run`: the in-cluster agent without a hub.

`add_agent_flags(parser)` adds the flags; `run(args)` runs until SIGTERM/SIGINT (exit 0) or
until this replica loses its lease (exit 1, so its supervisor restarts it as a follower).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import pathlib
import re
import signal
import socket
import sys

from gamefleet import telemetry
from gamefleet.listen import parse_listen

from agent import metrics, okg_metrics, tls
from agent.autoscaler import server as scaler_server
from agent.controllers import manager
from agent.core.network import hostport
from agent.gameapi import server as game_api
from agent.hublink import link, translate
from agent.kube import client as kclient
from agent.kube import crds, leader
from agent.quality import prober as quality_prober
from okg.network import conf as network_conf

_log = logging.getLogger("agent")

LEASE_NAME = "gamefleet-agent"


def add_agent_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of `gamefleet agent run`."""
    parser.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG") or None,
        help="kubeconfig file (default: $KUBECONFIG, else the in-cluster service account)",
    )
    parser.add_argument("--context", default=None, help="kubeconfig context")
    parser.add_argument(
        "--namespace",
        default=None,
        help="reconcile GameServerSets of this namespace only (default: every namespace)",
    )
    parser.add_argument(
        "--id",
        dest="identity",
        default=os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}",
        help="this replica's identity in the lease (default: $POD_NAME, else host-pid)",
    )
    parser.add_argument(
        "--lease-namespace",
        default=None,
        help="namespace of the leader Lease, which must exist (default: $POD_NAMESPACE, "
        "else default)",
    )
    parser.add_argument(
        "--lease-name",
        default=None,
        help=f"name of the leader Lease (default: {LEASE_NAME}-CLUSTER with --cluster, else "
        f"{LEASE_NAME}-NAMESPACE with --namespace, else {LEASE_NAME})",
    )
    parser.add_argument(
        "--crds",
        type=pathlib.Path,
        default=crds.DEFAULT_PATH,
        help="CRD manifest applied at start (server-side apply)",
    )
    parser.add_argument("--skip-crds", action="store_true", help="do not apply the CRDs")
    parser.add_argument("--workers", type=int, default=4, help="concurrent reconciles")
    parser.add_argument(
        "--metrics-listen",
        type=_listen_address,
        default=None,
        metavar="HOST:PORT",
        help="serve Prometheus metrics over plain HTTP at http://HOST:PORT/metrics "
        "(default: off; port 0 picks a free port, logged)",
    )
    parser.add_argument(
        "--metrics-port",
        type=_port,
        default=0,
        help="deprecated: --metrics-listen 0.0.0.0:PORT (every interface)",
    )
    parser.add_argument(
        "--scaler-port",
        type=_port,
        default=scaler_server.DEFAULT_PORT,
        help="serve KEDA's external scaler (OKG's autoscaling hook) on this port "
        f"(default: {scaler_server.DEFAULT_PORT}, as OKG; 0: off)",
    )
    parser.add_argument(
        "--game-api-listen",
        type=_listen_address,
        default=None,
        metavar="HOST:PORT",
        help="serve the game servers' HTTP endpoint for their counters and lists at "
        "http://HOST:PORT/gameservers/... (default: off; unauthenticated: listen where only "
        "game servers reach it)",
    )
    tls.add_flags(parser, "scaler", "KEDA's external scaler")
    tls.add_flags(parser, "metrics", "/metrics (HTTPS)")
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    telemetry.add_flag(parser)
    parser.add_argument(
        "--host-port-range",
        type=_port_range,
        default=hostport.DEFAULT_RANGE,
        metavar="LOW-HIGH",
        help="host ports of Kubernetes-HostPort game servers (default: 8000-9000, inclusive)",
    )
    parser.add_argument(
        "--node-name",
        default=os.environ.get("NODE_NAME") or None,
        help="probe service qualities of this node's pods (default: $NODE_NAME, else every pod)",
    )
    parser.add_argument(
        "--no-quality-probes", action="store_true", help="run no service-quality probes"
    )
    parser.add_argument(
        "--allocation-request-ttl",
        type=_positive_seconds,
        default=600.0,
        metavar="SECONDS",
        help="delete an answered GameServerAllocation this long after it was created "
        "(default: 600)",
    )
    hub = parser.add_argument_group("hub link (omit --hub to run without a hub)")
    hub.add_argument("--hub", default=os.environ.get("GAMEFLEET_HUB"), help="hub agent address")
    hub.add_argument("--cluster", default=os.environ.get("GAMEFLEET_CLUSTER"), help="cluster name")
    hub.add_argument(
        "--cluster-label", action="append", default=[], help="KEY=VALUE sent to the hub"
    )
    hub.add_argument("--hub-ca-file", type=pathlib.Path, help="CA of the hub (enables TLS)")
    hub.add_argument("--hub-cert-file", type=pathlib.Path, help="this cluster's certificate")
    hub.add_argument("--hub-key-file", type=pathlib.Path, help="this cluster's private key")
    hub.add_argument("--heartbeat-interval", type=_positive_seconds, default=2.0, help="seconds")
    hub.add_argument(
        "--allocation-path",
        choices=link.ALLOCATION_PATHS,
        default="direct",
        help="direct (default): answer an allocation once its GameServer is written; ledger: "
        "once its set's allocation ledger holds it (one write per batch), the GameServer after",
    )
    # Tests only: hold each GameServer write of an allocation back (a crash before it), and
    # the first write of an idle ledger (a burst shares it).
    parser.add_argument(
        "--allocation-catch-up-delay", type=float, default=0.0, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--allocation-ledger-linger", type=float, default=None, help=argparse.SUPPRESS
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return port


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return seconds


def _listen_address(text: str) -> str:
    try:
        parse_listen(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def default_lease_name(cluster: str | None, namespace: str | None) -> str:
    """One Lease per cluster (and per namespace without a hub): an agent of another cluster
    that uses the same API server, or the same namespace, never keeps this one following."""
    scope = cluster or namespace
    if not scope:
        return LEASE_NAME
    return f"{LEASE_NAME}-{re.sub(r'[^a-z0-9.-]+', '-', scope.lower())}"[:253].strip("-.")


def _metrics_listen(args: argparse.Namespace) -> str | None:
    if args.metrics_listen:
        return str(args.metrics_listen)
    if args.metrics_port:
        _log.warning(
            "--metrics-port is deprecated: use --metrics-listen 0.0.0.0:%d", args.metrics_port
        )
        return f"0.0.0.0:{args.metrics_port}"
    return None


def _serve_metrics(listen: str, server_tls: tls.ServerTLS | None) -> None:
    try:
        port = metrics.serve(listen, server_tls)
    except OSError as exc:
        raise SystemExit(
            f"error: --metrics-listen: cannot listen on {listen}: {exc.strerror or exc}"
        ) from exc
    host, _ = parse_listen(listen)
    scheme = "https" if server_tls is not None else "http"
    _log.info("agent metrics on %s://%s:%d/metrics (port %d)", scheme, host, port, port)


def _port_range(text: str) -> tuple[int, int]:
    try:
        return hostport.parse_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _link_config(args: argparse.Namespace) -> link.LinkConfig | None:
    if not args.hub:
        return None
    if not args.cluster:
        raise SystemExit("error: --cluster: required with --hub")
    if not args.heartbeat_interval > 0:
        raise SystemExit("error: --heartbeat-interval: must be a positive number of seconds")
    labels = {}
    for pair in args.cluster_label:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --cluster-label: {pair!r} is not KEY=VALUE")
        labels[key] = value
    return link.LinkConfig(
        hub=args.hub,
        cluster=args.cluster,
        labels=labels,
        ca_file=args.hub_ca_file,
        cert_file=args.hub_cert_file,
        key_file=args.hub_key_file,
        heartbeat_interval=args.heartbeat_interval,
        network_plugins=network_conf.SUPPORTED,
        namespaces=(args.namespace,) if args.namespace else (),
        allocation_path=args.allocation_path,
    )


def run(args: argparse.Namespace) -> None:
    """Run the agent; returns on SIGTERM/SIGINT, exits 1 when the lease is lost."""
    logging.basicConfig(
        level=str(args.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    tracing = telemetry.settings(args.otlp_endpoint, "gamefleet-agent")
    if tracing is not None:
        telemetry.start(tracing)
    try:
        code = asyncio.run(_main(args))
    finally:
        telemetry.stop()
    if code:
        sys.exit(code)


async def _main(args: argparse.Namespace) -> int:
    link_config = _link_config(args)
    scaler_tls = tls.from_args(args, "scaler")
    metrics_tls = tls.from_args(args, "metrics")
    try:
        kube = await kclient.KubeClient.connect(args.kubeconfig, args.context)
    except Exception as exc:  # the client raises its own types for a bad kubeconfig
        raise SystemExit(f"error: --kubeconfig: {' '.join(str(exc).split())}") from exc
    stop = asyncio.Event()
    lost = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    lease_namespace = args.lease_namespace or os.environ.get("POD_NAMESPACE") or "default"
    lease_name = args.lease_name or default_lease_name(args.cluster, args.namespace)
    elector = leader.LeaderElector(
        kube, leader.LeaseConfig(lease_namespace, lease_name, args.identity)
    )
    controller = manager.Controller(
        kube,
        namespace=args.namespace,
        workers=args.workers,
        host=args.identity,
        host_port_range=args.host_port_range,
        catch_up_delay=args.allocation_catch_up_delay,
        allocation_request_ttl=args.allocation_request_ttl,
        **(
            {"ledger_linger": args.allocation_ledger_linger}
            if args.allocation_ledger_linger is not None
            else {}
        ),
    )
    okg_metrics.register(controller.sets, controller.game_servers)
    metrics.register_callback(
        "gamefleet_agent_api_writes",
        "Kubernetes API writes made by this replica, by verb and kind.",
        lambda: {k: float(v) for k, v in kube.writes.as_dict().items()},
        "call",
    )
    listen = _metrics_listen(args)
    if listen is not None:
        _serve_metrics(listen, metrics_tls)
    # Every replica keeps the caches, so every replica answers KEDA (not only the leader).
    scaler = (
        scaler_server.ScalerServer(
            controller.sets,
            controller.game_servers,
            controller.pods,
            namespace=args.namespace,
            hub_managed=translate.managed,
            hub=args.hub or "",
        )
        if args.scaler_port
        else None
    )
    # Every replica answers the game servers too: each write is guarded by what it read.
    games = (
        game_api.GameApi(kube, controller.game_servers, (args.namespace,) if args.namespace else ())
        if args.game_api_listen
        else None
    )
    try:
        if games is not None:
            try:
                port = await games.start(args.game_api_listen)
            except OSError as exc:
                raise SystemExit(f"error: --game-api-listen: {exc.strerror or exc}") from exc
            _log.info("game API on %s (port %d)", args.game_api_listen, port)
        if scaler is not None:
            try:
                await scaler.start(args.scaler_port, server_tls=scaler_tls)
            except RuntimeError as exc:
                raise SystemExit(f"error: --scaler-port: {exc}") from exc
        if args.skip_crds:
            pass
        elif not args.crds.is_file():
            _log.warning("CRD manifest %s not found: not applying the CRDs", args.crds)
        else:
            names = await crds.install(kube, args.crds)
            _log.info("CRDs applied: %s", ", ".join(names))
        controller.start_caches()
        # Every replica probes its own node's game servers; the leader applies the actions.
        probes = (
            []
            if args.no_quality_probes
            else [
                asyncio.create_task(
                    quality_prober.Prober(
                        kube,
                        controller.sets,
                        controller.game_servers,
                        controller.pods,
                        args.node_name,
                    ).run()
                )
            ]
        )

        async def on_stopped() -> None:
            lost.set()

        hub_link = (
            link.HubLink(
                link_config,
                kube,
                controller.sets,
                controller.game_servers,
                controller.pods,
                controller.network.nodes,
                controller.allocations,
            )
            if link_config is not None
            else None
        )
        link_task: list[asyncio.Task[None]] = []

        async def lead() -> None:
            await controller.start_reconciling()
            # Only the leader writes to the cluster, so only the leader talks to the hub.
            if hub_link is not None:
                link_task.append(asyncio.create_task(hub_link.run()))

        campaign = asyncio.create_task(elector.run(lead, on_stopped))
        stopping = asyncio.create_task(stop.wait())
        losing = asyncio.create_task(lost.wait())
        await asyncio.wait({campaign, stopping, losing}, return_when=asyncio.FIRST_COMPLETED)
        missing = campaign.exception() if campaign.done() and not campaign.cancelled() else None
        for task in (campaign, stopping, losing):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in link_task + probes:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await controller.stop()
        if isinstance(missing, leader.NamespaceMissingError):
            raise SystemExit(f"error: --lease-namespace: {missing}")
        if lost.is_set():
            _log.error("lease lost: exiting so a supervisor restarts this replica as a follower")
            return 1
        await elector.release()
        _log.info("stopped; %d API writes: %s", kube.writes.total(), kube.writes.as_dict())
        return 0
    finally:
        if games is not None:
            await games.stop()
        if scaler is not None:
            await scaler.stop()
        await kube.close()
