"""FleetService over loopback gRPC on the embedded store."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import grpc
import pytest
from gamefleet.v1 import cluster_pb2, cluster_pb2_grpc, fleet_pb2, fleet_pb2_grpc

from hub.core import limits

from .conftest import StartAgent
from .fleet_docs import fleet

REF = fleet_pb2.FleetRef(namespace="games", name="arena")


async def store_changes(
    events: AsyncIterator[fleet_pb2.FleetEvent], count: int, known: dict[str, int] | None = None
) -> list[fleet_pb2.FleetEvent]:
    """The next ``count`` events that change a stored fleet (skipping status-only changes)."""
    revisions = dict(known or {})
    changes: list[fleet_pb2.FleetEvent] = []
    while len(changes) < count:
        event = await asyncio.wait_for(anext(events), 5)
        name = event.fleet.metadata.name
        if revisions.get(name) != event.fleet.metadata.revision or event.type == "DELETED":
            changes.append(event)
        revisions[name] = event.fleet.metadata.revision
    return changes


async def test_apply_creates_then_reapply_is_a_no_op(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    first = await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet()))
    assert first.created and first.changed
    assert first.fleet.metadata.generation == 1
    assert first.fleet.metadata.uid

    again = await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet()))
    assert not again.created and not again.changed
    assert again.fleet.metadata.revision == first.fleet.metadata.revision


async def test_spec_change_bumps_generation_label_change_does_not(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet()))
    relabeled = fleet()
    relabeled.metadata.labels["tier"] = "prod"
    labels_only = await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=relabeled))
    assert labels_only.changed and labels_only.fleet.metadata.generation == 1

    bigger = fleet(replicas=12)
    bigger.metadata.labels["tier"] = "prod"
    changed = await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=bigger))
    assert changed.fleet.metadata.generation == 2
    assert changed.fleet.spec.replicas == 12


async def test_stale_expected_revision_is_aborted_and_changes_nothing(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    created = await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet()))
    stale = created.fleet.metadata.revision
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=10)))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await fleets.ApplyFleet(
            fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=11), expected_revision=stale)
        )
    assert caught.value.code() is grpc.StatusCode.ABORTED
    stored = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
    assert stored.spec.replicas == 10


async def test_create_only_with_expected_revision_zero(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(), expected_revision=0))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(), expected_revision=0))
    assert caught.value.code() is grpc.StatusCode.ABORTED


async def test_invalid_fleet_names_the_field_and_stores_nothing(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    bad = fleet()
    bad.spec.template.reserve_game_server_ids.add().string_value = "7-3"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=bad))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "spec.template.reserveGameServerIds[0]" in (caught.value.details() or "")
    listed = await fleets.ListFleets(fleet_pb2.ListFleetsRequest())
    assert list(listed.fleets) == []


@pytest.mark.parametrize(
    ("network_type", "params", "path", "message"),
    [
        (
            "AlibabaCloud-SLB",
            [("SlbIds", "lb-1"), ("PortProtocols", "7777/UDP"), ("LBHealthCheckType", "udp")],
            "spec.template.network.networkConf[2]",
            'LBHealthCheckType: "udp" is not one of tcp, http',
        ),
        (
            "AmazonWebServices-NLB",
            [("NlbARNs", "arn:aws:1"), ("PortProtocols", "7777/UDP")],
            "spec.template.network.networkConf",
            "AmazonWebServices-NLB needs NlbVPCId",
        ),
        (
            "TencentCloud-CLB",
            [("ClbIds", "lb-1"), ("PortProtocols", "7777/SCTP")],
            "spec.template.network.networkConf[1]",
            'PortProtocols: "7777/SCTP" is not <port>/<protocol>',
        ),
        # The plugins of issue 19: the hub runs the agent's own parser.
        (
            "GoogleCloud-NLB",
            [("AddressNames", "ip-a"), ("PortProtocols", "1/TCP,2/TCP,3/TCP,4/TCP,5/TCP,6/TCP")],
            "spec.template.network.networkConf[1]",
            "PortProtocols: 6 TCP ports; a server of GoogleCloud-NLB takes at most 5",
        ),
        (
            "Azure-SLB",
            [("PipNames", "pip-1"), ("PortProtocols", "7777"), ("TcpIdleTimeout", "2")],
            "spec.template.network.networkConf[2]",
            'TcpIdleTimeout: "2" is not a whole number 4-30',
        ),
        (
            "AlibabaCloud-AutoNLBs",
            [("PortProtocols", "7777/UDP")],
            "spec.template.network.networkConf",
            "AlibabaCloud-AutoNLBs needs ZoneMaps",
        ),
        (
            "AlibabaCloud-EIP",
            [("ReleaseStrategy", "Sometimes")],
            "spec.template.network.networkConf[0]",
            'ReleaseStrategy: "Sometimes" is not Follow, Never or a duration',
        ),
        (
            "AmazonWebServices-NLB",
            [("NlbARNs", "arn:aws:1"), ("NlbVPCId", "vpc-1"), ("PortProtocols", "7777"),
             ("GlobalAccelerator", "yes")],
            "spec.template.network.networkConf[3]",
            'GlobalAccelerator: "yes" is not one of true, false',
        ),
        (
            "GoogleCloud-NLB",
            [("AddressNames", "ip-a"), ("PortProtocols", "7777/UDP"), ("GlobalAddress", "true"),
             ("GlobalProjectId", "game-prod")],
            "spec.template.network.networkConf[1]",
            "PortProtocols: GlobalAddress=true supports TCP ports only",
        ),
        (
            "Kubernetes-HostPort",
            [("ContainerPorts", "main:7777/UDP"), ("AllocatePolicy", "random")],
            "spec.template.network.networkConf[1]",
            'AllocatePolicy: "random" is not one of per-node, least-used',
        ),
    ],
)  # fmt: skip
async def test_a_bad_cloud_network_parameter_is_refused_at_apply(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    network_type: str,
    params: list[tuple[str, str]],
    path: str,
    message: str,
) -> None:
    bad = fleet()
    bad.spec.template.network.network_type = network_type
    del bad.spec.template.network.network_conf[:]
    for name, value in params:
        bad.spec.template.network.network_conf.add(name=name, value=value)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=bad))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert f"{path}: {message}" in (caught.value.details() or "")
    listed = await fleets.ListFleets(fleet_pb2.ListFleetsRequest())
    assert list(listed.fleets) == []


async def test_invalid_update_leaves_the_stored_fleet_as_it_was(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    created = await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet()))
    bad = fleet(replicas=-1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=bad))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith("spec.replicas")
    stored = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
    assert stored.metadata.revision == created.fleet.metadata.revision
    assert stored.spec.replicas == 9


async def test_dry_run_validates_and_stores_nothing(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    result = await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(), dry_run=True))
    assert result.created
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


async def test_list_filters_by_namespace_and_label_selector(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet("arena")))
    other = fleet("lobby")
    other.metadata.labels["game"] = "lobby"
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=other))
    elsewhere = fleet("arena")
    elsewhere.metadata.namespace = "staging"
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=elsewhere))

    everything = await fleets.ListFleets(fleet_pb2.ListFleetsRequest())
    assert len(everything.fleets) == 3
    games = await fleets.ListFleets(fleet_pb2.ListFleetsRequest(namespace="games"))
    assert sorted(f.metadata.name for f in games.fleets) == ["arena", "lobby"]
    lobby = await fleets.ListFleets(
        fleet_pb2.ListFleetsRequest(namespace="games", label_selector="game in (lobby)")
    )
    assert [f.metadata.name for f in lobby.fleets] == ["lobby"]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await fleets.ListFleets(fleet_pb2.ListFleetsRequest(label_selector="game in lobby"))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "label_selector" in (caught.value.details() or "")


async def test_scale_and_delete(fleets: fleet_pb2_grpc.FleetServiceAsyncStub) -> None:
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet()))
    scaled = await fleets.ScaleFleet(fleet_pb2.ScaleFleetRequest(ref=REF, replicas=3))
    assert scaled.spec.replicas == 3 and scaled.metadata.generation == 2

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await fleets.ScaleFleet(fleet_pb2.ScaleFleetRequest(ref=REF, replicas=-5))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT

    await fleets.DeleteFleet(fleet_pb2.DeleteFleetRequest(ref=REF))
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await fleets.DeleteFleet(fleet_pb2.DeleteFleetRequest(ref=REF))
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND


async def test_watch_lists_then_follows_changes(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet("arena")))
    stream = fleets.WatchFleets(fleet_pb2.WatchFleetsRequest(namespace="games"))
    events = stream.__aiter__()
    first = await asyncio.wait_for(events.__anext__(), 5)
    assert (first.type, first.fleet.metadata.name) == ("ADDED", "arena")

    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet("lobby")))
    await fleets.ScaleFleet(fleet_pb2.ScaleFleetRequest(ref=REF, replicas=4))
    await fleets.DeleteFleet(fleet_pb2.DeleteFleetRequest(ref=REF))
    seen = await store_changes(events, 3, {"arena": first.fleet.metadata.revision})
    assert [(e.type, e.fleet.metadata.name) for e in seen] == [
        ("ADDED", "lobby"),
        ("MODIFIED", "arena"),
        ("DELETED", "arena"),
    ]
    assert seen[1].fleet.spec.replicas == 4
    assert seen[0].revision < seen[1].revision < seen[2].revision

    resumed = fleets.WatchFleets(
        fleet_pb2.WatchFleetsRequest(namespace="games", start_revision=seen[1].revision)
    )
    replay = await store_changes(resumed.__aiter__(), 1, {"lobby": seen[0].revision})
    assert [(e.type, e.fleet.metadata.name) for e in replay] == [("MODIFIED", "arena")]
    stream.cancel()
    resumed.cancel()


async def test_placement_follows_cluster_health_and_cordon(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    clusters: cluster_pb2_grpc.ClusterServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    weighted = fleet(
        placement={"clusters": [{"name": "eu-1", "weight": 2}, {"name": "us-1", "weight": 1}]}
    )
    applied = await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=weighted))
    assert list(applied.fleet.status.clusters) == []
    placed_condition = next(c for c in applied.fleet.status.conditions if c.type == "Placed")
    assert (placed_condition.status, placed_condition.reason) == ("False", "NoEligibleClusters")

    await start_agent("eu-1", region="eu")
    await start_agent("us-1", region="us")
    placed = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
    assert {c.cluster: c.desired_replicas for c in placed.status.clusters} == {
        "eu-1": 6,
        "us-1": 3,
    }

    # A cordoned cluster keeps what it runs; scaling up goes to the others.
    cordoned = await clusters.CordonCluster(cluster_pb2.ClusterRef(name="us-1"))
    assert cordoned.status.phase == "Cordoned"
    await fleets.ScaleFleet(fleet_pb2.ScaleFleetRequest(ref=REF, replicas=12))
    moved = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
    assert {c.cluster: c.desired_replicas for c in moved.status.clusters} == {
        "eu-1": 9,
        "us-1": 3,
    }


async def apply_named(fleets: fleet_pb2_grpc.FleetServiceAsyncStub, *names: str) -> None:
    for name in names:
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(name)))


async def pages(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, request: fleet_pb2.ListFleetsRequest
) -> list[list[str]]:
    """The names on every page of a listing, following next_page_token to the end."""
    names: list[list[str]] = []
    while True:
        response = await fleets.ListFleets(request)
        names.append([f"{f.metadata.namespace}/{f.metadata.name}" for f in response.fleets])
        if not response.next_page_token:
            return names
        request.page_token = response.next_page_token


async def test_list_pages_return_every_fleet_once_in_key_order(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    await apply_named(fleets, *(f"fleet-{i}" for i in (4, 0, 6, 2, 5, 1, 3)))
    elsewhere = fleet("arena")
    elsewhere.metadata.namespace = "staging"
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=elsewhere))

    everywhere = await pages(fleets, fleet_pb2.ListFleetsRequest(page_size=3))
    in_games = await pages(fleets, fleet_pb2.ListFleetsRequest(namespace="games", page_size=4))

    games = [f"games/fleet-{i}" for i in range(7)]
    assert everywhere == [games[0:3], games[3:6], [games[6], "staging/arena"]]
    assert in_games == [games[0:4], games[4:7]]


async def test_a_label_selector_pages_over_the_matching_fleets_only(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    for index in range(9):
        labeled = fleet(f"fleet-{index}")
        labeled.metadata.labels["tier"] = "prod" if index % 3 == 0 else "test"
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=labeled))

    prod = await pages(fleets, fleet_pb2.ListFleetsRequest(label_selector="tier=prod", page_size=2))

    # The last page is exactly full: no token, no empty page after it.
    assert prod == [["games/fleet-0", "games/fleet-3"], ["games/fleet-6"]]
    test = await pages(fleets, fleet_pb2.ListFleetsRequest(label_selector="tier=test", page_size=3))
    assert test == [
        ["games/fleet-1", "games/fleet-2", "games/fleet-4"],
        ["games/fleet-5", "games/fleet-7", "games/fleet-8"],
    ]


async def test_fleets_created_or_deleted_between_pages_move_no_other_fleet(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    await apply_named(fleets, *(f"fleet-{i}" for i in range(9)))
    request = fleet_pb2.ListFleetsRequest(namespace="games", page_size=3)

    first = await fleets.ListFleets(request)
    # Deleting one fleet already listed and one not yet listed: an offset would skip fleet-3.
    for name in ("fleet-1", "fleet-4"):
        ref = fleet_pb2.FleetRef(namespace="games", name=name)
        await fleets.DeleteFleet(fleet_pb2.DeleteFleetRequest(ref=ref))
    request.page_token = first.next_page_token
    second = await fleets.ListFleets(request)
    # Creating one fleet behind the page and one ahead of it: an offset would repeat fleet-6.
    await apply_named(fleets, "fleet-0b", "fleet-7b")
    request.page_token = second.next_page_token
    third = await fleets.ListFleets(request)

    assert [[f.metadata.name for f in page.fleets] for page in (first, second, third)] == [
        ["fleet-0", "fleet-1", "fleet-2"],
        ["fleet-3", "fleet-5", "fleet-6"],
        ["fleet-7", "fleet-7b", "fleet-8"],
    ]
    assert third.next_page_token == ""


async def test_page_size_zero_serves_the_default_page_size(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "FLEETS_DEFAULT_PAGE_SIZE", 2)
    await apply_named(fleets, "fleet-0", "fleet-1", "fleet-2")

    listed = await pages(fleets, fleet_pb2.ListFleetsRequest())

    assert [len(page) for page in listed] == [2, 1]


async def test_a_page_ends_before_it_passes_the_byte_budget(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    await apply_named(fleets, *(f"fleet-{i}" for i in range(7)))
    ref = fleet_pb2.FleetRef(namespace="games", name="fleet-0")
    one = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=ref))
    monkeypatch.setattr(limits, "LIST_PAGE_BYTES", int(one.ByteSize() * 2.5))

    listed = await pages(fleets, fleet_pb2.ListFleetsRequest(page_size=5))

    assert [len(page) for page in listed] == [2, 2, 2, 1]
    assert [name for page in listed for name in page] == [f"games/fleet-{i}" for i in range(7)]


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        base64.urlsafe_b64encode(b"games").decode(),
        base64.urlsafe_b64encode(b"eu-1\0games\0arena-0").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
async def test_a_bad_page_token_is_invalid_argument_naming_page_token(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, token: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await fleets.ListFleets(fleet_pb2.ListFleetsRequest(page_token=token))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith("page_token: ")


async def test_page_size_out_of_range_is_invalid_argument_naming_page_size(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    await apply_named(fleets, "fleet-0")
    for size in (-1, limits.MAX_PAGE_SIZE + 1):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await fleets.ListFleets(fleet_pb2.ListFleetsRequest(page_size=size))
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert (caught.value.details() or "").startswith("page_size: ")
    largest = await fleets.ListFleets(fleet_pb2.ListFleetsRequest(page_size=limits.MAX_PAGE_SIZE))
    assert [f.metadata.name for f in largest.fleets] == ["fleet-0"]
