"""Allocations while the agent of one cluster (its leader) is killed with SIGKILL mid-burst,
with the real hub and agents on the two local clusters: 16 matchmakers retry the same request id
after any error; no server is answered to two request ids, no request id with two servers, and
every answer is Allocated with its request id within 5 s of the agent being back (the counts of
`bench/allocation_chaos.py`, shared through `tests/support/allocation_audit.py`)."""

from __future__ import annotations

import asyncio
import time

import grpc
from gamefleet.v1 import fleet_pb2, gameserver_pb2

from tests.e2e.agent.harness import eventually
from tests.support import allocation_audit as audit

from .world import World

SERVERS = 90  # 60 and 30 on the two clusters (weights 2:1)
CLIENTS = 16
LOAD_SECONDS = 25.0


async def test_agent_killed_mid_burst_doubles_and_loses_no_answer(world: World) -> None:
    first, _ = world.members
    kubes = {member.name: member.kube for member in world.members}
    async with grpc.aio.insecure_channel(world.hub.address, options=audit.CHANNEL_OPTIONS) as ch:
        await world.fleets(ch).ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=world.fleet(SERVERS)))

        async def all_ready() -> bool:
            listed = await world.game_servers(ch).ListGameServers(
                gameserver_pb2.ListGameServersRequest(
                    namespace=world.namespace, fleet="arena", state="Ready", page_size=500
                )
            )
            return len(listed.game_servers) == SERVERS

        await eventually(all_ready, 180.0, f"{SERVERS} Ready servers in the hub")
        record = audit.Record()
        observer = audit.Observer(kubes, world.namespace, record)
        await observer.start()
        try:
            record.started = time.monotonic()
            load = asyncio.create_task(
                audit.Matchmakers(ch, observer, "arena", "e2e").run(CLIENTS, LOAD_SECONDS)
            )

            async def burst_under_way() -> bool:
                return sum(1 for a in record.answers if a.server[0] == first.name) >= 5

            await eventually(burst_under_way, 60.0, "answers from the first cluster")
            fault = audit.Fault("agent", record.now())
            record.faults.append(fault)
            first.kill_agent()
            first.start_agent(world.hub.address, world.lease)
            fault.started_at = record.now()

            async def serving_again() -> bool:
                return any(
                    a.server[0] == first.name and a.at > fault.started_at for a in record.answers
                )

            # Back: the restarted agent leads and answers again (its first answer).
            await eventually(serving_again, 90.0, "an answer from the restarted agent")
            fault.back_at = next(
                a.at
                for a in record.answers
                if a.server[0] == first.name and a.at > fault.started_at
            )
            await load
            await observer.settle(60.0)
            counts = audit.count(record, await audit.final_state(kubes, world.namespace))
        finally:
            await observer.stop()
    assert counts.answered > 0
    assert (counts.double_servers, counts.double_ids, counts.late, counts.never) == (0, 0, 0, 0)
