"""Fault runs against hub processes; prints one JSON object per figure.

- ``kill9``: clients apply fleets (each creates new fleets and raises the replicas of its own),
  the hub is killed with SIGKILL mid-load, restarted on the same store, and every acknowledged
  write is looked up: a missing fleet, or replicas below the last acknowledged, is a lost write.
  On SQLite, and on etcd when its binary is built (``tests/localcluster/build.sh``).
- ``stall``: another connection holds the SQLite write lock for 6.5 s (a commit stuck in a frozen
  disk's fsync holds it the same way) while one write waits: the slowest GetFleet during the
  stall, and when health went NOT_SERVING and SERVING again.
- ``startup``: ``hub serve`` on a read-only directory, and on a disk that takes no more bytes
  (RLIMIT_FSIZE); with root, also on a full tmpfs. The line each prints, and its exit status.

    .venv/bin/python -m bench.fault_bench [--kills 3] [--load-seconds 4] [--clients 4]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
from gamefleet.v1 import fleet_pb2, fleet_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.machine import emit
from hub.api.server import LEADER_SERVICE
from tests.integration.hub.fleet_docs import fleet
from tests.integration.store.etcd_server import EtcdMissingError, EtcdServer, etcd_binary
from tests.support import faults
from tests.support.hub_process import HubProcess

NAMESPACE = "games"


class Client(threading.Thread):
    """Applies until stopped: a new fleet, then its own fleet with one more replica."""

    def __init__(self, index: int, address: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.index = index
        self.stop = stop
        self.channel = grpc.insecure_channel(address)
        self.fleets = fleet_pb2_grpc.FleetServiceStub(self.channel)
        self.created: list[str] = []
        self.replicas = 0
        self.counter = 0
        self.failed = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.counter += 1
            name = f"c{self.index}-{self.counter}"
            try:
                self._apply(name, 1)
                self.created.append(name)
                self._apply(f"own-{self.index}", self.replicas + 1)
                self.replicas += 1
            except grpc.RpcError:
                self.failed += 1
                return  # the hub is gone; this client's acknowledged writes are recorded
        self.channel.close()

    def _apply(self, name: str, replicas: int) -> None:
        self.fleets.ApplyFleet(
            fleet_pb2.ApplyFleetRequest(fleet=fleet(name=name, replicas=replicas)), timeout=10
        )


def _wait_leading(address: str, timeout: float = 30.0) -> None:
    """Until the hub leads (an etcd hub restarted at once waits for its old lease to expire)."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service=LEADER_SERVICE)
        while health.Check(request, timeout=5).status != health_pb2.HealthCheckResponse.SERVING:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the hub at {address} did not lead within {timeout}s")
            time.sleep(0.1)


def _stored(address: str) -> dict[str, int]:
    with grpc.insecure_channel(address) as channel:
        fleets = fleet_pb2_grpc.FleetServiceStub(channel)
        found: dict[str, int] = {}
        token = ""
        while True:
            page = fleets.ListFleets(
                fleet_pb2.ListFleetsRequest(namespace=NAMESPACE, page_token=token), timeout=30
            )
            found.update({f.metadata.name: f.spec.replicas for f in page.fleets})
            token = page.next_page_token
            if not token:
                return found


def kill9(store_url: str, backend: str, kills: int, load_seconds: float, clients: int) -> None:
    acknowledged = lost = 0
    port = 0
    for round_ in range(kills):
        hub = HubProcess(store_url, port=port).start()
        port = hub.port
        _wait_leading(hub.address)
        stop = threading.Event()
        workers = [Client(round_ * clients + i, hub.address, stop) for i in range(clients)]
        for worker in workers:
            worker.start()
        time.sleep(load_seconds * random.uniform(0.5, 1.0))
        hub.kill(signal.SIGKILL)
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
        restarted = HubProcess(store_url, port=port).start()
        try:
            _wait_leading(restarted.address)
            stored = _stored(restarted.address)
        finally:
            restarted.stop()
        for worker in workers:
            acknowledged += len(worker.created) + worker.replicas
            lost += sum(1 for name in worker.created if name not in stored)
            if worker.replicas and stored.get(f"own-{worker.index}", 0) < worker.replicas:
                lost += 1
    emit("kill -9 under apply load: acknowledged writes", acknowledged, "writes",
         backend=backend, kills=kills, clients=clients)  # fmt: skip
    emit("kill -9 under apply load: acknowledged writes lost", lost, "writes",
         backend=backend, kills=kills, clients=clients)  # fmt: skip


