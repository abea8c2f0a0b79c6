"""TLS of the agent's own servers (KEDA's scaler, /metrics), from flag pairs such as
``--scaler-tls-cert``/``--scaler-tls-key`` and an optional ``--scaler-client-ca``."""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import ssl


@dataclasses.dataclass(frozen=True)
class ServerTLS:
    cert: pathlib.Path
    key: pathlib.Path
    # With a client CA, every client must present a certificate it signed.
    client_ca: pathlib.Path | None = None

    def pem(self) -> tuple[bytes, bytes, bytes | None]:
        ca = self.client_ca.read_bytes() if self.client_ca is not None else None
        return self.cert.read_bytes(), self.key.read_bytes(), ca


def add_flags(parser: argparse.ArgumentParser, prefix: str, what: str) -> None:
    """``--PREFIX-tls-cert``, ``--PREFIX-tls-key`` and ``--PREFIX-client-ca``."""
    parser.add_argument(
        f"--{prefix}-tls-cert", type=pathlib.Path, help=f"serve {what} over TLS: certificate"
    )
    parser.add_argument(f"--{prefix}-tls-key", type=pathlib.Path, help="its private key")
    parser.add_argument(
        f"--{prefix}-client-ca",
        type=pathlib.Path,
        help="require client certificates signed by this CA (needs the certificate and key)",
    )


def from_args(args: argparse.Namespace, prefix: str) -> ServerTLS | None:
    """The TLS the flags ask for, or None; SystemExit with one line naming the flag when the
    flags do not go together or a file cannot be read or used."""
    attr = prefix.replace("-", "_")
    cert = getattr(args, f"{attr}_tls_cert")
    key = getattr(args, f"{attr}_tls_key")
    client_ca = getattr(args, f"{attr}_client_ca")
    if cert is None and key is None:
        if client_ca is not None:
            raise SystemExit(f"error: --{prefix}-client-ca: needs --{prefix}-tls-cert and -key")
        return None
    if cert is None or key is None:
        missing = "cert" if cert is None else "key"
        raise SystemExit(f"error: --{prefix}-tls-{missing}: required with the other TLS flag")
    tls = ServerTLS(cert, key, client_ca)
    _check(tls, prefix)
    return tls


def _check(tls: ServerTLS, prefix: str) -> None:
    """Load the files the way a server will, so a bad one stops the agent at start."""
    for flag, path in (("tls-cert", tls.cert), ("tls-key", tls.key), ("client-ca", tls.client_ca)):
        if path is not None and not path.is_file():
            raise SystemExit(f"error: --{prefix}-{flag}: {path}: no such file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(tls.cert, tls.key)
    except (ssl.SSLError, OSError) as exc:
        raise SystemExit(
            f"error: --{prefix}-tls-cert: {tls.cert} and {tls.key} are not a usable "
            f"certificate and key: {exc}"
        ) from exc
    if tls.client_ca is not None:
        try:
            context.load_verify_locations(tls.client_ca)
        except (ssl.SSLError, OSError) as exc:
            raise SystemExit(
                f"error: --{prefix}-client-ca: {tls.client_ca} is not a usable CA: {exc}"
            ) from exc
