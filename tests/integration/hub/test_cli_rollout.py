"""gamefleet rollout status|pause|resume|undo|history against a hub process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.hub_process import HubProcess, run_cli

MANIFEST = """\
apiVersion: gamefleet.io/v1
kind: Fleet
metadata: {{name: arena, namespace: games}}
spec:
  replicas: 2
  rollout:
    waves: [{{clusters: [eu-1]}}, {{clusters: [us-1]}}]
    minSuccessTime: 30s
  template:
    gameServerTemplate:
      spec:
        containers:
          - {{name: arena, image: "arena:{version}"}}
"""


@pytest.fixture(scope="module")
def hub_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = tmp_path_factory.mktemp("cli-rollout") / "hub.db"
    hub = HubProcess(f"sqlite:///{store}").start()
    yield hub.address
    hub.kill()


def cli(hub: str, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    done = run_cli(*args, "--hub", hub, stdin=stdin)
    return done.returncode, done.stdout, done.stderr


def test_rollout_commands(hub_address: str) -> None:
    for version in ("1.0", "2.0"):
        code, _, err = cli(hub_address, "apply", "-f", "-", stdin=MANIFEST.format(version=version))
        assert (code, err) == (0, "")
    assert cli(hub_address, "rollout", "pause", "arena", "-n", "games") == (
        0,
        "fleet/arena rollout paused\n",
        "",
    )
    # No cluster is registered: no waves.
    assert cli(hub_address, "rollout", "status", "arena", "-n", "games") == (
        0,
        "Fleet:      games/arena\n"
        "Generation: 2\n"
        "Phase:      Paused\n"
        "Wave:       -\n"
        "Paused:     Paused: paused by gamefleet rollout pause\n"
        "Clusters:  <none>\n",
        "",
    )
    assert cli(hub_address, "rollout", "resume", "arena", "-n", "games")[1] == (
        "fleet/arena rollout resumed\n"
    )
    assert cli(hub_address, "rollout", "undo", "arena", "-n", "games")[1] == (
        "fleet/arena rolled back (generation 3)\n"
    )
    code, out, _ = cli(hub_address, "rollout", "history", "arena", "-n", "games")
    lines = out.splitlines()
    assert lines[0].split() == ["GENERATION", "AGE", "IMAGES"]
    assert [(line.split()[0], line.split()[-1]) for line in lines[1:]] == [
        ("1", "arena:1.0"),
        ("2", "arena:2.0"),
        ("3", "arena:1.0"),
    ]


def test_rollout_errors_exit_1_with_one_line(hub_address: str) -> None:
    code, out, err = cli(hub_address, "rollout", "undo", "missing", "-n", "games")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "missing" in err
    code, _, err = cli(hub_address, "rollout", "jump", "arena")
    assert code == 1 and err.count("\n") == 1
