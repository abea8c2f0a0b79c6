"""RolloutService: pause, resume and undo a fleet's progressive rollout; its revision history."""

from __future__ import annotations

from gamefleet.v1 import fleet_pb2, fleet_pb2_grpc

from hub.core import request_fields
from hub.registry.rollouts import RolloutRegistry

from .errors import Context
from .leadership import LeaderGate


def _ref(request: fleet_pb2.RolloutRequest) -> tuple[str, str]:
    namespace = request_fields.name(request.ref.namespace, "ref.namespace", required=False)
    return namespace, request_fields.name(request.ref.name, "ref.name")


class RolloutServicer(fleet_pb2_grpc.RolloutServiceServicer):
    def __init__(self, rollouts: RolloutRegistry, gate: LeaderGate) -> None:
        self._rollouts = rollouts
        self._gate = gate

    async def PauseRollout(
        self, request: fleet_pb2.RolloutRequest, context: Context
    ) -> fleet_pb2.Fleet:
        federation = self._gate.require()
        return federation.with_status(await self._rollouts.pause(*_ref(request)))

    async def ResumeRollout(
        self, request: fleet_pb2.RolloutRequest, context: Context
    ) -> fleet_pb2.Fleet:
        federation = self._gate.require()
        return federation.with_status(await self._rollouts.resume(*_ref(request)))

    async def UndoRollout(
        self, request: fleet_pb2.RolloutRequest, context: Context
    ) -> fleet_pb2.Fleet:
        federation = self._gate.require()
        return federation.with_status(await self._rollouts.undo(*_ref(request)))

    async def RolloutHistory(
        self, request: fleet_pb2.RolloutRequest, context: Context
    ) -> fleet_pb2.RolloutHistoryResponse:
        self._gate.require()
        history = await self._rollouts.history(*_ref(request))
        return fleet_pb2.RolloutHistoryResponse(revisions=history.revisions)
