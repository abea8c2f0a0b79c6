"""AllocationService: a Ready game server of a fleet for a match, in any cluster."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator, Mapping

import grpc
from gamefleet import capacity_wire, protocol
from gamefleet.v1 import allocation_pb2, allocation_pb2_grpc
from google.protobuf import json_format

from hub.core import (
    allocation,
    capacity_request,
    limits,
    names,
    paths,
    pod_template,
    request_fields,
)
from hub.core import errors as core_errors
from hub.federation import allocator
from hub.federation.federation import Federation
from okg import capacity

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
    needs = []
    for i, selector in enumerate(message.selectors):
        check_labels(selector.match_labels, f"selectors[{i}].match_labels")
        needs.append(_need(selector, f"selectors[{i}]"))
    actions = capacity.Actions(
        {n: capacity_wire.counter_change(a) for n, a in message.counters.items()},
        {n: capacity_wire.list_change(a) for n, a in message.lists.items()},
    )
    capacity_request.actions(actions, "counters", "lists")
    request_fields.count(
        len(message.preferred_clusters), "preferred_clusters", limits.MAX_PREFERRED_CLUSTERS
    )
    for i, cluster in enumerate(message.preferred_clusters):
        request_fields.name(cluster, f"preferred_clusters[{i}]")
    check_metadata(message.labels, message.annotations, "labels", "annotations")
    _check_players(message)
    return allocator.Request(
        namespace=message.namespace,
        fleet=message.fleet,
        request_id=request_id,
        selectors=[dict(s.match_labels) for s in message.selectors],
        preferred=list(message.preferred_clusters),
        scheduling=_SCHEDULING[message.scheduling],
        labels=dict(message.labels),
        annotations=dict(message.annotations),
        needs=needs if any(not n.plain() for n in needs) else [],
        actions=actions,
    )


def _need(selector: allocation_pb2.AllocationSelector, path: str) -> capacity.Need:
    """A selector's state, counter and list bounds; INVALID_ARGUMENT naming a bad one."""
    if selector.game_server_state not in (allocation_pb2.READY, allocation_pb2.ALLOCATED):
        raise invalid(f"{path}.game_server_state", f"unknown value {selector.game_server_state}")
    counters = {n: capacity_wire.counter_bounds(s) for n, s in selector.counters.items()}
    lists = {n: capacity_wire.list_bounds(s) for n, s in selector.lists.items()}
    capacity_request.counter_bounds(counters, f"{path}.counters")
    capacity_request.list_bounds(lists, f"{path}.lists")
    return capacity.Need(selector.game_server_state == allocation_pb2.ALLOCATED, counters, lists)


def _check_players(message: allocation_pb2.AllocateRequest) -> None:
    """Regions are cluster label values; latencies finite, 0 or more, bounded."""
    if problem := names.label_value_problem(message.players_region):
        raise invalid("players_region", problem)
    request_fields.count(
        len(message.region_latency_ms), "region_latency_ms", limits.MAX_REGION_LATENCIES
    )
    for region, latency in message.region_latency_ms.items():
        path = paths.entry("region_latency_ms", region)
        if problem := names.label_value_problem(region) or ("is empty" if not region else None):
            raise invalid(path, problem)
        if not math.isfinite(latency) or not 0 <= latency <= limits.MAX_LATENCY_MS:
            raise invalid(path, f"must be a number of milliseconds 0-{limits.MAX_LATENCY_MS:g}")


def nearest_first(
    wanted: allocator.Request, message: allocation_pb2.AllocateRequest, federation: Federation
) -> allocator.Request:
    """The request with the clusters nearest its players after its own preferred ones."""
    if not message.players_region and not message.region_latency_ms:
        return wanted
    regions = {
        name: allocation.cluster_region(labels)
        for name, labels in federation.cluster_labels().items()
    }
    nearest = allocation.nearest_clusters(
        regions, message.players_region, dict(message.region_latency_ms)
    )
    return dataclasses.replace(wanted, preferred=allocation.with_nearest(wanted.preferred, nearest))


def check_labels(labels: Mapping[str, str], path: str) -> None:
    for key, value in labels.items():
        if problem := names.qualified_name_problem(key) or names.label_value_problem(value):
            raise invalid(paths.entry(path, key), problem)


def check_metadata(
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    labels_path: str,
    annotations_path: str,
) -> None:
    """The labels and annotations an allocation sets on the server; the request-id annotation
    is the hub's own."""
    check_labels(labels, labels_path)
    for key in annotations:
        path = paths.entry(annotations_path, key)
        if problem := names.qualified_name_problem(key):
            raise invalid(path, problem)
        if key == protocol.ALLOCATION_REQUEST_ANNOTATION:
            raise invalid(path, "is set by the hub (the allocation's request id)")
    if problems := pod_template.annotations_size_problems(dict(annotations), annotations_path):
        raise core_errors.ValidationError(problems)


@contextlib.contextmanager
def outcome_status() -> Iterator[None]:
    """The allocator's refusals as the call's status."""
    try:
        yield
    except allocator.NoFleetError as exc:
        raise AbortError(grpc.StatusCode.NOT_FOUND, str(exc)) from None
    except allocator.ExhaustedError as exc:
        raise AbortError(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)) from None
    except allocator.OutcomeUnknownError as exc:
        raise AbortError(grpc.StatusCode.UNAVAILABLE, str(exc)) from None


class AllocationServicer(allocation_pb2_grpc.AllocationServiceServicer):
    def __init__(self, gate: LeaderGate) -> None:
        self._gate = gate

    async def Allocate(
        self, request: allocation_pb2.AllocateRequest, context: Context
    ) -> allocation_pb2.AllocateResponse:
        federation = self._gate.require()
        wanted = nearest_first(request_of(request), request, federation)
        served = self._gate.allocator
        if served is None:
            raise AbortError(grpc.StatusCode.UNAVAILABLE, "allocations are not served yet")
        with outcome_status():
            server, replayed = await served.allocate(wanted)
        status = json_format.MessageToDict(server.network_status)
        return allocation_pb2.AllocateResponse(
            game_server=server,
            replayed=replayed,
            global_address=allocation.global_address(status),
        )
