"""Fuzz every method of every public service against a real hub: SQLite, loopback gRPC.

Requests are random messages (every field at its edges: huge strings, NaN, integer limits,
random JSON documents, Durations out of range, bad selectors and page tokens), valid requests
with a few fields made wrong, and raw bytes that may not decode. Seeded per method, so every run
sends the same requests; about 30 s on the project machine. For every answer:

- never UNKNOWN, INTERNAL or RESOURCE_EXHAUSTED (Allocate's "no Ready game server" aside);
- an INVALID_ARGUMENT starts with a field path and a colon, and no answer passes 1 KiB;
- a refused write changes nothing that Get or List show; every stored fleet renders as YAML;
- the hub stays healthy: health SERVING, and a Get answers.

``GAMEFLEET_FUZZ_SUMMARY=fuzz.json`` writes the requests and codes per method (docs/limits.md).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from agones.allocation import allocation_pb2 as agones_pb2
from agones.allocation import allocation_pb2_grpc as agones_pb2_grpc
from gamefleet.v1 import (
    allocation_pb2,
    allocation_pb2_grpc,
    cluster_pb2,
    cluster_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    gameserver_pb2,
    gameserver_pb2_grpc,
    meta_pb2,
)
from google.protobuf import json_format, message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from hub.api.server import SERVICE_NAMES
from hub.core import limits, paging
from tests.support.hub_process import HubProcess
from tests.support.proto_strategies import NAMES, messages, mutated

from .fleet_docs import fleet

SENTINEL = fleet_pb2.FleetRef(namespace="fuzz-sentinel", name="sentinel")
REFUSED_CODES = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
# No server to allocate: none Ready, or (a request by capacity) none with room.
NO_READY_SERVER = re.compile(r"^no (Ready )?game server of fleet ")
# A field path: name(.name | [index] | ["key"] | ['key'])* then ": ".
FIELD_PATH = re.compile(
    r"""^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\]"""
    r"""|\['(?:[^'\\]|\\.)*'\])*: """
)
CRAFTED_BYTES = [
    b"",
    b"\x0a\x02\xff\xfe",  # a string that is not UTF-8
    b"\x0a\xff\xff\xff\xff\x0f",  # a length past the end
    b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # an 11-byte varint
    b"\x0a\x80" + b"\x0a\x7e" * 60,  # nested messages, truncated
    b"\xff" * 32,
    b"\x0f\x00",  # an invalid wire type
]


@dataclasses.dataclass
class Tally:
    requests: int = 0
    codes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


@dataclasses.dataclass
class Target:
    hub: HubProcess
    channel: grpc.Channel
    fleets: fleet_pb2_grpc.FleetServiceStub
    rollouts: fleet_pb2_grpc.RolloutServiceStub
    clusters: cluster_pb2_grpc.ClusterServiceStub
    game_servers: gameserver_pb2_grpc.GameServerServiceStub
    allocations: allocation_pb2_grpc.AllocationServiceStub
    agones: agones_pb2_grpc.AllocationServiceStub
    health: health_pb2_grpc.HealthStub
    tallies: dict[str, Tally]
    stored: dict[str, int] | None = None

    def snapshot(self) -> dict[str, int]:
        """Every stored fleet and cluster and its revision; each fleet must render as YAML."""
        if self.stored is not None:
            return self.stored
        seen: dict[str, int] = {}
        token = ""
        while True:
            page = self.fleets.ListFleets(fleet_pb2.ListFleetsRequest(page_token=token), timeout=30)
            for stored in page.fleets:
                json_format.MessageToDict(stored)
                seen[f"fleet {stored.metadata.namespace}/{stored.metadata.name}"] = (
                    stored.metadata.revision
                )
            token = page.next_page_token
            if not token:
                break
        for cluster in self.clusters.ListClusters(cluster_pb2.ListClustersRequest()).clusters:
            json_format.MessageToDict(cluster)
            seen[f"cluster {cluster.metadata.name}"] = cluster.metadata.revision
        self.stored = seen
        return seen


