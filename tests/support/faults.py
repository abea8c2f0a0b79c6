"""Faults a test or a bench inflicts on a hub process without special privileges."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
from collections.abc import Callable, Sequence

from .hub_process import GAMEFLEET, REPO_ROOT

Preexec = Callable[[], None]
"""What runs in the child between fork and exec (``subprocess.Popen(preexec_fn=...)``)."""

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
FULL_DISK_BYTES = 16_384


def without_permission_override() -> None:
    """For a child process, as a hub not run by root: root's CAP_DAC_OVERRIDE writes into any
    directory, whatever its mode. (Run as preexec_fn; does nothing for other users.)"""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def with_file_size_limit() -> None:
    """For a child process, a disk that takes no more bytes: a write that would grow a file
    past FULL_DISK_BYTES fails (EFBIG, SIGXFSZ ignored). Pipes are not files: stdout and
    stderr must be pipes for the child to say anything."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FULL_DISK_BYTES, FULL_DISK_BYTES))


def serve_once(
    args: Sequence[str], preexec: Preexec | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``gamefleet hub serve ARGS`` with stdout and stderr on pipes, expecting it to fail;
    a hub that starts instead is killed after ``timeout`` seconds."""
    with subprocess.Popen(
        [*GAMEFLEET, "hub", "serve", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
        # gRPC's C core may log its own event-engine line as the process exits (a race of its
        # threads, seen once under load); the test reads the hub's own stderr.
        env={**os.environ, "GRPC_VERBOSITY": "NONE"},
    ) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)
