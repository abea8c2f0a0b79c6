"""`gamefleet hub serve` start-up: a failure is one line naming the flag and exit status 1; a
started single hub is ready; bearer tokens need TLS unless --insecure says otherwise."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from gamefleet.v1 import fleet_pb2, fleet_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hub.api.server import SERVICE_NAMES, Hub, HubConfig
from hub.api.startup import StartError
from tests.support import faults
from tests.support.hub_process import HubProcess


def serve(
    *args: str, preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return faults.serve_once(args, preexec)


def assert_one_line_naming(done: subprocess.CompletedProcess[str], flag: str) -> str:
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    # Ours, or argparse's for a value its type refuses ("error: gamefleet hub serve: argument").
    assert re.match(rf"error: (gamefleet hub serve: argument )?{flag}: ", done.stderr), done.stderr
    return done.stderr.strip()


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "read-only"
    path.mkdir()
    path.chmod(0o555)
    yield path
    path.chmod(0o755)


def test_a_read_only_store_path_is_one_line_naming_store(read_only_dir: Path) -> None:
    store = f"sqlite:///{read_only_dir}/hub.db"
    done = serve(
        "--store", store, "--listen", "127.0.0.1:0", preexec=faults.without_permission_override
    )
    assert "unable to open database file" in assert_one_line_naming(done, "--store")


def test_a_full_disk_is_one_line_naming_store(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/hub.db"
    done = serve("--store", store, "--listen", "127.0.0.1:0", preexec=faults.with_file_size_limit)
    assert "disk I/O error" in assert_one_line_naming(done, "--store")


def test_a_port_in_use_is_one_line_naming_listen(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        done = serve("--store", f"sqlite:///{tmp_path}/hub.db", "--listen", address)
    assert "Address already in use" in assert_one_line_naming(done, "--listen")


@pytest.mark.parametrize(
    ("flags", "flag"),
    [
        (["--listen", "127.0.0.1:99999"], "--listen"),
        (["--listen", "no-such-host.invalid:7400"], "--listen"),
        (["--store", "sqlite:"], "--store"),
        (["--tls-cert", "/nonexistent/hub.crt", "--tls-key", "/nonexistent/hub.key"],
         "--tls-cert"),
        (["--tls-cert", "/nonexistent/hub.crt"], "--tls-key"),
        (["--client-ca", "/nonexistent/ca.crt"], "--agent-listen"),
        (["--metrics-listen", "127.0.0.1:99999"], "--metrics-listen"),
    ],
)  # fmt: skip
def test_a_bad_flag_value_is_one_line_naming_it(
    tmp_path: Path, flags: list[str], flag: str
) -> None:
    args = ["--store", f"sqlite:///{tmp_path}/hub.db", "--listen", "127.0.0.1:0", *flags]
    assert_one_line_naming(serve(*args), flag)


def test_tokens_without_tls_are_refused_naming_token_file(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("s3cret,alice\n")
    done = serve(
        "--store", f"sqlite:///{tmp_path}/hub.db", "--listen", "127.0.0.1:0",
        "--token-file", str(tokens),
    )  # fmt: skip
    line = assert_one_line_naming(done, "--token-file")
    assert "--tls-cert" in line and "--insecure" in line


async def test_tokens_in_clear_text_with_insecure_start_with_a_warning(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("s3cret,alice\n")
    log = tmp_path / "hub.log"
    hub = HubProcess(
        f"sqlite:///{tmp_path}/hub.db", ["--token-file", str(tokens), "--insecure"], log=log
    ).start()
    try:
        assert "warning: --insecure: bearer tokens travel in clear text" in log.read_text()
        async with grpc.aio.insecure_channel(hub.address) as channel:
            fleets = fleet_pb2_grpc.FleetServiceStub(channel)
            listed = await fleets.ListFleets(
                fleet_pb2.ListFleetsRequest(), metadata=[("authorization", "Bearer s3cret")]
            )
            assert list(listed.fleets) == []
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await fleets.ListFleets(fleet_pb2.ListFleetsRequest())
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    finally:
        hub.kill()


async def test_a_hub_config_with_tokens_needs_tls_or_insecure(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("s3cret,alice\n")
    config = HubConfig(
        store_url=f"sqlite:///{tmp_path}/hub.db", listen="127.0.0.1:0", token_file=tokens
    )
    hub = Hub(config)
    try:
        with pytest.raises(StartError) as caught:
            await hub.start()
    finally:
        await hub.stop(grace=0)
    assert caught.value.setting == "token_file"
    assert not (tmp_path / "hub.db").exists()


async def test_a_single_hub_serves_its_first_call_as_the_leader(tmp_path: Path) -> None:
    # No wait_until_leading: what a client sees the moment `hub serve` says it listens.
    hub = Hub(HubConfig(store_url=f"sqlite:///{tmp_path}/hub.db", listen="127.0.0.1:0"))
    await hub.start()
    try:
        # Before this coroutine yields once: a call already in flight is served by the leader.
        hub.gate.require()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{hub.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", *SERVICE_NAMES):
                answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
                assert answer.status == health_pb2.HealthCheckResponse.SERVING, service
            fleets = fleet_pb2_grpc.FleetServiceStub(channel)
            assert list((await fleets.ListFleets(fleet_pb2.ListFleetsRequest())).fleets) == []
    finally:
        await hub.stop(grace=0)


def test_a_hub_process_answers_right_after_it_says_listening(tmp_path: Path) -> None:
    hub = HubProcess(f"sqlite:///{tmp_path}/hub.db").start()
    try:
        with grpc.insecure_channel(hub.address) as channel:
            fleets = fleet_pb2_grpc.FleetServiceStub(channel)
            assert list(fleets.ListFleets(fleet_pb2.ListFleetsRequest(), timeout=10).fleets) == []
    finally:
        hub.kill()
