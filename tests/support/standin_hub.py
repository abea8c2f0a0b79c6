"""A stand-in hub over loopback gRPC: takes an agent's hello, answers with no status hashes,
sends what a test queues (operations too, awaiting their results), and keeps every message."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import grpc
from gamefleet.v1 import agent_pb2, agent_pb2_grpc


class StandInHub(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self) -> None:
        self.hello: agent_pb2.AgentHello | None = None
        self.received: list[agent_pb2.AgentMessage] = []
        self.outbox: asyncio.Queue[agent_pb2.HubMessage] = asyncio.Queue()
        self.changed = asyncio.Condition()
        self._results: dict[str, asyncio.Future[agent_pb2.OperationResult]] = {}
        self._server: grpc.aio.Server | None = None
        self.address = ""

    async def start(self) -> StandInHub:
        self._server = grpc.aio.server()
        agent_pb2_grpc.add_AgentServiceServicer_to_server(self, self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        self.address = f"127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(0)

    async def Connect(
        self,
        request_iterator: AsyncIterator[agent_pb2.AgentMessage],
        context: grpc.aio.ServicerContext[agent_pb2.AgentMessage, agent_pb2.HubMessage],
    ) -> AsyncIterator[agent_pb2.HubMessage]:
        async def receive() -> None:
            async for message in request_iterator:
                if message.HasField("hello"):
                    self.hello = message.hello
                if message.HasField("operation_result"):
                    waiting = self._results.pop(message.operation_result.id, None)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(message.operation_result)
                self.received.append(message)
                async with self.changed:
                    self.changed.notify_all()

        reader = asyncio.create_task(receive())
        try:
            yield agent_pb2.HubMessage(status_hashes=agent_pb2.StatusHashes())
            while True:
                yield await self.outbox.get()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def wait_hello(self, seconds: float) -> agent_pb2.AgentHello:
        """The hello of the agent's next (or current) connection."""
        async with asyncio.timeout(seconds), self.changed:
            await self.changed.wait_for(lambda: self.hello is not None)
        assert self.hello is not None
        return self.hello

    def send(
        self, operation: agent_pb2.TargetedOperation
    ) -> asyncio.Future[agent_pb2.OperationResult]:
        """Queue ``operation`` (given an id); its result resolves the future."""
        if not operation.id:
            operation.id = uuid.uuid4().hex
        future: asyncio.Future[agent_pb2.OperationResult] = (
            asyncio.get_running_loop().create_future()
        )
        self._results[operation.id] = future
        self.outbox.put_nowait(agent_pb2.HubMessage(operation=operation))
        return future

    def set_statuses(self) -> list[agent_pb2.GameServerSetStatus]:
        return [s for m in self.received if m.HasField("status") for s in m.status.sets]
