"""Start detached processes and stop exactly those, by pid."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import time


def spawn(cmd: list[str], log: pathlib.Path) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Own session: a Ctrl-C in the caller's terminal must not take the cluster down.
            start_new_session=True,
        )
    return proc.pid


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def alive(pid: int, exe: str) -> bool:
    """True if pid runs exe (guards against a recycled pid)."""
    _reap(pid)
    proc = pathlib.Path(f"/proc/{pid}")
    try:
        if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
        return os.path.realpath(proc / "exe") == os.path.realpath(exe)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False


def stop(pid: int, exe: str, timeout: float = 15.0) -> None:
    if not alive(pid, exe):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid, exe):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    while alive(pid, exe):
        time.sleep(0.05)


def rss_kib(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
