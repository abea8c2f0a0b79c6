"""Agones' AllocationService (package ``allocation``), served by the hub across clusters.

A matchmaker (or an Open Match director) written against Agones' allocator calls the hub
unchanged: the request maps onto the hub's own allocation (:mod:`hub.federation.allocator`),
the answer onto Agones' ``AllocationResponse``. Agones names the fleet with the label
``agones.dev/fleet`` in a selector's ``matchLabels``; the hub needs it (one fleet per attempt).
Consecutive selectors of one fleet are one attempt of the hub (the first selector that matches
a candidate wins, as in Agones); the next fleet's selectors are tried when that fleet has no
candidate. A selector's ``gameServerState: ALLOCATED``, ``counters`` and ``lists`` and the
request's counter and list actions map onto an allocation by capacity (docs/allocation.md);
player capacity and ``priorities`` are not served: INVALID_ARGUMENT naming the field. Agones'
request carries no idempotency key, so each call is a new allocation with a request id of its
own (a retry allocates another server).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence

import grpc
from agones.allocation import allocation_pb2, allocation_pb2_grpc
from gamefleet import protocol
from gamefleet.v1 import gameserver_pb2
from google.protobuf import json_format, wrappers_pb2

from hub.core import allocation, capacity_request, limits, paths, request_fields
from hub.federation import allocator
from okg import capacity, endpoints

from .allocations import check_labels, check_metadata
from .errors import AbortError, Context, invalid
from .leadership import LeaderGate

FLEET_LABEL = "agones.dev/fleet"
# The request ids of Agones' calls, which bring none: one per call.
REQUEST_ID_PREFIX = "agones-"

Selector = allocation_pb2.GameServerSelector

_SCHEDULING = {
    allocation_pb2.AllocationRequest.Packed: allocation.Scheduling.PACKED,
    allocation_pb2.AllocationRequest.Distributed: allocation.Scheduling.DISTRIBUTED,
}


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One fleet's run of consecutive selectors, without the fleet label."""

    fleet: str
    selectors: list[dict[str, str]]
    needs: list[capacity.Need]


def _selectors(message: allocation_pb2.AllocationRequest) -> list[tuple[str, Selector]]:
    """The ordered selectors with their paths; the deprecated fields as Agones converts them
    (preferred ones first, then the required one) when ``gameServerSelectors`` is empty."""
    if message.gameServerSelectors:
        return [(f"gameServerSelectors[{i}]", s) for i, s in enumerate(message.gameServerSelectors)]
    found = [
        (f"preferredGameServerSelectors[{i}]", s)
        for i, s in enumerate(message.preferredGameServerSelectors)
    ]
    if message.HasField("requiredGameServerSelector"):
        found.append(("requiredGameServerSelector", message.requiredGameServerSelector))
    return found


def attempts_of(message: allocation_pb2.AllocationRequest) -> list[Attempt]:
    """The fleets to try in order; INVALID_ARGUMENT naming the first bad selector field."""
    selectors = _selectors(message)
    if not selectors:
        raise invalid(
            "gameServerSelectors",
            f"is required: name the fleet with matchLabels {{{FLEET_LABEL!r}: FLEET}}",
        )
    request_fields.count(len(selectors), "gameServerSelectors", limits.MAX_ALLOCATION_SELECTORS)
    attempts: list[Attempt] = []
    for path, selector in selectors:
        need = _need(selector, path)
        labels = dict(selector.matchLabels)
        fleet_path = paths.entry(f"{path}.matchLabels", FLEET_LABEL)
        fleet = labels.pop(FLEET_LABEL, "")
        if not fleet:
            raise invalid(fleet_path, "is required: the hub allocates from the fleet it names")
        request_fields.name(fleet, fleet_path)
        if attempts and attempts[-1].fleet == fleet:
            attempts[-1].selectors.append(labels)
            attempts[-1].needs.append(need)
        else:
            attempts.append(Attempt(fleet, [labels], [need]))
    return attempts


def _need(selector: Selector, path: str) -> capacity.Need:
    """The selector's state, counter and list bounds; INVALID_ARGUMENT naming a bad field."""
    check_labels(selector.matchLabels, f"{path}.matchLabels")
    if selector.gameServerState not in (Selector.READY, Selector.ALLOCATED):
        raise invalid(f"{path}.gameServerState", f"unknown value {selector.gameServerState}")
    if selector.HasField("players") and (
        selector.players.minAvailable or selector.players.maxAvailable
    ):
        raise invalid(f"{path}.players", "player capacity is not supported: use a list")
    counters = {
        name: capacity.CounterBounds(b.minCount, b.maxCount, b.minAvailable, b.maxAvailable)
        for name, b in selector.counters.items()
    }
    lists = {
        name: capacity.ListBounds(b.containsValue, b.minAvailable, b.maxAvailable)
        for name, b in selector.lists.items()
    }
    capacity_request.counter_bounds(counters, f"{path}.counters", capacity_request.camel)
    capacity_request.list_bounds(lists, f"{path}.lists", capacity_request.camel)
    return capacity.Need(selector.gameServerState == Selector.ALLOCATED, counters, lists)


INCREMENT, DECREMENT = "Increment", "Decrement"


