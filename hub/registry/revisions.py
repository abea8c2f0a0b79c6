"""The revision history of a fleet's template: the last few templates it ran."""

from __future__ import annotations

from typing import Final

from gamefleet.v1 import fleet_pb2

from . import codec

KEPT: Final = 10


def appended(stored: bytes | None, record: fleet_pb2.Fleet) -> fleet_pb2.FleetRevisionHistory:
    """The history ``stored`` (None: none yet) with ``record``'s template added last, keeping
    the newest ``KEPT``."""
    history = (
        codec.decode(stored, fleet_pb2.FleetRevisionHistory)
        if stored is not None
        else fleet_pb2.FleetRevisionHistory()
    )
    entry = history.revisions.add(generation=record.metadata.generation)
    entry.template.CopyFrom(record.spec.template)
    entry.time.CopyFrom(record.metadata.update_time)
    del history.revisions[: max(0, len(history.revisions) - KEPT)]
    return history


def previous(
    history: fleet_pb2.FleetRevisionHistory, current: fleet_pb2.Fleet
) -> fleet_pb2.FleetRevision | None:
    """The newest revision whose template differs from the fleet's current one."""
    for revision in reversed(history.revisions):
        if revision.template != current.spec.template:
            return revision
    return None
