"""The agent's hub link on a real kube-apiserver, against a stand-in hub over loopback gRPC:
it says which namespace it serves, and refuses (and reports) a set for any other."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from gamefleet.v1 import agent_pb2

from agent.controllers import manager
from agent.hublink import link
from agent.kube import client as kclient
from tests.support.standin_hub import StandInHub

from .conftest import NAMESPACES


async def test_a_set_for_a_namespace_the_agent_does_not_serve_is_refused_and_reported(
    served: tuple[kclient.KubeClient, str],
) -> None:
    kube, namespace = served
    hub = await StandInHub().start()
    controller = manager.Controller(kube, namespace=namespace)
    controller.start_caches()
    config = link.LinkConfig(
        hub=hub.address, cluster="c1", namespaces=(namespace,), batch_window=0.01
    )
    hub_link = link.HubLink(config, kube, controller.sets, controller.game_servers, controller.pods)
    running = asyncio.create_task(hub_link.run())
    elsewhere = f"{namespace}-other"
    try:
        await controller.wait_synced()
        async with asyncio.timeout(20.0), hub.changed:
            await hub.changed.wait_for(lambda: hub.hello is not None)
        assert hub.hello is not None and list(hub.hello.namespaces) == [namespace]

        wanted = agent_pb2.DesiredSet(namespace=elsewhere, name="arena", version=1, hash="h-2")
        wanted.spec.update({"replicas": 2})
        hub.outbox.put_nowait(agent_pb2.HubMessage(desired=agent_pb2.DesiredSets(sets=[wanted])))
        async with asyncio.timeout(20.0), hub.changed:
            await hub.changed.wait_for(lambda: any(s.refused for s in hub.set_statuses()))
        (refusal,) = [s for s in hub.set_statuses() if s.refused]
        assert (refusal.namespace, refusal.name) == (elsewhere, "arena")
        assert refusal.refused == f"this agent serves only namespace {namespace}, not {elsewhere}"
        # Nothing was written: not the namespace, not the set.
        with pytest.raises(kclient.ApiError) as missing:
            await kube.get(NAMESPACES, None, elsewhere)
        assert missing.value.not_found

        # The hub stops wanting it: the refusal is withdrawn (reported as gone).
        gone = agent_pb2.DesiredSet(namespace=elsewhere, name="arena", deleted=True)
        hub.outbox.put_nowait(agent_pb2.HubMessage(desired=agent_pb2.DesiredSets(sets=[gone])))
        async with asyncio.timeout(20.0), hub.changed:
            await hub.changed.wait_for(lambda: hub.set_statuses()[-1].deleted)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await controller.stop()
        await hub.stop()