def _actions(message: allocation_pb2.AllocationRequest) -> capacity.Actions:
    """Agones' counter actions (Increment or Decrement by amount) and list actions."""
    counters: dict[str, capacity.CounterChange] = {}
    for name, action in message.counters.items():
        path = paths.entry("counters", name)
        amount = action.amount.value if action.HasField("amount") else 0
        verb = action.action.value if action.HasField("action") else ""
        if amount < 0:
            raise invalid(f"{path}.amount", f"{amount} must not be negative")
        if verb not in (INCREMENT, DECREMENT) and (amount or verb):
            raise invalid(f"{path}.action", f"must be {INCREMENT} or {DECREMENT}, not {verb!r}")
        counters[name] = capacity.CounterChange(
            -amount if verb == DECREMENT else amount,
            action.capacity.value if action.HasField("capacity") else None,
        )
    lists = {
        name: capacity.ListChange(
            tuple(action.addValues),
            tuple(action.deleteValues),
            action.capacity.value if action.HasField("capacity") else None,
        )
        for name, action in message.lists.items()
    }
    found = capacity.Actions(counters, lists)
    capacity_request.actions(found, "counters", "lists", capacity_request.camel, "amount")
    return found


def _metadata(message: allocation_pb2.AllocationRequest) -> tuple[str, allocation_pb2.MetaPatch]:
    """``metadata``, else the deprecated ``metaPatch`` (ignored when metadata is set)."""
    if message.HasField("metadata") or not message.HasField("metaPatch"):
        return "metadata", message.metadata
    return "metaPatch", message.metaPatch


def requests_of(message: allocation_pb2.AllocationRequest) -> list[allocator.Request]:
    """The hub's allocation requests to try in order, sharing one fresh request id."""
    request_fields.name(message.namespace, "namespace")
    if message.scheduling not in _SCHEDULING:
        raise invalid("scheduling", f"unknown value {message.scheduling}")
    if message.priorities:
        raise invalid(
            "priorities",
            "not supported: servers are ordered by the room of the first counter (else list)"
            " the selectors or actions name",
        )
    actions = _actions(message)
    attempts = attempts_of(message)
    path, metadata = _metadata(message)
    check_metadata(metadata.labels, metadata.annotations, f"{path}.labels", f"{path}.annotations")
    request_id = REQUEST_ID_PREFIX + uuid.uuid4().hex
    return [
        allocator.Request(
            namespace=message.namespace,
            fleet=attempt.fleet,
            request_id=request_id,
            selectors=attempt.selectors,
            scheduling=_SCHEDULING[message.scheduling],
            labels=dict(metadata.labels),
            annotations=dict(metadata.annotations),
            needs=attempt.needs if any(not n.plain() for n in attempt.needs) else [],
            actions=actions,
        )
        for attempt in attempts
    ]


def answer(
    server: gameserver_pb2.GameServer, annotations: Mapping[str, str], request_id: str
) -> allocation_pb2.AllocationResponse:
    """Agones' answer: where players reach the server, which cluster holds it (``source``) and
    the metadata the allocation wrote (the hub does not hold the server's other annotations)."""
    found = endpoints.endpoints(json_format.MessageToDict(server.network_status))
    Response = allocation_pb2.AllocationResponse
    return Response(
        gameServerName=server.name,
        ports=[Response.GameServerStatusPort(name=n, port=p) for n, p in found.ports],
        address=found.address,
        addresses=[Response.GameServerStatusAddress(type=t, address=a) for t, a in found.addresses],
        nodeName=server.node,
        source=server.cluster,
        metadata=Response.GameServerMetadata(
            labels=dict(server.labels),
            annotations={**annotations, protocol.ALLOCATION_REQUEST_ANNOTATION: request_id},
        ),
        counters={
            name: Response.CounterStatus(
                count=wrappers_pb2.Int64Value(value=c.count),
                capacity=wrappers_pb2.Int64Value(value=c.capacity),
            )
            for name, c in server.counters.items()
        },
        lists={
            name: Response.ListStatus(
                values=list(lst.values), capacity=wrappers_pb2.Int64Value(value=lst.capacity)
            )
            for name, lst in server.lists.items()
        },
    )


class AgonesAllocationServicer(allocation_pb2_grpc.AllocationServiceServicer):
    def __init__(self, gate: LeaderGate) -> None:
        self._gate = gate

    async def Allocate(
        self, request: allocation_pb2.AllocationRequest, context: Context
    ) -> allocation_pb2.AllocationResponse:
        return await self.allocate(request)

    async def allocate(
        self, request: allocation_pb2.AllocationRequest
    ) -> allocation_pb2.AllocationResponse:
        """The answer, or AbortError / ValidationError (the gRPC and REST forms map them)."""
        self._gate.require()
        wanted = requests_of(request)
        served = self._gate.allocator
        if served is None:
            raise AbortError(grpc.StatusCode.UNAVAILABLE, "allocations are not served yet")
        missing: list[str] = []
        for attempt in wanted:
            try:
                server, _ = await served.allocate(attempt)
            except allocator.NoFleetError:
                missing.append(attempt.fleet)
                continue
            except allocator.ExhaustedError:
                continue
            except allocator.OutcomeUnknownError as exc:
                # Its server is given back when the intent expires (nobody can retry it).
                raise AbortError(grpc.StatusCode.UNAVAILABLE, str(exc)) from None
            return answer(server, attempt.annotations, attempt.request_id)
        raise AbortError(grpc.StatusCode.RESOURCE_EXHAUSTED, _exhausted(request, wanted, missing))


def _exhausted(
    message: allocation_pb2.AllocationRequest,
    wanted: Sequence[allocator.Request],
    missing: Sequence[str],
) -> str:
    fleets = " or fleet ".join(f"{message.namespace}/{r.fleet}" for r in wanted)
    text = f"no Ready game server of fleet {fleets} matches the selectors"
    if any(r.by_capacity for r in wanted):
        text = f"no game server of fleet {fleets} matches the selectors with room"
    if missing:
        text += f" (no fleet {', '.join(missing)})"
    return text
