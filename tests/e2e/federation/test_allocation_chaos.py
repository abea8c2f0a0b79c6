"""Allocations while one component is killed with SIGKILL mid-burst — the leading agent of one
cluster (its standby takes over), the hub, one cluster's kube-apiserver — with the real hub and
agents on the two local clusters: 16 matchmakers retry the same request id after any error; no
server is answered to two request ids, no request id with two servers, every answer is Allocated
with its request id within 5 s of the component being back, and no answered server is deleted or
restarted (the counts of `bench/allocation_chaos.py`, shared through
`tests/support/allocation_audit.py`). Each test uses its own fleet in the module's namespace."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import grpc
from gamefleet.v1 import fleet_pb2, gameserver_pb2

from agent.kube import client as kclient
from agent.kube import resources
from tests.e2e.agent.harness import eventually
from tests.localcluster import binary
from tests.support import allocation_audit as audit

from .world import Member, World

SERVERS = 90  # 60 and 30 on the two clusters (weights 2:1)
CLIENTS = 16
LOAD_SECONDS = 25.0
# The load goes on this long after the component is back, so answers around its return count.
AFTER_BACK_S = 8.0
# A kube-apiserver restarted on a loaded 2-core machine took up to 97 s to serve (chaos runs).
BACK_WITHIN_S = 240.0


async def test_agent_leader_killed_mid_burst_its_standby_takes_over_and_loses_no_answer(
    world: World,
) -> None:
    first = world.members[0]

    async def first_replica_leads() -> bool:
        try:
            lease = await first.kube.get(resources.LEASE, world.namespace, world.lease)
        except kclient.ApiError as error:
            if error.not_found:
                return False
            raise
        return bool(lease["spec"].get("holderIdentity") == f"{first.name}-agent")

    await eventually(first_replica_leads, 60.0, "the first agent replica leading")
    first.start_standby(world.hub.address, world.lease)

    def restart_as_standby() -> None:
        first.start_agent(world.hub.address, world.lease)

    counts = await _burst_with_fault(
        world, "arena", "agent", first, first.kill_agent, after_back=restart_as_standby
    )
    _assert_nothing_lost(counts)


async def test_hub_killed_mid_burst_doubles_and_loses_no_answer(world: World) -> None:
    def kill_and_restart() -> None:
        world.hub.kill()
        world.hub.start(timeout=120.0)

    counts = await _burst_with_fault(world, "duel", "hub", None, kill_and_restart)
    _assert_nothing_lost(counts)


async def test_api_server_killed_mid_burst_doubles_and_loses_no_answer(world: World) -> None:
    first = world.members[0]
    cluster = first.cluster
    assert cluster is not None

    def kill_and_restart() -> None:
        command = binary.kill_component(cluster, "kube-apiserver")
        binary.start_component(cluster, "kube-apiserver", command)

    counts = await _burst_with_fault(world, "brawl", "kube-apiserver", first, kill_and_restart)
    _assert_nothing_lost(counts)


def _assert_nothing_lost(counts: audit.Counts) -> None:
    assert counts.answered > 0
    found = (counts.double_servers, counts.double_ids, counts.late, counts.never)
    assert (*found, counts.disturbed) == (0, 0, 0, 0, 0), counts.cases


async def _burst_with_fault(
    world: World,
    fleet: str,
    kind: str,
    member: Member | None,
    kill_and_restart: Callable[[], None],
    after_back: Callable[[], None] | None = None,
) -> audit.Counts:
    """Allocate from ``fleet`` with 16 matchmakers; once ``member`` (any cluster when None)
    answered 5 times, kill and restart the component (``kill_and_restart``); the load goes on
    until it answers again (``member``'s first answer after that) plus a few seconds, and
    ``after_back`` runs then; then the counts."""
    kubes = {m.name: m.kube for m in world.members}
    async with grpc.aio.insecure_channel(world.hub.address, options=audit.CHANNEL_OPTIONS) as ch:
        await world.fleets(ch).ApplyFleet(
            fleet_pb2.ApplyFleetRequest(fleet=world.fleet(SERVERS, name=fleet))
        )

        async def all_ready() -> bool:
            listed = await world.game_servers(ch).ListGameServers(
                gameserver_pb2.ListGameServersRequest(
                    namespace=world.namespace, fleet=fleet, state="Ready", page_size=500
                )
            )
            return len(listed.game_servers) == SERVERS

        await eventually(all_ready, 180.0, f"{SERVERS} Ready servers of {fleet} in the hub")
        record = audit.Record()
        observer = audit.Observer(kubes, world.namespace, record)
        await observer.start()
        matchmakers = audit.Matchmakers(ch, observer, fleet, fleet)
        load: asyncio.Task[None] | None = None

        def from_member(answer: audit.Answer) -> bool:
            return member is None or answer.server[0] == member.name

        try:
            record.started = time.monotonic()
            load = asyncio.create_task(matchmakers.run(CLIENTS))

            async def burst_under_way() -> bool:
                return sum(1 for a in record.answers if from_member(a)) >= 5

            await eventually(burst_under_way, 60.0, f"answers from {fleet}")
            fault = audit.Fault(kind, record.now())
            record.faults.append(fault)
            await asyncio.to_thread(kill_and_restart)
            fault.started_at = record.now()

            def answers_since() -> list[audit.Answer]:
                return [a for a in record.answers if from_member(a) and a.at > fault.started_at]

            async def serving_again() -> bool:
                return bool(answers_since())

            await eventually(serving_again, BACK_WITHIN_S, f"an answer after the {kind} is back")
            fault.back_at = answers_since()[0].at
            if after_back is not None:
                await asyncio.to_thread(after_back)
            matchmakers.until = max(LOAD_SECONDS, record.now() + AFTER_BACK_S)
            await load
            await observer.settle(60.0)
            return audit.count(record, await audit.final_state(kubes, world.namespace))
        finally:
            if load is not None and not load.done():
                load.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await load
            await observer.stop()
