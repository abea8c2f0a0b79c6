"""AgentService: one bidirectional stream per cluster, attributed to that cluster alone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from gamefleet.v1 import agent_pb2, agent_pb2_grpc

from hub.core import names
from hub.federation.federation import Federation
from hub.federation.session import AgentSession

from . import auth
from .errors import Context, invalid
from .leadership import LeaderGate

log = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 10.0

# Returns the cluster a caller's client certificate names, or None when agents are not
# authenticated by certificate (insecure development mode).
IdentityOf = Callable[[Context], str | None]


def no_identity(context: Context) -> str | None:
    return None


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self, gate: LeaderGate, identity_of: IdentityOf = no_identity) -> None:
        self._gate = gate
        self._identity_of = identity_of

    async def Connect(
        self, request_iterator: AsyncIterator[agent_pb2.AgentMessage], context: Context
    ) -> AsyncIterator[agent_pb2.HubMessage]:
        federation = self._gate.require()
        messages = aiter(request_iterator)
        try:
            async with asyncio.timeout(HELLO_TIMEOUT_S):
                first = await anext(messages)
        except (TimeoutError, StopAsyncIteration):
            raise invalid("hello", "the first message must be a hello") from None
        hello = self._checked_hello(first, context)
        session = await federation.connect(hello)
        reader = asyncio.create_task(self._read(messages, federation, session))
        try:
            while (message := await session.outbox.get()) is not None:
                yield message
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            federation.disconnect(session)

    def _checked_hello(
        self, first: agent_pb2.AgentMessage, context: Context
    ) -> agent_pb2.AgentHello:
        if first.WhichOneof("body") != "hello":
            raise invalid("hello", "the first message must be a hello")
        hello = first.hello
        problem = names.dns1123_label_problem(hello.cluster)
        if problem:
            raise invalid("hello.cluster", problem)
        auth.check_cluster(self._identity_of(context), hello.cluster, "hello.cluster")
        return hello

    async def _read(
        self,
        messages: AsyncIterator[agent_pb2.AgentMessage],
        federation: Federation,
        session: AgentSession,
    ) -> None:
        try:
            async for message in messages:
                kind = message.WhichOneof("body")
                if kind == "heartbeat":
                    federation.heartbeat(session.cluster, message.heartbeat)
                elif kind == "status":
                    federation.report_status(session.cluster, message.status)
                elif kind == "operation_result":
                    federation.resolve(session.cluster, message.operation_result)
        except Exception as exc:
            log.info("stream of %s ended: %s", session.cluster, exc)
        finally:
            session.close()
