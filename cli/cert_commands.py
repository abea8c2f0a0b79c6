"""gamefleet hub init-ca, issue-agent-cert and issue-server-cert: the hub's certificates.

Each command works on files only (no hub needs to run) and prints the paths it wrote.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hub.security import ca as security_ca

from .errors import CliError


def _load_ca(directory: Path) -> security_ca.CertificateAuthority:
    try:
        return security_ca.load_ca(directory)
    except OSError as exc:
        raise CliError(
            f"--ca-dir: cannot read {exc.filename or directory}: {exc.strerror}; "
            "create a CA with gamefleet hub init-ca"
        ) from exc
    except ValueError as exc:
        raise CliError(f"--ca-dir: {exc}") from exc


def _write(
    issued: security_ca.IssuedCertificate,
    ca: security_ca.CertificateAuthority,
    out: Path,
    stem: str,
) -> None:
    try:
        cert_path, key_path = security_ca.write_issued(issued, out, stem)
        ca_path = out / security_ca.CA_CERT_FILE
        ca_path.write_bytes(ca.cert_pem)
    except OSError as exc:
        raise CliError(f"--out: cannot write {exc.filename or out}: {exc.strerror}") from exc
    for path in (cert_path, key_path, ca_path):
        print(path)


def add_flags_init_ca(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", required=True, type=Path, help="directory for ca.crt and ca.key")
    parser.add_argument("--name", default="gamefleet hub CA", help="the CA's common name")


def init_ca(args: argparse.Namespace) -> None:
    """Create the hub's CA: ``ca.crt`` and ``ca.key`` (mode 0600) in ``--dir``."""
    directory: Path = args.dir
    try:
        security_ca.create_ca(directory, args.name)
    except FileExistsError as exc:
        raise CliError(f"--dir: {exc}") from exc
    except OSError as exc:
        raise CliError(f"--dir: cannot write {exc.filename or directory}: {exc.strerror}") from exc
    print(directory / security_ca.CA_CERT_FILE)
    print(directory / security_ca.CA_KEY_FILE)


def add_flags_issue_agent_cert(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", required=True, help="the member cluster's name")
    parser.add_argument("--ca-dir", required=True, type=Path, help="directory of the hub's CA")
    parser.add_argument(
        "--out", required=True, type=Path, help="directory for NAME.crt, NAME.key and ca.crt"
    )


def issue_agent_cert(args: argparse.Namespace) -> None:
    """Issue the client certificate of one cluster's agent (one year)."""
    cluster: str = args.cluster
    try:
        security_ca.validate_cluster_name(cluster, field="--cluster")
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    ca = _load_ca(args.ca_dir)
    _write(security_ca.issue_agent_cert(ca, cluster), ca, args.out, cluster)


def add_flags_issue_server_cert(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ca-dir", required=True, type=Path, help="directory of the hub's CA")
    parser.add_argument(
        "--out", required=True, type=Path, help="directory for hub.crt, hub.key and ca.crt"
    )
    parser.add_argument(
        "--dns",
        action="append",
        default=[],
        metavar="NAME",
        help="DNS name the hub is reached at (repeatable; default localhost)",
    )
    parser.add_argument(
        "--ip",
        action="append",
        default=[],
        metavar="IP",
        help="IP address the hub is reached at (repeatable; default 127.0.0.1)",
    )


def issue_server_cert(args: argparse.Namespace) -> None:
    """Issue the hub's serving certificate (one year) for ``--dns`` names and ``--ip`` addresses."""
    dns: list[str] = args.dns
    ips: list[str] = args.ip
    if not dns and not ips:
        dns, ips = list(security_ca.DEFAULT_SERVER_DNS), list(security_ca.DEFAULT_SERVER_IPS)
    ca = _load_ca(args.ca_dir)
    try:
        issued = security_ca.issue_server_cert(ca, dns, ips)
    except ValueError as exc:
        # The message starts with the field, "dns" or "ip": the flag's name.
        raise CliError(f"--{exc}") from exc
    _write(issued, ca, args.out, "hub")
