"""AllocationService: a Ready game server of a fleet for a match, in any cluster."""

from __future__ import annotations

import grpc
from gamefleet import protocol
from gamefleet.v1 import allocation_pb2, allocation_pb2_grpc

from hub.core import allocation, names
from hub.federation import allocator

from .errors import AbortError, Context, invalid
from .leadership import LeaderGate

_SCHEDULING = {
    allocation_pb2.PACKED: allocation.Scheduling.PACKED,
    allocation_pb2.DISTRIBUTED: allocation.Scheduling.DISTRIBUTED,
}


def request_of(message: allocation_pb2.AllocateRequest) -> allocator.Request:
    """The allocation a request asks for; INVALID_ARGUMENT naming the first bad field."""
    if not message.namespace:
        raise invalid("namespace", "is required")
    if problem := names.dns1123_label_problem(message.namespace):
        raise invalid("namespace", problem)
    if not message.fleet:
        raise invalid("fleet", "is required")
    request_id = message.request_id
    if not request_id.strip():
        raise invalid("request_id", "is required (the idempotency key)")
    if len(request_id) > allocation.MAX_REQUEST_ID:
        raise invalid("request_id", f"must be at most {allocation.MAX_REQUEST_ID} characters")
    if "/" in request_id:
        raise invalid("request_id", "must not contain '/'")
    if message.scheduling not in _SCHEDULING:
        raise invalid("scheduling", f"unknown value {message.scheduling}")
    for i, selector in enumerate(message.selectors):
        for key in selector.match_labels:
            if problem := names.qualified_name_problem(key):
                raise invalid(f"selectors[{i}].match_labels[{key!r}]", problem)
    for i, cluster in enumerate(message.preferred_clusters):
        if not cluster:
            raise invalid(f"preferred_clusters[{i}]", "must not be empty")
    for key, value in message.labels.items():
        if problem := names.qualified_name_problem(key) or names.label_value_problem(value):
            raise invalid(f"labels[{key!r}]", problem)
    for key in message.annotations:
        if problem := names.qualified_name_problem(key):
            raise invalid(f"annotations[{key!r}]", problem)
        if key == protocol.ALLOCATION_REQUEST_ANNOTATION:
            raise invalid(f"annotations[{key!r}]", "is set by the hub to the request_id")
    return allocator.Request(
        namespace=message.namespace,
        fleet=message.fleet,
        request_id=request_id,
        selectors=[dict(s.match_labels) for s in message.selectors],
        preferred=list(message.preferred_clusters),
        scheduling=_SCHEDULING[message.scheduling],
        labels=dict(message.labels),
        annotations=dict(message.annotations),
    )


class AllocationServicer(allocation_pb2_grpc.AllocationServiceServicer):
    def __init__(self, gate: LeaderGate) -> None:
        self._gate = gate

    async def Allocate(
        self, request: allocation_pb2.AllocateRequest, context: Context
    ) -> allocation_pb2.AllocateResponse:
        self._gate.require()
        wanted = request_of(request)
        served = self._gate.allocator
        if served is None:
            raise AbortError(grpc.StatusCode.UNAVAILABLE, "allocations are not served yet")
        try:
            server, replayed = await served.allocate(wanted)
        except allocator.NoFleetError as exc:
            raise AbortError(grpc.StatusCode.NOT_FOUND, str(exc)) from None
        except allocator.ExhaustedError as exc:
            raise AbortError(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)) from None
        except allocator.OutcomeUnknownError as exc:
            raise AbortError(grpc.StatusCode.UNAVAILABLE, str(exc)) from None
        return allocation_pb2.AllocateResponse(game_server=server, replayed=replayed)
