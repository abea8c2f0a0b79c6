"""The GameServerSets each cluster should hold, and what to send an agent that holds others."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence

from gamefleet.v1 import agent_pb2, fleet_pb2
from google.protobuf import struct_pb2

from . import limits, paging
from .placement import ClusterAssignment

FLEET_LABEL = "gamefleet.io/fleet"

# What one set adds to a message besides its own bytes (its tag and length), and the bytes of
# a HubMessage besides its sets: every message of desired sets fits what an agent receives.
_SET_FRAMING = 6
_MESSAGE_FRAMING = 16
MESSAGE_BYTES = limits.AGENT_RECEIVE_BYTES - _MESSAGE_FRAMING
# The largest set that can be sent at all (alone in its message).
MAX_SET_BYTES = MESSAGE_BYTES - _SET_FRAMING

SetKey = tuple[str, str]


def set_hash(template_hash: str, replicas: int) -> str:
    """Identifies a rendered set, replicas included: equal hashes need no write."""
    return f"{template_hash[:32]}-{replicas}"


def desired_set(fleet: fleet_pb2.Fleet, assignment: ClusterAssignment) -> agent_pb2.DesiredSet:
    spec = {**assignment.spec, "replicas": assignment.replicas}
    return agent_pb2.DesiredSet(
        namespace=fleet.metadata.namespace,
        name=fleet.metadata.name,
        version=fleet.metadata.generation,
        hash=set_hash(assignment.template_hash, assignment.replicas),
        spec_json=json.dumps(spec, separators=(",", ":"), ensure_ascii=False).encode(),
        labels={FLEET_LABEL: fleet.metadata.name},
    )


def for_agent(entry: agent_pb2.DesiredSet, reads_spec_json: bool) -> agent_pb2.DesiredSet:
    """``entry`` as the agent reads it: its spec as JSON, or as a Struct for an agent whose
    hello did not say it reads JSON (an agent of an earlier release)."""
    if reads_spec_json or not entry.spec_json:
        return entry
    spec = struct_pb2.Struct()
    spec.update(json.loads(entry.spec_json))
    converted = agent_pb2.DesiredSet()
    converted.CopyFrom(entry)
    converted.ClearField("spec_json")
    converted.spec.CopyFrom(spec)
    return converted


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


def in_messages(
    sets: Sequence[agent_pb2.DesiredSet], budget: int = MESSAGE_BYTES
) -> list[agent_pb2.DesiredSets]:
    """``sets`` in order, in as few messages as fit ``budget`` bytes each (a set larger than
    the budget alone in its own: callers keep those back, see MAX_SET_BYTES). ``complete`` is
    left false: each message is only part of what changed."""
    sizes = [entry.ByteSize() + _SET_FRAMING for entry in sets]
    messages = []
    start = 0
    while start < len(sets):
        count = paging.fitting(sizes[start:], budget)
        messages.append(agent_pb2.DesiredSets(sets=sets[start : start + count]))
        start += count
    return messages
