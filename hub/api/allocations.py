"""AllocationService: a Ready game server of a fleet for a match, in any cluster."""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from gamefleet import protocol
from gamefleet.v1 import allocation_pb2, allocation_pb2_grpc

from hub.core import allocation, limits, names, paths, pod_template, request_fields
from hub.core import errors as core_errors
from hub.federation import allocator

from .errors import AbortError, Context, invalid
from .leadership import LeaderGate

_SCHEDULING = {
    allocation_pb2.PACKED: allocation.Scheduling.PACKED,
    allocation_pb2.DISTRIBUTED: allocation.Scheduling.DISTRIBUTED,
}


def request_of(message: allocation_pb2.AllocateRequest) -> allocator.Request:
    """The allocation a request asks for; INVALID_ARGUMENT naming the first bad field."""
    request_fields.name(message.namespace, "namespace")
    request_fields.name(message.fleet, "fleet")
    request_id = message.request_id
    if not request_id.strip():
        raise invalid("request_id", "is required (the idempotency key)")
    request_fields.bounded(request_id, "request_id", limits.MAX_REQUEST_ID_LENGTH)
    if "/" in request_id:
        raise invalid("request_id", "must not contain '/'")
    if message.scheduling not in _SCHEDULING:
        raise invalid("scheduling", f"unknown value {message.scheduling}")
    request_fields.count(len(message.selectors), "selectors", limits.MAX_ALLOCATION_SELECTORS)
    for i, selector in enumerate(message.selectors):
        _check_labels(selector.match_labels, f"selectors[{i}].match_labels")
    request_fields.count(
        len(message.preferred_clusters), "preferred_clusters", limits.MAX_PREFERRED_CLUSTERS
    )
    for i, cluster in enumerate(message.preferred_clusters):
        request_fields.name(cluster, f"preferred_clusters[{i}]")
    _check_labels(message.labels, "labels")
    for key in message.annotations:
        path = paths.entry("annotations", key)
        if problem := names.qualified_name_problem(key):
            raise invalid(path, problem)
        if key == protocol.ALLOCATION_REQUEST_ANNOTATION:
            raise invalid(path, "is set by the hub to the request_id")
    if problems := pod_template.annotations_size_problems(dict(message.annotations), "annotations"):
        raise core_errors.ValidationError(problems)
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


def _check_labels(labels: Mapping[str, str], path: str) -> None:
    for key, value in labels.items():
        if problem := names.qualified_name_problem(key) or names.label_value_problem(value):
            raise invalid(paths.entry(path, key), problem)


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
