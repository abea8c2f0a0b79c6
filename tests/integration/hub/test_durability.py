"""An acknowledged apply survives kill -9 of the hub on the embedded store."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.support.hub_process import HubProcess, run_cli

from .test_cli import FLEET_MANIFEST


def test_acknowledged_apply_survives_kill_9(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/hub.db"
    hub = HubProcess(store).start()
    try:
        for replicas in range(1, 6):
            manifest = FLEET_MANIFEST.replace("replicas: 9", f"replicas: {replicas}")
            assert run_cli("apply", "-f", "-", "--hub", hub.address, stdin=manifest).returncode == 0
    finally:
        hub.kill(signal.SIGKILL)

    restarted = HubProcess(store).start()
    try:
        done = run_cli(
            "get", "fleet", "arena", "-n", "games", "-o", "json", "--hub", restarted.address
        )
        assert done.returncode == 0, done.stderr
        assert '"replicas": 5' in done.stdout
        assert '"generation": 5' in done.stdout
    finally:
        restarted.kill()
