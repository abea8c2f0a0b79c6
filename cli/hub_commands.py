"""gamefleet hub serve: run a hub process until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CliError

if TYPE_CHECKING:
    from hub.api.server import HubConfig


DEFAULT_STORE = "sqlite:gamefleet-hub.db"


def add_serve_flags(parser: argparse.ArgumentParser) -> None:
    from gamefleet import telemetry

    parser.add_argument(
        "--store",
        default=os.environ.get("GAMEFLEET_STORE", DEFAULT_STORE),
        help="sqlite:PATH or sqlite:///ABSOLUTE/PATH (default, embedded), "
        "or etcd://HOST:PORT[,HOST:PORT][/PREFIX] (env GAMEFLEET_STORE)",
    )
    parser.add_argument("--advertise", help="address other replicas and agents reach this hub at")
    parser.add_argument(
        "--listen",
        default=os.environ.get("GAMEFLEET_LISTEN", "127.0.0.1:7400"),
        help="HOST:PORT of the API (and, without --agent-listen, the agents'); port 0 picks one "
        "(env GAMEFLEET_LISTEN; default 127.0.0.1:7400)",
    )
    parser.add_argument("--tls-cert", type=Path, help="server certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="server private key (PEM)")
    parser.add_argument(
        "--client-ca", type=Path, help="CA that signs agent certificates (enables agent mTLS)"
    )
    parser.add_argument(
        "--agent-listen", help="address of the agents' mTLS port (with --client-ca)"
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        help="bearer tokens of API users, one per line (token[,user]); needs --tls-cert",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="accept --token-file tokens without TLS, in clear text (development only)",
    )
    parser.add_argument(
        "--metrics-listen",
        type=_listen_address,
        default=os.environ.get("GAMEFLEET_METRICS_LISTEN"),
        metavar="HOST:PORT",
        help="serve Prometheus metrics over plain HTTP at http://HOST:PORT/metrics "
        "(default: off; env GAMEFLEET_METRICS_LISTEN)",
    )
    parser.add_argument(
        "--agones-rest-listen",
        type=_listen_address,
        default=os.environ.get("GAMEFLEET_AGONES_REST_LISTEN"),
        metavar="HOST:PORT",
        help="serve Agones' REST allocation, POST /gameserverallocation, at HOST:PORT (HTTPS "
        "with --tls-cert; the --token-file tokens; default: off; env GAMEFLEET_AGONES_REST_LISTEN)",
    )
    parser.add_argument(
        "--console-listen",
        type=_listen_address,
        default=os.environ.get("GAMEFLEET_CONSOLE_LISTEN"),
        metavar="HOST:PORT",
        help="serve the read-only web console at HOST:PORT (HTTPS with --tls-cert; the API's "
        "tokens; default: off; env GAMEFLEET_CONSOLE_LISTEN)",
    )
    telemetry.add_flag(parser)


def _listen_address(text: str) -> str:
    from hub.api import metrics

    try:
        metrics.parse_listen(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


# The flag of each HubConfig setting a start-up error can name.
_FLAGS = {"store_url": "--store"}


def _flag(setting: str) -> str:
    return _FLAGS.get(setting, "--" + setting.replace("_", "-"))


async def _serve(config: HubConfig, console_listen: str | None) -> None:
    from hub.api import startup
    from hub.api.server import Hub
    from hub.console.server import Console

    if console_listen is not None:
        # Before the hub starts: a console port in use stops nothing that is running.
        startup.check_bindable(console_listen, "console_listen")
    hub = Hub(config)
    await hub.start()
    console = Console(hub) if console_listen is not None else None
    if console is not None and console_listen is not None:
        try:
            port = await console.start(console_listen)
        except (ValueError, OSError) as exc:
            await hub.stop(grace=0)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise startup.StartError(
                "console_listen", f"cannot listen on {console_listen}: {reason}"
            ) from exc
        print(f"hub console on {console.scheme}://{console_listen}/ (port {port})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if hub.metrics_port is not None:
        # Before the listening line, which tells a supervisor the hub is up.
        print(
            f"hub metrics on http://{config.metrics_listen}/metrics (port {hub.metrics_port})",
            flush=True,
        )
    if hub.agones_rest_port is not None:
        scheme = "https" if config.tls_cert is not None else "http"
        print(
            f"hub Agones REST allocation on {scheme}://{config.agones_rest_listen}"
            f"/gameserverallocation (port {hub.agones_rest_port})",
            flush=True,
        )
    print(
        f"hub listening on {config.listen} (port {hub.port}), store {config.store_url}", flush=True
    )
    if hub.agent_port is not None:
        print(f"hub agent port listening on {config.agent_listen} (port {hub.agent_port})")
    await stop.wait()
    if console is not None:
        await console.stop()
    await hub.stop()


def serve(args: argparse.Namespace) -> None:
    from gamefleet import telemetry

    from hub.api.server import HubConfig
    from hub.api.startup import StartError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = HubConfig(
        store_url=args.store,
        listen=args.listen,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        advertise=args.advertise,
        client_ca=args.client_ca,
        agent_listen=args.agent_listen,
        token_file=args.token_file,
        insecure=args.insecure,
        metrics_listen=args.metrics_listen,
        agones_rest_listen=args.agones_rest_listen,
    )
    if config.insecure and config.token_file is not None and config.tls_cert is None:
        sys.stderr.write(
            "warning: --insecure: bearer tokens travel in clear text; anyone who can see the "
            "traffic can read and replay them\n"
        )
    tracing = telemetry.settings(args.otlp_endpoint, "gamefleet-hub")
    if tracing is not None:
        telemetry.start(tracing)
    try:
        asyncio.run(_serve(config, args.console_listen))
    except StartError as exc:
        raise CliError(f"{_flag(exc.setting)}: {_flags_in(exc.message)}") from exc
    except (ValueError, OSError, RuntimeError) as exc:
        raise CliError(f"hub serve: {exc}") from exc
    finally:
        telemetry.stop()


def _flags_in(message: str) -> str:
    """``message`` with the settings it mentions named as flags."""
    for setting in ("tls_cert", "tls_key", "client_ca", "agent_listen", "token_file", "insecure"):
        message = message.replace(setting, _flag(setting))
    return message
