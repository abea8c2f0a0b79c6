"""Start detached processes and stop exactly those, by pid."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import time


def spawn(cmd: list[str], log: pathlib.Path) -> int:
    """Start cmd in its own session with output appended to log; returns the pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    # posix_spawn rather than Popen: nothing to garbage-collect (and warn about) while it runs,
    # and setsid keeps a Ctrl-C in the caller's terminal from taking the cluster down.
    return os.posix_spawn(
        cmd[0],
        cmd,
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def alive(pid: int, exe: str) -> bool:
    """True if pid runs exe (guards against a recycled pid)."""
    _reap(pid)
    proc = pathlib.Path(f"/proc/{pid}")
    try:
        if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            # A multi-threaded process's leader is a zombie while its other threads still
            # exit, holding the process's files (a listening port) until the last one is gone.
            return len(os.listdir(proc / "task")) > 1
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
    kill(pid, exe)


def kill(pid: int, exe: str) -> None:
    """SIGKILL, no grace: the process dies as in a crash; returns once it is gone."""
    if not alive(pid, exe):
        return
    os.kill(pid, signal.SIGKILL)
    while alive(pid, exe):
        time.sleep(0.05)


def rss_kib(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
