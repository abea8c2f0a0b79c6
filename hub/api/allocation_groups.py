"""AllocateGroup's request: members checked field by field, each as Allocate checks it."""

from __future__ import annotations

import functools
from collections.abc import Callable

import grpc
from gamefleet.v1 import allocation_pb2, gameserver_pb2
from google.protobuf import json_format

from hub.core import allocation, groups, limits, request_fields
from hub.core import errors as core_errors
from hub.federation import allocator, group_allocator
from hub.federation.federation import Federation

from .allocations import AllocationServicer, nearest_first, outcome_status, request_of
from .errors import AbortError, Context, invalid

_SAME = {
    allocation_pb2.SAME_CLUSTER: groups.Same.CLUSTER,
    allocation_pb2.SAME_ZONE: groups.Same.ZONE,
}
# With "/" and a member name of up to 63 characters, a member's request id stays within
# limits.MAX_REQUEST_ID_LENGTH (what an agent may report on a server).
MAX_GROUP_REQUEST_ID_LENGTH = limits.MAX_REQUEST_ID_LENGTH - 64


def group_of(
    message: allocation_pb2.AllocateGroupRequest, federation: Federation
) -> group_allocator.GroupRequest:
    """The group a request asks for; INVALID_ARGUMENT naming the first bad field."""
    request_id = message.request_id
    if not request_id.strip():
        raise invalid("request_id", "is required (the idempotency key)")
    request_fields.bounded(request_id, "request_id", MAX_GROUP_REQUEST_ID_LENGTH)
    if "/" in request_id:
        raise invalid("request_id", "must not contain '/'")
    if message.same not in _SAME:
        raise invalid("same", f"unknown value {message.same}")
    if not message.members:
        raise invalid("members", "is required (1 or more members)")
    request_fields.count(len(message.members), "members", limits.MAX_GROUP_MEMBERS)
    members = []
    seen: set[str] = set()
    for i, member in enumerate(message.members):
        path = f"members[{i}]"
        request_fields.name(member.name, f"{path}.name")
        if member.name in seen:
            raise invalid(f"{path}.name", f"duplicate: {member.name!r} is already a member")
        seen.add(member.name)
        if member.request.request_id:
            raise invalid(f"{path}.request.request_id", "is set by the hub (<request_id>/<name>)")
        namespace = message.members[0].request.namespace
        if i and member.request.namespace != namespace:
            raise invalid(
                f"{path}.request.namespace",
                f"must be {namespace!r}, the first member's (a group is in one namespace)",
            )
        asked = allocation_pb2.AllocateRequest()
        asked.CopyFrom(member.request)
        asked.request_id = request_id
        wanted = _named(f"{path}.request", functools.partial(request_of, asked))
        members.append((member.name, nearest_first(wanted, asked, federation)))
    return group_allocator.GroupRequest(request_id, members, _SAME[message.same])


def _named(path: str, check: Callable[[], allocator.Request]) -> allocator.Request:
    """``check()``, its INVALID_ARGUMENT naming the field under ``path``."""
    try:
        return check()
    except AbortError as exc:
        if exc.code is not grpc.StatusCode.INVALID_ARGUMENT:
            raise
        raise AbortError(exc.code, f"{path}.{exc.details}") from None
    except core_errors.ValidationError as exc:
        raise AbortError(grpc.StatusCode.INVALID_ARGUMENT, f"{path}.{exc}") from None


def answer(
    group: group_allocator.GroupRequest,
    servers: list[gameserver_pb2.GameServer],
    replayed: bool,
) -> allocation_pb2.AllocateGroupResponse:
    response = allocation_pb2.AllocateGroupResponse(replayed=replayed)
    for (name, _), server in zip(group.members, servers, strict=True):
        status = json_format.MessageToDict(server.network_status)
        response.members.add(
            name=name,
            allocation=allocation_pb2.AllocateResponse(
                game_server=server,
                replayed=replayed,
                global_address=allocation.global_address(status),
            ),
        )
    return response


class GroupAllocationServicer(AllocationServicer):
    """AllocationService: Allocate (a server) and AllocateGroup (servers for one match)."""

    async def AllocateGroup(
        self, request: allocation_pb2.AllocateGroupRequest, context: Context
    ) -> allocation_pb2.AllocateGroupResponse:
        group = group_of(request, self._gate.require())
        served = self._gate.groups
        if served is None:
            raise AbortError(grpc.StatusCode.UNAVAILABLE, "allocations are not served yet")
        with outcome_status():
            servers, replayed = await served.allocate(group)
        return answer(group, servers, replayed)
