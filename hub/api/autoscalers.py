"""FleetAutoscalerService: the studio's API for fleet autoscalers."""

from __future__ import annotations

import grpc
from gamefleet.v1 import autoscaler_pb2, autoscaler_pb2_grpc

from hub.federation.autoscaler import Autoscaling
from hub.registry.autoscalers import AutoscalerRegistry

from .errors import AbortError, Context, invalid
from .leadership import LeaderGate


def _ref(ref: autoscaler_pb2.FleetAutoscalerRef) -> tuple[str, str]:
    if not ref.name:
        raise invalid("ref.name", "is required")
    return ref.namespace, ref.name


class FleetAutoscalerServicer(autoscaler_pb2_grpc.FleetAutoscalerServiceServicer):
    def __init__(self, autoscalers: AutoscalerRegistry, gate: LeaderGate) -> None:
        self._autoscalers = autoscalers
        self._gate = gate

    def _runtime(self) -> Autoscaling:
        self._gate.require()
        runtime = self._gate.autoscaling
        if runtime is None:
            raise AbortError(grpc.StatusCode.UNAVAILABLE, "autoscalers are not served yet")
        return runtime

    async def ApplyFleetAutoscaler(
        self, request: autoscaler_pb2.ApplyFleetAutoscalerRequest, context: Context
    ) -> autoscaler_pb2.ApplyFleetAutoscalerResponse:
        runtime = self._runtime()
        expected = request.expected_revision if request.HasField("expected_revision") else None
        result = await self._autoscalers.apply(
            request.fleet_autoscaler, expected_revision=expected, dry_run=request.dry_run
        )
        return autoscaler_pb2.ApplyFleetAutoscalerResponse(
            fleet_autoscaler=runtime.with_status(result.autoscaler),
            created=result.created,
            changed=result.changed,
        )

    async def GetFleetAutoscaler(
        self, request: autoscaler_pb2.GetFleetAutoscalerRequest, context: Context
    ) -> autoscaler_pb2.FleetAutoscaler:
        runtime = self._runtime()
        return runtime.with_status(await self._autoscalers.get(*_ref(request.ref)))

    async def ListFleetAutoscalers(
        self, request: autoscaler_pb2.ListFleetAutoscalersRequest, context: Context
    ) -> autoscaler_pb2.ListFleetAutoscalersResponse:
        runtime = self._runtime()
        found, _ = await self._autoscalers.list(request.namespace)
        return autoscaler_pb2.ListFleetAutoscalersResponse(
            fleet_autoscalers=[runtime.with_status(a) for a in found]
        )

    async def DeleteFleetAutoscaler(
        self, request: autoscaler_pb2.DeleteFleetAutoscalerRequest, context: Context
    ) -> autoscaler_pb2.DeleteFleetAutoscalerResponse:
        self._runtime()
        deleted = await self._autoscalers.delete(*_ref(request.ref))
        return autoscaler_pb2.DeleteFleetAutoscalerResponse(fleet_autoscaler=deleted)
