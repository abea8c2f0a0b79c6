"""FleetService: the studio's API for fleets. Errors map to statuses in ``errors``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from gamefleet import telemetry
from gamefleet.v1 import fleet_pb2, fleet_pb2_grpc

from hub.core import limits, paging, request_fields
from hub.registry.fleets import DEFAULT_NAMESPACE, FleetRegistry

from .errors import Context
from .leadership import LeaderGate

# ListFleets pages as ListGameServers does. One fleet with status is 486-488 bytes in
# bench/hub_api_bench.py ("fleet with status": a 3-replica fleet placed on no cluster; each
# cluster a fleet is placed on adds about 90 bytes of status): a default page of 500 such fleets
# is 0.24 MiB, far below gRPC's 4 MiB default message limit (all 10,000 are 4.7 MiB). Fleets with
# long templates placed on many clusters are bigger, so a page also ends before it passes
# limits.LIST_PAGE_BYTES, whatever page_size asks.


def _ref(ref: fleet_pb2.FleetRef) -> tuple[str, str]:
    namespace = request_fields.name(ref.namespace, "ref.namespace", required=False)
    return namespace, request_fields.name(ref.name, "ref.name")


def _expected_revision(
    request: fleet_pb2.ApplyFleetRequest | fleet_pb2.DeleteFleetRequest,
) -> int | None:
    if not request.HasField("expected_revision"):
        return None
    return request_fields.not_negative(request.expected_revision, "expected_revision")


class FleetServicer(fleet_pb2_grpc.FleetServiceServicer):
    def __init__(self, fleets: FleetRegistry, gate: LeaderGate) -> None:
        self._fleets = fleets
        self._gate = gate

    async def ApplyFleet(
        self, request: fleet_pb2.ApplyFleetRequest, context: Context
    ) -> fleet_pb2.ApplyFleetResponse:
        federation = self._gate.require()
        expected = _expected_revision(request)
        key = (request.fleet.metadata.namespace or DEFAULT_NAMESPACE, request.fleet.metadata.name)
        # The placement of what this call stores continues its trace (hub.federation.traces).
        parent = "" if request.dry_run else telemetry.traceparent()
        federation.apply_traces.expect(key, parent)
        stored: int | None = None
        try:
            result = await self._fleets.apply(
                request.fleet, expected_revision=expected, dry_run=request.dry_run
            )
            if result.changed:
                stored = result.fleet.metadata.revision
        finally:
            federation.apply_traces.stored(key, parent, stored)
        return fleet_pb2.ApplyFleetResponse(
            fleet=federation.with_status(result.fleet),
            created=result.created,
            changed=result.changed,
        )

    async def GetFleet(
        self, request: fleet_pb2.GetFleetRequest, context: Context
    ) -> fleet_pb2.Fleet:
        federation = self._gate.require()
        return federation.with_status(await self._fleets.get(*_ref(request.ref)))

    async def ListFleets(
        self, request: fleet_pb2.ListFleetsRequest, context: Context
    ) -> fleet_pb2.ListFleetsResponse:
        federation = self._gate.require()
        namespace = request_fields.name(request.namespace, "namespace", required=False)
        selector = request_fields.selector(request.label_selector)
        size = paging.page_size(
            request.page_size,
            default=limits.FLEETS_DEFAULT_PAGE_SIZE,
            maximum=limits.MAX_PAGE_SIZE,
        )
        position = paging.decode_token(request.page_token, 2)
        after = (position[0], position[1]) if position is not None else None
        page = await self._fleets.page(namespace, selector, after=after, size=size)
        fleets = [federation.with_status(f) for f in page.fleets]
        count = paging.fitting((f.ByteSize() for f in fleets), limits.LIST_PAGE_BYTES)
        token = ""
        if page.more or count < len(fleets):
            last = fleets[count - 1].metadata
            token = paging.encode_token((last.namespace, last.name))
        return fleet_pb2.ListFleetsResponse(
            fleets=fleets[:count], revision=page.revision, next_page_token=token
        )

    async def DeleteFleet(
        self, request: fleet_pb2.DeleteFleetRequest, context: Context
    ) -> fleet_pb2.DeleteFleetResponse:
        federation = self._gate.require()
        namespace, name = _ref(request.ref)
        expected = _expected_revision(request)
        fleet, removed = await federation.delete_fleet(namespace, name, expected)
        return fleet_pb2.DeleteFleetResponse(fleet=fleet, removed=removed)

    async def ScaleFleet(
        self, request: fleet_pb2.ScaleFleetRequest, context: Context
    ) -> fleet_pb2.Fleet:
        federation = self._gate.require()
        namespace, name = _ref(request.ref)
        replicas = request.replicas
        if not 0 <= replicas <= limits.MAX_FLEET_REPLICAS:
            raise request_fields.refused(
                "replicas", f"{replicas} must be between 0 and {limits.MAX_FLEET_REPLICAS}"
            )
        return federation.with_status(await self._fleets.scale(namespace, name, replicas))

    async def WatchFleets(
        self, request: fleet_pb2.WatchFleetsRequest, context: Context
    ) -> AsyncIterator[fleet_pb2.FleetEvent]:
        """Store changes of the fleets and, between them, changes of their status."""
        federation = self._gate.require()
        namespace = request_fields.name(request.namespace, "namespace", required=False)
        selector = request_fields.selector(request.label_selector)
        request_fields.not_negative(request.start_revision, "start_revision")
        watcher = federation.subscribe()
        # Store events, and keys whose status changed (sent only for fleets this stream has
        # already shown, as of the revision it showed: status never runs ahead of the store).
        events: asyncio.Queue[fleet_pb2.FleetEvent | tuple[str, str] | BaseException] = (
            asyncio.Queue()
        )

        async def follow_store() -> None:
            try:
                async for event in self._fleets.watch(namespace, selector, request.start_revision):
                    events.put_nowait(event)
            except BaseException as exc:
                events.put_nowait(exc)

        async def follow_status() -> None:
            async for key in watcher.changes():
                events.put_nowait(key)

        tasks = [asyncio.create_task(follow_store()), asyncio.create_task(follow_status())]
        shown: dict[tuple[str, str], fleet_pb2.Fleet] = {}
        last_sent: dict[tuple[str, str], bytes] = {}
        try:
            while True:
                item = await events.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, tuple):
                    if item not in shown:
                        continue
                    fleet = fleet_pb2.Fleet()
                    fleet.CopyFrom(shown[item])
                    event = fleet_pb2.FleetEvent(
                        type="MODIFIED", fleet=fleet, revision=fleet.metadata.revision
                    )
                    # The event holds its own copy: the status below must go into that one.
                    fleet = event.fleet
                else:
                    event, fleet = item, item.fleet
                key = (fleet.metadata.namespace, fleet.metadata.name)
                if event.type == "DELETED":
                    shown.pop(key, None)
                    last_sent.pop(key, None)
                    yield event
                    continue
                bare = fleet_pb2.Fleet()
                bare.CopyFrom(fleet)
                bare.ClearField("status")
                shown[key] = bare
                federation.with_status(fleet)
                snapshot = fleet.SerializeToString(deterministic=True)
                if event.type == "MODIFIED" and last_sent.get(key) == snapshot:
                    continue
                last_sent[key] = snapshot
                yield event
        finally:
            federation.unsubscribe(watcher)
            for task in tasks:
                task.cancel()