@dataclasses.dataclass(frozen=True)
class Method:
    service: str
    name: str
    requests: st.SearchStrategy[Any]
    examples: int
    # Writes: a refused call must leave every fleet and cluster as it was.
    writes: bool = False
    streaming: bool = False
    package: str = "gamefleet.v1"

    @property
    def qualified_service(self) -> str:
        """The service, with its package unless it is gamefleet.v1."""
        return self.service if self.package == "gamefleet.v1" else f"{self.package}.{self.service}"

    @property
    def path(self) -> str:
        return f"/{self.package}.{self.service}/{self.name}"

    @property
    def key(self) -> str:
        return f"{self.qualified_service}.{self.name}"


def _valid_fleets() -> st.SearchStrategy[fleet_pb2.Fleet]:
    def build(name: str, replicas: int, after: int) -> fleet_pb2.Fleet:
        valid = fleet(name=name, replicas=replicas)
        valid.spec.placement.failover.after.seconds = after
        valid.spec.placement.clusters.add(name="eu-1").override.update({"serviceName": "eu"})
        return valid

    return st.builds(build, st.sampled_from(NAMES), st.integers(0, 20), st.integers(1, 600))


def _refs() -> st.SearchStrategy[fleet_pb2.FleetRef]:
    return st.builds(
        fleet_pb2.FleetRef, namespace=st.sampled_from(["games", ""]), name=st.sampled_from(NAMES)
    )


def _tokens() -> st.SearchStrategy[str]:
    positions = st.lists(st.sampled_from([*NAMES, "", "x" * 300]), min_size=1, max_size=4)
    return st.one_of(positions.map(paging.encode_token), st.text(max_size=40))


