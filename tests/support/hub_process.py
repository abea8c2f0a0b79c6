"""A hub running as its own process, the way users run it, for integration and e2e tests."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

_LISTENING = re.compile(r"hub listening on .* \(port (\d+)\)")
# Printed before the listening line when the hub serves metrics.
_METRICS = re.compile(r"hub metrics on .* \(port (\d+)\)")
_AGONES_REST = re.compile(r"hub Agones REST allocation on .* \(port (\d+)\)")
# Printed before the listening line when the hub serves its console.
_CONSOLE = re.compile(r"hub console on .* \(port (\d+)\)")
GAMEFLEET = [sys.executable, "-m", "cli.main"]
REPO_ROOT = Path(__file__).resolve().parents[2]


class HubProcess:
    """``gamefleet hub serve`` in a child process; ``address`` once it listens (and
    ``metrics_port`` with ``--metrics-listen``, ``agones_rest_port`` with
    ``--agones-rest-listen``, ``console_port`` with ``--console-listen``)."""

    def __init__(
        self,
        store_url: str,
        extra_args: Sequence[str] = (),
        log: Path | None = None,
        port: int = 0,
    ):
        self.store_url = store_url
        self.extra_args = list(extra_args)
        self.log_path = log
        self.process: subprocess.Popen[str] | None = None
        self.port = port
        self.metrics_port: int | None = None
        self.agones_rest_port: int | None = None
        self.console_port: int | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> HubProcess:
        command = [
            *GAMEFLEET, "hub", "serve", "--store", self.store_url,
            "--listen", f"127.0.0.1:{self.port}", *self.extra_args,
        ]  # fmt: skip
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix="gamefleet-hub-", suffix=".log")
            os.close(handle)
            self.log_path = Path(name)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            output = self.log_path.read_text()[offset:]
            match = _LISTENING.search(output)
            if match:
                self.port = int(match.group(1))
                metrics = _METRICS.search(output, 0, match.start())
                self.metrics_port = int(metrics.group(1)) if metrics else None
                rest = _AGONES_REST.search(output, 0, match.start())
                self.agones_rest_port = int(rest.group(1)) if rest else None
                console = _CONSOLE.search(output, 0, match.start())
                self.console_port = int(console.group(1)) if console else None
                return self
            time.sleep(0.05)  # the child writes its address to a file; nothing to await
        self.kill()
        raise RuntimeError(f"hub did not start listening:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


@contextlib.contextmanager
def running_hub(store_url: str, extra_args: Sequence[str] = ()) -> Iterator[HubProcess]:
    hub = HubProcess(store_url, extra_args).start()
    try:
        yield hub
    finally:
        hub.kill()


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the gamefleet CLI; the caller asserts on the exit status and output."""
    return subprocess.run(
        [*GAMEFLEET, *args],
        cwd=REPO_ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
