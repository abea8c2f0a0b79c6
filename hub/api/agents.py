"""AgentService: one bidirectional stream per cluster, attributed to that cluster alone.

An agent is trusted for its own cluster only: a message beyond the limits of
:mod:`hub.core.limits` ends its stream with INVALID_ARGUMENT or RESOURCE_EXHAUSTED naming the
field (counted, and logged once); an entry of a status delta beyond them is dropped by the
federation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import grpc
from gamefleet.v1 import agent_pb2, agent_pb2_grpc

from hub.core import agent_limits
from hub.federation.federation import Federation
from hub.federation.links import REFUSED
from hub.federation.session import AgentSession

from . import auth
from .errors import AbortError, Context, invalid
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
        if first.WhichOneof("body") != "hello":
            raise invalid("hello", "the first message must be a hello")
        hello = first.hello
        refusal = agent_limits.cluster_name_refusal(hello.cluster)
        if refusal is None:
            auth.check_cluster(self._identity_of(context), hello.cluster, "hello.cluster")
            refusal = agent_limits.hello_refusal(hello, federation.limits)
        if refusal is not None:
            named = refusal.field != "hello.cluster"
            federation.refused(hello.cluster if named else "", refusal, REFUSED)
            raise _abort(refusal)
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
        if session.refusal is not None:
            raise _abort(session.refusal)

    async def _read(
        self,
        messages: AsyncIterator[agent_pb2.AgentMessage],
        federation: Federation,
        session: AgentSession,
    ) -> None:
        refusal: agent_limits.Refusal | None = None
        try:
            async for message in messages:
                if session.closed:
                    break  # replaced by a newer stream of the same cluster
                refusal = _refusal(message, federation.limits)
                if refusal is not None:
                    federation.refused(session.cluster, refusal, REFUSED)
                    break
                kind = message.WhichOneof("body")
                if kind == "heartbeat":
                    federation.heartbeat(session.cluster, message.heartbeat)
                elif kind == "status":
                    federation.report_status(session.cluster, message.status)
                elif kind == "operation_result":
                    session.resolve(message.operation_result)
        except Exception as exc:
            log.info("stream of %s ended: %s", session.cluster, exc)
        finally:
            session.close(refusal)


def _refusal(
    message: agent_pb2.AgentMessage, most: agent_limits.AgentLimits
) -> agent_limits.Refusal | None:
    """The limit a message after the hello breaks as a whole, or None."""
    kind = message.WhichOneof("body")
    if kind == "heartbeat":
        return agent_limits.heartbeat_refusal(message.heartbeat, most)
    if kind == "status":
        return agent_limits.status_refusal(message.status, most)
    if kind == "operation_result":
        return agent_limits.operation_result_refusal(message.operation_result, most)
    if kind == "hello":
        return agent_limits.Refusal("hello", "hello", "only the first message may be a hello")
    return None


def _abort(refusal: agent_limits.Refusal) -> AbortError:
    code = (
        grpc.StatusCode.RESOURCE_EXHAUSTED
        if refusal.exhausted
        else grpc.StatusCode.INVALID_ARGUMENT
    )
    return AbortError(code, str(refusal))
