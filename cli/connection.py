"""How the CLI reaches a hub: address, TLS and bearer token, each with an environment default."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import grpc

from .errors import CliError

DEFAULT_HUB = "127.0.0.1:7400"


@dataclasses.dataclass(frozen=True)
class HubTarget:
    address: str
    ca_file: Path | None
    cert_file: Path | None
    key_file: Path | None
    token_file: Path | None


def add_hub_flags(parser: argparse.ArgumentParser, defaults: bool = True) -> None:
    """The flags that say how to reach the hub. The top-level parser holds them with their
    defaults and help; each verb repeats them without either (``defaults=False``), so that they
    work after the verb too and one given before it (``gamefleet --hub X get fleets``) is not
    reset by the verb's parser."""
    env = os.environ.get
    flags = (
        ("--hub", env("GAMEFLEET_HUB", DEFAULT_HUB),
         f"hub address HOST:PORT (env GAMEFLEET_HUB; default {DEFAULT_HUB})"),
        ("--ca-file", env("GAMEFLEET_CA_FILE"),
         "CA bundle that signs the hub's certificate; enables TLS (env GAMEFLEET_CA_FILE)"),
        ("--cert-file", env("GAMEFLEET_CERT_FILE"),
         "client certificate, PEM (env GAMEFLEET_CERT_FILE)"),
        ("--key-file", env("GAMEFLEET_KEY_FILE"),
         "client private key, PEM (env GAMEFLEET_KEY_FILE)"),
        ("--token-file", env("GAMEFLEET_TOKEN_FILE"),
         "file holding a bearer token; needs --ca-file (env GAMEFLEET_TOKEN_FILE)"),
    )  # fmt: skip
    for flag, default, text in flags:
        if defaults:
            parser.add_argument(flag, default=default, help=text)
        else:
            parser.add_argument(flag, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


GLOBAL_FLAGS_EPILOG = (
    "--hub, --ca-file, --cert-file, --key-file and --token-file work here too "
    "(see gamefleet --help)."
)


def unreachable_hint(address: str) -> str:
    """Said before gRPC's own words when no hub answers at ``address``."""
    return f"no hub answers at {address} (set --hub or GAMEFLEET_HUB)"


def target_from(args: argparse.Namespace) -> HubTarget:
    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    return HubTarget(
        address=args.hub,
        ca_file=path(args.ca_file),
        cert_file=path(args.cert_file),
        key_file=path(args.key_file),
        token_file=path(args.token_file),
    )


def _read(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"{flag}: cannot read {path}: {exc.strerror}") from exc


def open_channel(target: HubTarget) -> grpc.Channel:
    if target.ca_file is None:
        if target.token_file is not None:
            raise CliError("--token-file: a bearer token needs TLS; pass --ca-file")
        return grpc.insecure_channel(target.address)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(target.ca_file, "--ca-file"),
        private_key=_read(target.key_file, "--key-file") if target.key_file else None,
        certificate_chain=_read(target.cert_file, "--cert-file") if target.cert_file else None,
    )
    if target.token_file is not None:
        token = _read(target.token_file, "--token-file").decode().strip()
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(token)
        )
    return grpc.secure_channel(target.address, credentials)
