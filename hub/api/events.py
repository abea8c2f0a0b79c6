"""EventService: what the hub recorded happening to fleets, clusters and game servers."""

from __future__ import annotations

from gamefleet.v1 import event_pb2, event_pb2_grpc
from google.protobuf import timestamp_pb2

from hub.federation.events import Event

from .errors import Context, invalid
from .leadership import LeaderGate

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def _stamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def to_proto(event: Event) -> event_pb2.Event:
    return event_pb2.Event(
        involved_object=event_pb2.ObjectReference(
            kind=event.involved.kind,
            namespace=event.involved.namespace,
            name=event.involved.name,
        ),
        type=event.type,
        reason=event.reason,
        message=event.message,
        source=event.source,
        count=event.count,
        first_time=_stamp(event.first_time),
        last_time=_stamp(event.last_time),
    )


class EventServicer(event_pb2_grpc.EventServiceServicer):
    def __init__(self, gate: LeaderGate) -> None:
        self._gate = gate

    async def ListEvents(
        self, request: event_pb2.ListEventsRequest, context: Context
    ) -> event_pb2.ListEventsResponse:
        federation = self._gate.require()
        if not 0 <= request.limit <= MAX_LIMIT:
            raise invalid("limit", f"must be between 0 and {MAX_LIMIT}")
        found = federation.events.events(
            request.kind, request.namespace, request.name, request.limit or DEFAULT_LIMIT
        )
        return event_pb2.ListEventsResponse(events=[to_proto(event) for event in found])
