"""The GameServerSets each cluster should hold, and what to send an agent that holds others."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from gamefleet.v1 import agent_pb2, fleet_pb2
from google.protobuf import struct_pb2

from .placement import ClusterAssignment

FLEET_LABEL = "gamefleet.io/fleet"

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


def changes(
    key: SetKey,
    rendered: Mapping[str, agent_pb2.DesiredSet],
    held: Mapping[str, str | None],
    silent: Collection[str] = (),
) -> dict[str, agent_pb2.DesiredSet]:
    """Per cluster, what to send about fleet ``key``: its set when the hash the cluster holds
    differs, or a deletion when it holds one no longer wanted — but nothing to a silent cluster
    about a deletion (nothing is deleted where the hub cannot see)."""
    result: dict[str, agent_pb2.DesiredSet] = {}
    for cluster, current in held.items():
        wanted = rendered.get(cluster)
        if wanted is None:
            if current is not None and cluster not in silent:
                result[cluster] = agent_pb2.DesiredSet(namespace=key[0], name=key[1], deleted=True)
        elif current != wanted.hash:
            result[cluster] = wanted
    return result


DriftMark = tuple[int, tuple[str, ...]]


def drift_to_put_back(
    status: agent_pb2.GameServerSetStatus, last: DriftMark | None
) -> DriftMark | None:
    """The mark to remember when the set must be sent again for the drift its status reports;
    None when there is none, or it was already sent for this drift of this version of the set.
    Drift a forced apply cannot undo (a field the hub does not set) stays reported: resending
    for every status the set reports would cost its cluster a write each time."""
    if not status.drift or status.deleted or status.refused:
        return None
    mark = (status.observed_generation, tuple(status.drift))
    return None if mark == last else mark
