"""FleetService: the studio's API for fleets. Errors map to statuses in ``errors``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from gamefleet.v1 import fleet_pb2, fleet_pb2_grpc

from hub.core import selectors
from hub.registry.fleets import FleetRegistry

from .errors import Context, invalid


def selector_or_none(text: str) -> selectors.Selector | None:
    return selectors.parse_selector(text) if text.strip() else None


def _ref(ref: fleet_pb2.FleetRef) -> tuple[str, str]:
    if not ref.name:
        raise invalid("ref.name", "is required")
    return ref.namespace, ref.name


class FleetServicer(fleet_pb2_grpc.FleetServiceServicer):
    def __init__(self, fleets: FleetRegistry) -> None:
        self._fleets = fleets

    async def ApplyFleet(
        self, request: fleet_pb2.ApplyFleetRequest, context: Context
    ) -> fleet_pb2.ApplyFleetResponse:
        expected = request.expected_revision if request.HasField("expected_revision") else None
        result = await self._fleets.apply(
            request.fleet, expected_revision=expected, dry_run=request.dry_run
        )
        return fleet_pb2.ApplyFleetResponse(
            fleet=result.fleet, created=result.created, changed=result.changed
        )

    async def GetFleet(
        self, request: fleet_pb2.GetFleetRequest, context: Context
    ) -> fleet_pb2.Fleet:
        return await self._fleets.get(*_ref(request.ref))

    async def ListFleets(
        self, request: fleet_pb2.ListFleetsRequest, context: Context
    ) -> fleet_pb2.ListFleetsResponse:
        fleets, revision = await self._fleets.list(
            request.namespace, selector_or_none(request.label_selector)
        )
        return fleet_pb2.ListFleetsResponse(fleets=fleets, revision=revision)

    async def DeleteFleet(
        self, request: fleet_pb2.DeleteFleetRequest, context: Context
    ) -> fleet_pb2.DeleteFleetResponse:
        expected = request.expected_revision if request.HasField("expected_revision") else None
        namespace, name = _ref(request.ref)
        fleet = await self._fleets.delete(namespace, name, expected_revision=expected)
        return fleet_pb2.DeleteFleetResponse(fleet=fleet)

    async def ScaleFleet(
        self, request: fleet_pb2.ScaleFleetRequest, context: Context
    ) -> fleet_pb2.Fleet:
        namespace, name = _ref(request.ref)
        return await self._fleets.scale(namespace, name, request.replicas)

    async def WatchFleets(
        self, request: fleet_pb2.WatchFleetsRequest, context: Context
    ) -> AsyncIterator[fleet_pb2.FleetEvent]:
        if request.start_revision < 0:
            raise invalid("start_revision", "must not be negative")
        events = self._fleets.watch(
            request.namespace, selector_or_none(request.label_selector), request.start_revision
        )
        async for event in events:
            yield event