def _serving(health: health_pb2_grpc.HealthStub) -> bool:
    answer = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def stall(workdir: Path, seconds: float = 6.5) -> None:
    store = workdir / "stall.db"
    hub = HubProcess(f"sqlite:///{store}").start()
    try:
        with grpc.insecure_channel(hub.address) as channel:
            fleets = fleet_pb2_grpc.FleetServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet()), timeout=10)
            blocker = sqlite3.connect(store, timeout=5, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            began = time.monotonic()
            write = fleets.ApplyFleet.future(
                fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=12)), timeout=30
            )
            slowest, not_serving_at = 0.0, None
            ref = fleet_pb2.FleetRef(namespace=NAMESPACE, name="arena")
            while time.monotonic() - began < seconds:
                started = time.monotonic()
                fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=ref), timeout=30)
                slowest = max(slowest, time.monotonic() - started)
                if not_serving_at is None and not _serving(health):
                    not_serving_at = time.monotonic() - began
                time.sleep(0.05)
            blocker.execute("ROLLBACK")
            released = time.monotonic()
            while not _serving(health):
                time.sleep(0.05)
            serving_after = time.monotonic() - released
            outcome = "OK"
            try:
                write.result()
            except grpc.RpcError as exc:
                outcome = exc.code().name
    finally:
        hub.kill()
    emit("stalled write: slowest GetFleet during the stall", slowest * 1000, "ms",
         stall_seconds=seconds)  # fmt: skip
    emit("stalled write: health NOT_SERVING after", not_serving_at or -1, "s",
         stall_seconds=seconds)  # fmt: skip
    emit("stalled write: health SERVING again after release", serving_after, "s",
         stall_seconds=seconds, stalled_write=outcome)  # fmt: skip


def _startup(name: str, store: str, preexec: faults.Preexec | None) -> None:
    started = time.monotonic()
    done = faults.serve_once(["--store", store, "--listen", "127.0.0.1:0"], preexec, timeout=30)
    emit(f"start-up on {name}: seconds to exit", time.monotonic() - started, "s",
         exit_status=done.returncode, stderr=done.stderr.strip(),
         stderr_lines=done.stderr.count("\n"))  # fmt: skip


@contextlib.contextmanager
def _full_tmpfs(workdir: Path) -> Iterator[Path | None]:
    """A 64 KiB tmpfs filled up (needs root and mount); None where it cannot be made."""
    mount = workdir / "full"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        yield None
        return
    try:
        with contextlib.suppress(OSError), (mount / "filler").open("wb") as filler:
            filler.write(b"\0" * 65_536)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def startup(workdir: Path) -> None:
    read_only = workdir / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    _startup("a read-only directory", f"sqlite:///{read_only}/hub.db",
             faults.without_permission_override)  # fmt: skip
    _startup("a disk that takes no more bytes (RLIMIT_FSIZE)", f"sqlite:///{workdir}/fsize.db",
             faults.with_file_size_limit)  # fmt: skip
    with _full_tmpfs(workdir) as full:
        if full is not None:
            _startup("a full tmpfs", f"sqlite:///{full}/hub.db", None)
    read_only.chmod(0o755)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--load-seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    random.seed(7)
    with tempfile.TemporaryDirectory(prefix="gamefleet-fault-") as tmp:
        workdir = Path(tmp)
        kill9(f"sqlite:///{workdir}/hub.db", "sqlite", args.kills, args.load_seconds, args.clients)
        try:
            etcd = EtcdServer(etcd_binary(), workdir / "etcd")
        except EtcdMissingError as exc:
            emit("kill -9 under apply load (etcd): skipped", 0, "", reason=str(exc))
        else:
            (workdir / "etcd").mkdir()
            etcd.start()
            try:
                kill9(etcd.url, "etcd", args.kills, args.load_seconds, args.clients)
            finally:
                etcd.stop()
        stall(workdir)
        startup(workdir)


if __name__ == "__main__":
    main()
