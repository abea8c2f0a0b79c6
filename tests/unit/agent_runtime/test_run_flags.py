"""Flags of `gamefleet agent run`: the manifest's arguments, metrics address, Lease names."""

from __future__ import annotations

import argparse
import pathlib

import pytest
import yaml

from agent import run, tls

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    run.add_agent_flags(parser)
    return parser.parse_args(argv)


def test_the_manifest_serves_metrics_with_metrics_listen() -> None:
    with (ROOT / "deploy/agent/agent.yaml").open() as f:
        docs = {d["kind"]: d for d in yaml.safe_load_all(f) if d}
    [container] = docs["DaemonSet"]["spec"]["template"]["spec"]["containers"]
    args = _parse(*container["args"])
    assert (args.metrics_listen, args.metrics_port) == ("0.0.0.0:9464", 0)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == 9464


def test_metrics_listen_wants_host_and_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert _parse("--metrics-listen", "127.0.0.1:9464").metrics_listen == "127.0.0.1:9464"
    with pytest.raises(SystemExit):
        _parse("--metrics-listen", "9464")
    assert "--metrics-listen: expected HOST:PORT" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("cluster", "namespace", "name"),
    [
        ("eu-1", "games", "gamefleet-agent-eu-1"),
        (None, "games", "gamefleet-agent-games"),
        (None, None, "gamefleet-agent"),
        ("EU_West.1", None, "gamefleet-agent-eu-west.1"),
    ],
)
def test_the_default_lease_is_per_cluster(
    cluster: str | None, namespace: str | None, name: str
) -> None:
    assert run.default_lease_name(cluster, namespace) == name


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--scaler-tls-cert", "c.pem"],
            "error: --scaler-tls-key: required with the other TLS flag",
        ),
        (
            ["--metrics-tls-key", "k.pem"],
            "error: --metrics-tls-cert: required with the other TLS flag",
        ),
        (
            ["--scaler-client-ca", "ca.pem"],
            "error: --scaler-client-ca: needs --scaler-tls-cert and -key",
        ),
    ],
)
def test_tls_flags_go_together(argv: list[str], message: str) -> None:
    args = _parse(*argv)
    prefix = "scaler" if "scaler" in argv[0] else "metrics"
    with pytest.raises(SystemExit) as stopped:
        tls.from_args(args, prefix)
    assert str(stopped.value) == message


def test_tls_files_that_do_not_exist_or_do_not_pair_stop_the_agent(tmp_path: pathlib.Path) -> None:
    missing = _parse(
        "--scaler-tls-cert", str(tmp_path / "c"), "--scaler-tls-key", str(tmp_path / "k")
    )
    with pytest.raises(SystemExit) as stopped:
        tls.from_args(missing, "scaler")
    assert str(stopped.value) == f"error: --scaler-tls-cert: {tmp_path / 'c'}: no such file"
    (tmp_path / "c").write_text("not a certificate")
    (tmp_path / "k").write_text("not a key")
    with pytest.raises(SystemExit) as stopped:
        tls.from_args(missing, "scaler")
    assert str(stopped.value).startswith("error: --scaler-tls-cert: ")
    assert "not a usable certificate and key" in str(stopped.value)


def test_no_tls_flags_mean_plaintext() -> None:
    assert tls.from_args(_parse(), "scaler") is None
    assert tls.from_args(_parse(), "metrics") is None
