"""One connected agent: what it holds, what to send it, and operations awaiting its answer."""

from __future__ import annotations

import asyncio
import itertools

from gamefleet import telemetry
from gamefleet.v1 import agent_pb2

from hub.core import agent_limits
from hub.core.desired_sets import DriftMark, SetKey

_operation_ids = itertools.count(1)


class AgentSession:
    """The hub's side of one ``AgentService.Connect`` stream."""

    def __init__(
        self,
        cluster: str,
        held: dict[SetKey, str],
        bounds: agent_limits.AgentLimits = agent_limits.DEFAULT_LIMITS,
        reads_spec_json: bool = False,
    ) -> None:
        self.cluster = cluster
        # The agent reads a desired set's spec as JSON (else as a Struct): it said so on hello.
        self.reads_spec_json = reads_spec_json
        self._limits = bounds
        # Spec hash of every set the agent holds (it told us on hello; we track what we send).
        self.held = held
        # Sets the agent is retiring (scaled to 0, deleted once empty), as it said on hello.
        self.retiring: set[SetKey] = set()
        # Sets changed in the cluster (drift) to send again although the agent holds their hash,
        # and the (observed generation, drift) each was last sent again for.
        self.resend: set[SetKey] = set()
        self.resent_for: dict[SetKey, DriftMark] = {}
        self.outbox: asyncio.Queue[agent_pb2.HubMessage | None] = asyncio.Queue()
        # Operations awaiting the agent's result, with the servers each named.
        self._pending: dict[
            str, tuple[frozenset[str], asyncio.Future[agent_pb2.OperationResult]]
        ] = {}
        self.closed = False
        # Why the hub ended the stream, when it refused something the agent sent.
        self.refusal: agent_limits.Refusal | None = None

    def send(self, message: agent_pb2.HubMessage) -> None:
        if not self.closed:
            self.outbox.put_nowait(message)

    def close(self, refusal: agent_limits.Refusal | None = None) -> None:
        if not self.closed:
            self.closed = True
            self.refusal = refusal
            self.outbox.put_nowait(None)
            for _, future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"agent of {self.cluster} disconnected"))

    async def operate(
        self, operation: agent_pb2.TargetedOperation, timeout: float
    ) -> agent_pb2.OperationResult:
        operation.id = f"op-{next(_operation_ids)}"
        # The agent's spans for it continue the caller's trace; its answer ends the caller's.
        operation.trace_parent = telemetry.traceparent()
        future: asyncio.Future[agent_pb2.OperationResult] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending[operation.id] = (frozenset(operation.game_servers), future)
        try:
            self.send(agent_pb2.HubMessage(operation=operation))
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._pending.pop(operation.id, None)

    def resolve(self, result: agent_pb2.OperationResult) -> None:
        """Answer this session's pending operation ``result.id`` (ids of other sessions, or
        answered or timed out, are ignored), keeping only the servers the operation named."""
        pending = self._pending.get(result.id)
        if pending is not None and not pending[1].done():
            pending[1].set_result(agent_limits.within_operation(result, pending[0], self._limits))
