"""Store keys and value encoding for the registries."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf import message

FLEETS_PREFIX = "fleets/"
CLUSTERS_PREFIX = "clusters/"
ASSIGNMENTS_PREFIX = "assignments/"
ALLOCATIONS_PREFIX = "allocations/"
ALLOCATION_GROUPS_PREFIX = "allocationgroups/"
FLEET_AUTOSCALERS_PREFIX = "fleetautoscalers/"
FLEET_REVISIONS_PREFIX = "fleetrevisions/"

MessageT = TypeVar("MessageT", bound=message.Message)


def fleet_key(namespace: str, name: str) -> str:
    return f"{FLEETS_PREFIX}{namespace}/{name}"


def fleet_prefix(namespace: str) -> str:
    return f"{FLEETS_PREFIX}{namespace}/" if namespace else FLEETS_PREFIX


def fleet_revisions_key(namespace: str, name: str) -> str:
    return f"{FLEET_REVISIONS_PREFIX}{namespace}/{name}"


def cluster_key(name: str) -> str:
    return f"{CLUSTERS_PREFIX}{name}"


def assignment_key(namespace: str, name: str) -> str:
    return f"{ASSIGNMENTS_PREFIX}{namespace}/{name}"


def allocation_key(namespace: str, fleet: str, request_id: str) -> str:
    return f"{ALLOCATIONS_PREFIX}{namespace}/{fleet}/{request_id}"


def allocation_group_key(namespace: str, request_id: str) -> str:
    return f"{ALLOCATION_GROUPS_PREFIX}{namespace}/{request_id}"


def fleet_autoscaler_key(namespace: str, name: str) -> str:
    return f"{FLEET_AUTOSCALERS_PREFIX}{namespace}/{name}"


def fleet_autoscaler_prefix(namespace: str) -> str:
    return f"{FLEET_AUTOSCALERS_PREFIX}{namespace}/" if namespace else FLEET_AUTOSCALERS_PREFIX


def encode(msg: message.Message) -> bytes:
    return msg.SerializeToString(deterministic=True)


def decode(data: bytes, message_type: type[MessageT]) -> MessageT:
    msg = message_type()
    msg.ParseFromString(data)
    return msg
