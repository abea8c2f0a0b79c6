"""The Events section of `describe`: the hub's recent events of one object."""

from __future__ import annotations

import datetime
import sys

import grpc
from gamefleet.v1 import event_pb2, event_pb2_grpc

from . import output


def _age(event: event_pb2.Event, now: datetime.datetime) -> str:
    last = output.age(event.last_time, now)
    if event.count <= 1:
        return last
    return f"{last} (x{event.count} over {output.age(event.first_time, now)})"


def print_events(channel: grpc.Channel, kind: str, namespace: str, name: str) -> None:
    stub = event_pb2_grpc.EventServiceStub(channel)
    found = stub.ListEvents(event_pb2.ListEventsRequest(kind=kind, namespace=namespace, name=name))
    now = datetime.datetime.now(datetime.UTC)
    rows = [
        [event.type, event.reason, _age(event, now), event.source, event.message]
        for event in found.events
    ]
    output.print_section("Events", ["Type", "Reason", "Age", "From", "Message"], rows)
    sys.stdout.flush()
