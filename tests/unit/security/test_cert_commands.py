"""gamefleet hub init-ca, issue-agent-cert and issue-server-cert, through their flags."""

from __future__ import annotations

import argparse
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from cli import cert_commands
from cli.errors import CliError
from hub.security import ca

Command = Callable[[argparse.Namespace], None]
AddFlags = Callable[[argparse.ArgumentParser], None]


def _run(add_flags: AddFlags, command: Command, argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    command(parser.parse_args(argv))


def _init(directory: Path) -> None:
    _run(cert_commands.add_flags_init_ca, cert_commands.init_ca, ["--dir", str(directory)])


def _issue_agent(cluster: str, ca_dir: Path, out: Path) -> None:
    argv = ["--cluster", cluster, "--ca-dir", str(ca_dir), "--out", str(out)]
    _run(cert_commands.add_flags_issue_agent_cert, cert_commands.issue_agent_cert, argv)


def _issue_server(argv: list[str]) -> None:
    _run(cert_commands.add_flags_issue_server_cert, cert_commands.issue_server_cert, argv)


def test_init_then_issue_an_agent_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _init(tmp_path / "ca")
    _issue_agent("alpha", tmp_path / "ca", tmp_path / "out")
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["alpha.crt", "alpha.key", "ca.crt"]
    assert stat.S_IMODE((out / "alpha.key").stat().st_mode) == 0o600
    assert (out / "ca.crt").read_bytes() == (tmp_path / "ca" / "ca.crt").read_bytes()
    assert ca.cluster_identity((out / "alpha.crt").read_bytes()) == "alpha"
    printed = capsys.readouterr().out.split()
    assert printed[-3:] == [str(out / "alpha.crt"), str(out / "alpha.key"), str(out / "ca.crt")]


def test_init_ca_refuses_to_replace_a_ca(tmp_path: Path) -> None:
    _init(tmp_path)
    with pytest.raises(CliError, match=r"^--dir: .*not replacing a CA"):
        _init(tmp_path)


def test_issue_agent_cert_names_a_bad_cluster(tmp_path: Path) -> None:
    _init(tmp_path / "ca")
    with pytest.raises(CliError, match=r"^--cluster: 'Alpha' must consist"):
        _issue_agent("Alpha", tmp_path / "ca", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_issue_agent_cert_without_a_ca(tmp_path: Path) -> None:
    with pytest.raises(CliError, match=r"^--ca-dir: cannot read .*ca.crt.*init-ca"):
        _issue_agent("alpha", tmp_path / "missing", tmp_path / "out")


def test_issue_server_cert_defaults_and_flags(tmp_path: Path) -> None:
    _init(tmp_path / "ca")
    _issue_server(["--ca-dir", str(tmp_path / "ca"), "--out", str(tmp_path / "a")])
    cert = x509.load_pem_x509_certificate((tmp_path / "a" / "hub.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    argv = ["--ca-dir", str(tmp_path / "ca"), "--out", str(tmp_path / "b")]
    _issue_server([*argv, "--dns", "hub.example.com", "--dns", "hub", "--ip", "10.0.0.1"])
    cert = x509.load_pem_x509_certificate((tmp_path / "b" / "hub.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["hub.example.com", "hub"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.1"]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["ca.crt", "hub.crt", "hub.key"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--ip", "nope"], r"^--ip: 'nope' is not"), (["--dns", "a_b"], r"^--dns: 'a_b'")],
)
def test_issue_server_cert_names_the_bad_flag(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    _init(tmp_path / "ca")
    with pytest.raises(CliError, match=message):
        _issue_server(["--ca-dir", str(tmp_path / "ca"), "--out", str(tmp_path / "o"), *flags])
