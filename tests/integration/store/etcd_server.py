"""A real single-member etcd on free loopback ports, restartable on the same data dir and port."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Final

ETCD_VERSION: Final = "v3.5.21"


class EtcdMissingError(RuntimeError):
    pass


def etcd_binary() -> pathlib.Path:
    """The pinned etcd built by tests/localcluster; raises EtcdMissingError when absent."""
    try:
        from tests.localcluster import versions
    except ImportError:
        pass
    else:
        try:
            return versions.binary_path("etcd")
        except versions.BinaryMissingError as e:
            raise EtcdMissingError(str(e)) from None
    cache = os.environ.get("GAMEFLEET_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gamefleet"
    )
    path = pathlib.Path(cache) / "bin" / f"etcd-{ETCD_VERSION}" / "etcd"
    if not os.access(path, os.X_OK):
        raise EtcdMissingError(
            f"etcd {ETCD_VERSION} is not built: expected {path}; build it with "
            "`bash tests/localcluster/build.sh`"
        )
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class EtcdServer:
    def __init__(self, binary: pathlib.Path, workdir: pathlib.Path) -> None:
        self.binary = binary
        self.data_dir = workdir / "data"
        self.log_path = workdir / "etcd.log"
        self.client_port = free_port()
        self.peer_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def url(self) -> str:
        return f"etcd://{self.endpoint}"

    def start(self, timeout: float = 30.0) -> None:
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        args = [
            str(self.binary),
            "--name=store-test",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=store-test={peer}",
            "--log-level=warn",
        ]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"etcd exited with {self._process.returncode}; log: {self.log_path}:\n"
                    + self.log_path.read_text()[-2000:]
                )
            if self._healthy():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"etcd not healthy after {timeout}s; log: {self.log_path}")

    def _healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.client_port}/health"
            with urllib.request.urlopen(url, timeout=1) as response:
                return b'"health":"true"' in response.read()
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
