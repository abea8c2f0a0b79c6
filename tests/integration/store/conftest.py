"""Fixtures: a real etcd for the session, and a fresh store of each backend per test."""

from __future__ import annotations

import pathlib
import uuid
from typing import TYPE_CHECKING

import prometheus_client
import pytest

from hub import store as store_pkg
from hub.store import _etcd_rpc, etcd, metered, sqlite

from .etcd_server import EtcdMissingError, EtcdServer, etcd_binary

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator


def _binary() -> pathlib.Path:
    try:
        return etcd_binary()
    except EtcdMissingError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    server = EtcdServer(_binary(), tmp_path_factory.mktemp("etcd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_etcd(tmp_path: pathlib.Path) -> Iterator[EtcdServer]:
    """An etcd of this test's own, for tests that stop, restart or compact it."""
    server = EtcdServer(_binary(), tmp_path)
    server.start()
    yield server
    server.stop()


def etcd_store(server: EtcdServer, *, retry_timeout: float = 10.0) -> etcd.EtcdStore:
    host, port = server.endpoint.split(":")
    rpc = _etcd_rpc.EtcdRpc([_etcd_rpc.Endpoint(host, int(port))], retry_timeout=retry_timeout)
    return etcd.EtcdStore(rpc, f"/test-{uuid.uuid4().hex}/")


@pytest.fixture(params=["sqlite", "etcd", "metered-sqlite"])
async def store(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[store_pkg.Store]:
    """Each backend, and the metrics wrapper around SQLite: it must keep the same contract."""
    opened: store_pkg.Store
    if request.param == "sqlite":
        opened = await sqlite.SqliteStore.open(str(tmp_path / "hub.db"))
    elif request.param == "metered-sqlite":
        metrics = metered.StoreMetrics(prometheus_client.CollectorRegistry())
        inner = await sqlite.SqliteStore.open(str(tmp_path / "hub.db"))
        opened = metered.MeteredStore(inner, "sqlite", metrics)
    else:
        opened = etcd_store(request.getfixturevalue("etcd_server"))
    yield opened
    await opened.close()
