"""The GameServerSets each cluster should hold, and what to send an agent that holds others."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from gamefleet.v1 import agent_pb2, fleet_pb2
from google.protobuf import struct_pb2

from .placement import ClusterAssignment

FLEET_LABEL = "gamefleet.dev/fleet"

SetKey = tuple[str, str]


def set_hash(template_hash: str, replicas: int) -> str:
    """Identifies a rendered set, replicas included: equal hashes need no write."""
    return f"{template_hash[:32]}-{replicas}"


def desired_set(fleet: fleet_pb2.Fleet, assignment: ClusterAssignment) -> agent_pb2.DesiredSet:
    spec = struct_pb2.Struct()
    spec.update({**assignment.spec, "replicas": assignment.replicas})
    return agent_pb2.DesiredSet(
        namespace=fleet.metadata.namespace,
        name=fleet.metadata.name,
        version=fleet.metadata.generation,
        hash=set_hash(assignment.template_hash, assignment.replicas),
        spec=spec,
        labels={FLEET_LABEL: fleet.metadata.name},
    )


@dataclasses.dataclass(frozen=True)
class SetChanges:
    send: tuple[agent_pb2.DesiredSet, ...]
    delete: tuple[SetKey, ...]

    def __bool__(self) -> bool:
        return bool(self.send or self.delete)


def changes(
    desired: Mapping[SetKey, agent_pb2.DesiredSet], held: Mapping[SetKey, str]
) -> SetChanges:
    """Sets whose hash differs from what the agent holds, and held sets no longer desired."""
    send = tuple(desired[key] for key in sorted(desired) if held.get(key) != desired[key].hash)
    delete = tuple(key for key in sorted(held) if key not in desired)
    return SetChanges(send, delete)