def _requests(cls: type[message.Message], valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Random requests, valid ones, and valid ones with a few fields made wrong."""
    return st.one_of(messages(cls), valid, mutated(valid))


VALID_FLEETS = _valid_fleets()
METHODS = [
    Method("FleetService", "ApplyFleet", _requests(
        fleet_pb2.ApplyFleetRequest,
        st.builds(fleet_pb2.ApplyFleetRequest, fleet=VALID_FLEETS, dry_run=st.booleans()),
    ), 500, writes=True),
    Method("FleetService", "GetFleet", _requests(
        fleet_pb2.GetFleetRequest, st.builds(fleet_pb2.GetFleetRequest, ref=_refs())
    ), 150),
    Method("FleetService", "ListFleets", _requests(
        fleet_pb2.ListFleetsRequest,
        st.builds(
            fleet_pb2.ListFleetsRequest,
            namespace=st.sampled_from(["", "games"]),
            page_size=st.integers(0, 3),
            page_token=_tokens(),
        ),
    ), 150),
    Method("FleetService", "ScaleFleet", _requests(
        fleet_pb2.ScaleFleetRequest,
        st.builds(fleet_pb2.ScaleFleetRequest, ref=_refs(), replicas=st.integers(0, 20)),
    ), 150, writes=True),
    Method("FleetService", "WatchFleets", _requests(
        fleet_pb2.WatchFleetsRequest,
        st.builds(fleet_pb2.WatchFleetsRequest, namespace=st.sampled_from(["", "games"])),
    ), 80, streaming=True),
    Method("FleetService", "DeleteFleet", _requests(
        fleet_pb2.DeleteFleetRequest, st.builds(fleet_pb2.DeleteFleetRequest, ref=_refs())
    ), 60, writes=True),
    *[
        Method("RolloutService", name, _requests(
            fleet_pb2.RolloutRequest, st.builds(fleet_pb2.RolloutRequest, ref=_refs())
        ), 60, writes=name != "RolloutHistory")
        for name in ("PauseRollout", "ResumeRollout", "UndoRollout", "RolloutHistory")
    ],
    Method("ClusterService", "RegisterCluster", _requests(
        cluster_pb2.RegisterClusterRequest,
        st.builds(
            lambda name: cluster_pb2.RegisterClusterRequest(
                cluster=cluster_pb2.Cluster(
                    metadata=meta_pb2.ObjectMeta(name=name, labels={"region": "eu"})
                )
            ),
            st.sampled_from(NAMES),
        ),
    ), 150, writes=True),
    *(
        Method("ClusterService", name, _requests(
            cluster_pb2.ClusterRef, st.builds(cluster_pb2.ClusterRef, name=st.sampled_from(NAMES))
        ), 50, writes=name != "GetCluster")
        for name in (
            "GetCluster", "CordonCluster", "DrainCluster", "UncordonCluster", "RemoveCluster"
        )
    ),
    Method("ClusterService", "ListClusters", messages(cluster_pb2.ListClustersRequest), 50),
    Method("GameServerService", "ListGameServers", _requests(
        gameserver_pb2.ListGameServersRequest,
        st.builds(
            gameserver_pb2.ListGameServersRequest,
            namespace=st.sampled_from(["", "games"]),
            page_token=_tokens(),
        ),
    ), 120),
    Method("GameServerService", "UpdateGameServers", _requests(
        gameserver_pb2.UpdateGameServersRequest,
        st.builds(
            gameserver_pb2.UpdateGameServersRequest,
            namespace=st.just("games"),
            fleet=st.sampled_from(NAMES),
            patch=st.builds(gameserver_pb2.GameServerPatch, ops_state=st.just("Maintaining")),
        ),
    ), 120, writes=True),
    Method("AllocationService", "Allocate", _requests(
        allocation_pb2.AllocateRequest,
        st.builds(
            lambda ref, **fields: allocation_pb2.AllocateRequest(
                namespace=ref.namespace, fleet=ref.name, **fields
            ),
            st.sampled_from([SENTINEL, fleet_pb2.FleetRef(namespace="games", name="arena")]),
            request_id=st.text(min_size=1, max_size=10).filter(lambda s: "/" not in s.strip()),
        ),
    ), 150, writes=True),
    Method("AllocationService", "Allocate", _requests(
        agones_pb2.AllocationRequest,
        st.builds(
            lambda ref, scheduling: agones_pb2.AllocationRequest(
                namespace=ref.namespace,
                gameServerSelectors=[
                    agones_pb2.GameServerSelector(matchLabels={"agones.dev/fleet": ref.name})
                ],
                scheduling=scheduling,
            ),
            st.sampled_from([SENTINEL, fleet_pb2.FleetRef(namespace="games", name="arena")]),
            st.sampled_from([0, 1]),
        ),
    ), 150, writes=True, package="allocation"),
]  # fmt: skip
STUBS: dict[str, Callable[[Target], Any]] = {
    "FleetService": lambda t: t.fleets,
    "RolloutService": lambda t: t.rollouts,
    "ClusterService": lambda t: t.clusters,
    "GameServerService": lambda t: t.game_servers,
    "AllocationService": lambda t: t.allocations,
    "allocation.AllocationService": lambda t: t.agones,
}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    store = tmp_path_factory.mktemp("fuzz") / "hub.db"
    hub = HubProcess(f"sqlite:///{store}").start()
    channel = grpc.insecure_channel(hub.address)
    found = Target(
        hub=hub,
        channel=channel,
        fleets=fleet_pb2_grpc.FleetServiceStub(channel),
        rollouts=fleet_pb2_grpc.RolloutServiceStub(channel),
        clusters=cluster_pb2_grpc.ClusterServiceStub(channel),
        game_servers=gameserver_pb2_grpc.GameServerServiceStub(channel),
        allocations=allocation_pb2_grpc.AllocationServiceStub(channel),
        agones=agones_pb2_grpc.AllocationServiceStub(channel),
        health=health_pb2_grpc.HealthStub(channel),
        tallies=collections.defaultdict(Tally),
    )
    sentinel = fleet(name=SENTINEL.name)
    sentinel.metadata.namespace = SENTINEL.namespace
    found.fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=sentinel))
    found.fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet()))
    found.clusters.RegisterCluster(
        cluster_pb2.RegisterClusterRequest(
            cluster=cluster_pb2.Cluster(metadata=meta_pb2.ObjectMeta(name="eu-1"))
        )
    )
    try:
        yield found
    finally:
        _write_summary(found.tallies)
        channel.close()
        hub.kill()


def _write_summary(tallies: dict[str, Tally]) -> None:
    summary = {
        key: {"requests": tally.requests, "codes": dict(sorted(tally.codes.items()))}
        for key, tally in sorted(tallies.items())
    }
    summary["total"] = {
        "requests": sum(t.requests for t in tallies.values()),
        "codes": dict(sum((t.codes for t in tallies.values()), collections.Counter())),
    }
    path = os.environ.get("GAMEFLEET_FUZZ_SUMMARY")
    if path:
        Path(path).write_text(json.dumps(summary, indent=2) + "\n")


def _call(target: Target, method: Method, request: Any) -> tuple[grpc.StatusCode, str, Any]:
    stub_method = getattr(STUBS[method.qualified_service](target), method.name)
    try:
        if method.streaming:
            stream = stub_method(request, timeout=0.3)
            try:
                return grpc.StatusCode.OK, "", next(stream)
            finally:
                stream.cancel()
        return grpc.StatusCode.OK, "", stub_method(request, timeout=30)
    except grpc.RpcError as exc:
        return (*_status_of(exc), None)


def _status_of(error: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    call = cast(grpc.Call, error)  # a sync stub's errors are its calls
    return call.code(), call.details() or ""


def check_answer(method: Method, code: grpc.StatusCode, details: str) -> None:
    assert code not in REFUSED_CODES, f"{method.key}: {code.name}: {details}"
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        assert method.name == "Allocate" and NO_READY_SERVER.match(details), details
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        assert FIELD_PATH.match(details), f"{method.key}: names no field: {details}"
    assert len(details.encode()) <= limits.MAX_DETAILS_BYTES


def fuzz_once(target: Target, method: Method, request: Any) -> None:
    before = target.snapshot() if method.writes else None
    code, details, answer = _call(target, method, request)
    tally = target.tallies[method.key]
    tally.requests += 1
    tally.codes[code.name] += 1
    check_answer(method, code, details)
    if answer is not None:
        json_format.MessageToDict(answer)
    if before is None:
        return
    target.stored = None
    if code is not grpc.StatusCode.OK:
        assert target.snapshot() == before, f"{method.key} refused ({code.name}) but changed"


def assert_healthy(target: Target) -> None:
    assert target.hub.process is not None and target.hub.process.poll() is None
    for service in ("", *SERVICE_NAMES):
        answer = target.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, service
    target.fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=SENTINEL), timeout=10)


# Seeded per method (see ``seed`` below), never from a database: every run sends the same
# requests. No shrinking: a failure shows the request as sent (shrinking one can take minutes).
FUZZ_SETTINGS = settings(
    database=None,
    phases=[Phase.explicit, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.key)
def test_fuzz_requests(target: Target, method: Method) -> None:
    @settings(FUZZ_SETTINGS, max_examples=method.examples)
    @seed(zlib.crc32(method.key.encode()))
    @given(request=method.requests)
    def run(request: Any) -> None:
        fuzz_once(target, method, request)

    run()
    assert_healthy(target)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.key)
def test_fuzz_undecodable_bytes(target: Target, method: Method) -> None:
    call = (target.channel.unary_stream if method.streaming else target.channel.unary_unary)(
        method.path, None, None
    )
    raw = Method(
        method.service, f"{method.name} (raw bytes)", st.nothing(), 0, package=method.package
    )

    @settings(FUZZ_SETTINGS, max_examples=30)
    @seed(zlib.crc32(raw.key.encode()))
    @given(data=st.one_of(st.sampled_from(CRAFTED_BYTES), st.binary(max_size=64)))
    def run(data: bytes) -> None:
        try:
            answer = call(data, timeout=0.3)
            if method.streaming:
                try:
                    next(cast(Iterator[bytes], answer))
                finally:
                    answer.cancel()
            code, details = grpc.StatusCode.OK, ""
        except grpc.RpcError as exc:
            code, details = _status_of(exc)
        tally = target.tallies[raw.key]
        tally.requests += 1
        tally.codes[code.name] += 1
        check_answer(raw, code, details)

    run()
    target.stored = None
    target.snapshot()
    assert_healthy(target)
