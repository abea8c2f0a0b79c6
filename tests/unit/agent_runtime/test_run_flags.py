"""Flags of `gamefleet agent run`: the manifest's arguments, metrics address, Lease names."""

from __future__ import annotations

import argparse
import pathlib

import pytest
import yaml

from agent import run

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
