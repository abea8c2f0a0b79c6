"""Agones' allocation call, from a stub generated from Agones' published proto, against the hub
with the real agents on the two local clusters: one server from each cluster, written there."""

from __future__ import annotations

from agones.allocation import allocation_pb2, allocation_pb2_grpc
from gamefleet import protocol
from gamefleet.v1 import fleet_pb2

from agent.controllers import views
from agent.kube import resources

from .test_allocation import _hub_ready
from .world import World


async def test_agones_client_allocates_in_both_clusters(world: World) -> None:
    async with world.channel() as channel:
        await world.fleets(channel).ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=world.fleet(3)))
        await _hub_ready(world, (2, 1))
        stub = allocation_pb2_grpc.AllocationServiceStub(channel)
        request = allocation_pb2.AllocationRequest(
            namespace=world.namespace,
            gameServerSelectors=[
                allocation_pb2.GameServerSelector(matchLabels={"agones.dev/fleet": "arena"})
            ],
            scheduling=allocation_pb2.AllocationRequest.Distributed,
            metadata=allocation_pb2.MetaPatch(labels={"match": "m1"}),
        )
        answers = [await stub.Allocate(request) for _ in range(2)]
    by_cluster = {m.name: m for m in world.members}
    assert sorted(a.source for a in answers) == sorted(by_cluster)
    for answer in answers:
        member = by_cluster[answer.source]
        in_cluster = await member.namespace.get_gs(answer.gameServerName)
        assert in_cluster["spec"]["opsState"] == "Allocated"
        meta = views.meta(in_cluster)
        assert meta["labels"]["match"] == "m1"
        stamp = meta["annotations"][protocol.ALLOCATION_REQUEST_ANNOTATION]
        assert stamp == answer.metadata.annotations[protocol.ALLOCATION_REQUEST_ANNOTATION]
        pod = await member.kube.get(resources.POD, world.namespace, answer.gameServerName)
        assert answer.nodeName == pod["spec"]["nodeName"]
