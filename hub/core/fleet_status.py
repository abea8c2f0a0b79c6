"""A fleet's status across clusters: placement, what each agent reports, and conditions."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from gamefleet.v1 import agent_pb2, fleet_pb2, gameserver_pb2

from . import conditions
from .allocation import UpdatingSince
from .desired_sets import set_hash
from .health import Phase
from .placement import Placement

PROGRESSING = "Progressing"
AVAILABLE = "Available"
DEGRADED = "Degraded"

_COUNT_FIELDS = tuple(f.name for f in gameserver_pb2.GameServerCounts.DESCRIPTOR.fields)


@dataclasses.dataclass(frozen=True)
class ClusterReport:
    """One cluster's view of the fleet: its phase, the set status its agent last sent, and from
    the servers it reported: how many may be allocated now (0 unless the cluster is Ready,
    uncordoned and connected) and how many are Updating."""

    phase: Phase
    set_status: agent_pb2.GameServerSetStatus | None
    allocatable: int = 0
    updating: int = 0


@dataclasses.dataclass(frozen=True)
class StalledUpdate:
    """A server Updating for longer than the update deadline: its new image does not run."""

    server: UpdatingSince
    seconds: float
    deadline: float

    @property
    def message(self) -> str:
        return (
            f"{self.server.cluster}/{self.server.name} has been Updating for "
            f"{_duration(self.seconds)} (deadline {_duration(self.deadline)}): "
            "its new image is not running"
        )


def stalled_update(
    longest: UpdatingSince | None, now: float, deadline: float
) -> StalledUpdate | None:
    """The fleet's longest-Updating server, when it has been Updating past ``deadline``."""
    if longest is None or now - longest.since <= deadline:
        return None
    return StalledUpdate(longest, now - longest.since, deadline)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def add_counts(
    total: gameserver_pb2.GameServerCounts, part: gameserver_pb2.GameServerCounts
) -> None:
    for name in _COUNT_FIELDS:
        setattr(total, name, getattr(total, name) + getattr(part, name))


def fleet_status(
    fleet: fleet_pb2.Fleet,
    placement: Placement,
    reports: Mapping[str, ClusterReport],
    stalled: StalledUpdate | None = None,
) -> fleet_pb2.FleetStatus:
    generation = fleet.metadata.generation
    status = fleet_pb2.FleetStatus(observed_generation=generation)
    settled = True
    unknown: list[str] = []
    updating: dict[str, int] = {}
    for assignment in placement.assignments:
        report = reports.get(assignment.cluster, ClusterReport(Phase.UNKNOWN, None))
        entry = status.clusters.add(
            cluster=assignment.cluster,
            desired_replicas=assignment.replicas,
            template_hash=assignment.template_hash,
            cluster_phase=report.phase.value,
            allocatable=report.allocatable,
        )
        status.replicas += assignment.replicas
        if report.updating:
            updating[assignment.cluster] = report.updating
            settled = False
        if report.phase is Phase.UNKNOWN:
            unknown.append(assignment.cluster)
        reported = report.set_status
        if reported is None or reported.deleted:
            settled = settled and assignment.replicas == 0
            continue
        entry.observed_generation = reported.applied_version
        entry.counts.CopyFrom(reported.counts)
        add_counts(status.counts, reported.counts)
        settled = settled and _cluster_settled(
            assignment.replicas, assignment.template_hash, reported
        )
    # Allocation picks from every Ready cluster, also one the fleet is leaving.
    status.allocatable = sum(report.allocatable for report in reports.values())
    progress = _Progress(settled, updating, stalled)
    for condition in _conditions(status, placement, progress, unknown):
        status.conditions.append(condition.to_proto(generation))
    return status


@dataclasses.dataclass(frozen=True)
class _Progress:
    """Whether every cluster is up to date, which servers are still Updating, and whether one
    of them has been for too long."""

    settled: bool
    updating: Mapping[str, int]
    stalled: StalledUpdate | None

    def condition(self) -> conditions.Condition:
        if self.settled:
            return conditions.Condition(
                PROGRESSING, conditions.FALSE, "Complete", "every cluster is up to date"
            )
        if self.stalled is not None:
            return conditions.Condition(
                PROGRESSING, conditions.FALSE, "ProgressDeadlineExceeded", self.stalled.message
            )
        message = "clusters are applying the fleet"
        if self.updating:
            total = sum(self.updating.values())
            where = ", ".join(f"{c}: {n}" for c, n in sorted(self.updating.items()))
            noun = "server" if total == 1 else "servers"
            message += f"; {total} {noun} Updating ({where})"
        return conditions.Condition(PROGRESSING, conditions.TRUE, "RollingOut", message)


def _cluster_settled(
    desired: int, template_hash: str, reported: agent_pb2.GameServerSetStatus
) -> bool:
    counts = reported.counts
    return (
        reported.applied_hash == set_hash(template_hash, desired)
        and counts.replicas == desired
        and counts.updated == desired
    )


def _conditions(
    status: fleet_pb2.FleetStatus, placement: Placement, progress: _Progress, unknown: list[str]
) -> list[conditions.Condition]:
    result = list(placement.conditions)
    result.append(progress.condition())
    ready, wanted = status.counts.ready, status.replicas
    available = conditions.TRUE if wanted and ready >= wanted else conditions.FALSE
    if not wanted:
        available = conditions.TRUE
    result.append(
        conditions.Condition(AVAILABLE, available, "ReadyReplicas", f"{ready} of {wanted} ready")
    )
    if unknown:
        result.append(
            conditions.Condition(
                DEGRADED, conditions.TRUE, "ClusterUnknown", f"silent: {', '.join(unknown)}"
            )
        )
    elif placement.unplaced:
        result.append(
            conditions.Condition(
                DEGRADED, conditions.TRUE, "Unplaced", f"{placement.unplaced} replicas unplaced"
            )
        )
    elif progress.stalled is not None:
        result.append(
            conditions.Condition(
                DEGRADED, conditions.TRUE, "UpdateStalled", progress.stalled.message
            )
        )
    else:
        result.append(conditions.Condition(DEGRADED, conditions.FALSE, "Healthy", ""))
    return result
