"""A fleet's status across clusters: placement, what each agent reports, and conditions.

Besides Placed, Progressing, Available and Degraded, a fleet carries a condition only while it
applies: NamespaceServed (False: some selected cluster's agent does not serve the fleet's
namespace), Drifted (True: a cluster's set was changed there, and the hub is putting it back),
ReplicasOwnedLocally (True: an autoscaler in a cluster sets that set's replicas) and Terminating
(True: the fleet is being deleted, and what it waits for).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from gamefleet.v1 import agent_pb2, fleet_pb2, gameserver_pb2, meta_pb2

from . import agent_limits, conditions
from .allocation import UpdatingSince
from .desired_sets import MAX_SET_BYTES, set_hash
from .health import Phase
from .placement import Placement

PROGRESSING = "Progressing"
AVAILABLE = "Available"
DEGRADED = "Degraded"
NAMESPACE_SERVED = "NamespaceServed"
DRIFTED = "Drifted"
REPLICAS_OWNED_LOCALLY = "ReplicasOwnedLocally"
TERMINATING = "Terminating"
# The conditions that report a problem, most telling first, with the status that does: for
# the others Progressing and ReplicasOwnedLocally describe, they do not alarm.
_PROBLEMS = (
    (TERMINATING, conditions.TRUE),
    (NAMESPACE_SERVED, conditions.FALSE),
    (DRIFTED, conditions.TRUE),
    (DEGRADED, conditions.TRUE),
    ("Placed", conditions.FALSE),
    (AVAILABLE, conditions.FALSE),
)
SET_TOO_LARGE = "SetTooLarge"

_COUNT_FIELDS = tuple(f.name for f in gameserver_pb2.GameServerCounts.DESCRIPTOR.fields)


@dataclasses.dataclass(frozen=True)
class ClusterReport:
    """One cluster's view of the fleet: its phase, the set status its agent last sent, and from
    the servers it reported: how many may be allocated now (0 unless the cluster is Ready,
    uncordoned and connected) and how many are Updating."""

    phase: Phase
    set_status: agent_pb2.GameServerSetStatus | None
    # Set when the cluster matches the fleet's selector but its agent does not serve the fleet's
    # namespace: the namespaces it serves.
    serves_only: tuple[str, ...] = ()
    allocatable: int = 0
    updating: int = 0


def condition_of(fleet: fleet_pb2.Fleet, kind: str) -> meta_pb2.Condition | None:
    """The fleet's status condition of type ``kind``, if it has one."""
    return next((c for c in fleet.status.conditions if c.type == kind), None)


def problem(fleet: fleet_pb2.Fleet) -> meta_pb2.Condition | None:
    """The condition of the fleet's status that tells its problem best, if it has one.
    Fewer servers available than wanted is a problem only once the fleet is not rolling out."""
    progressing = condition_of(fleet, "Progressing")
    rolling_out = progressing is not None and progressing.status == conditions.TRUE
    for kind, alarming in _PROBLEMS:
        if kind == AVAILABLE and rolling_out:
            continue
        condition = condition_of(fleet, kind)
        if condition is not None and condition.status == alarming:
            return condition
    return None


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
    """Add ``part`` to ``total``, each count held within int32: counts come from agents."""
    for name in _COUNT_FIELDS:
        setattr(total, name, agent_limits.saturating_sum(getattr(total, name), getattr(part, name)))


def fleet_status(
    fleet: fleet_pb2.Fleet,
    placement: Placement,
    reports: Mapping[str, ClusterReport],
    waiting: Mapping[str, str] | None = None,
    too_large: Mapping[str, int] | None = None,
    stalled: StalledUpdate | None = None,
) -> fleet_pb2.FleetStatus:
    """The status of a fleet; of a deleting one when ``waiting`` (cluster → what is left
    there) is given. ``too_large`` names the clusters whose set is too large to send them,
    with its size in bytes."""
    generation = fleet.metadata.generation
    if waiting is not None:
        return _deleting_status(generation, reports, waiting)
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
        status.replicas = agent_limits.saturating_sum(status.replicas, assignment.replicas)
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
    for condition in _conditions(status, placement, progress, unknown, too_large or {}):
        status.conditions.append(condition.to_proto(generation))
    for condition in _cluster_conditions(placement, reports, fleet.metadata.namespace):
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
    # A local owner of replicas (an autoscaler) decides the count; the spec is still the hub's.
    running = reported.desired_replicas if reported.replicas_owner else desired
    return (
        reported.applied_hash == set_hash(template_hash, desired)
        and counts.replicas == running
        and counts.updated == running
    )


def _cluster_conditions(
    placement: Placement, reports: Mapping[str, ClusterReport], namespace: str
) -> list[conditions.Condition]:
    """The conditions about single clusters: unserved namespace, drift, local replica owners."""
    placed = placement.replicas_by_cluster()
    unserved, drifted, owned = [], [], []
    for cluster, report in sorted(reports.items()):
        reported = report.set_status
        if report.serves_only:
            unserved.append(f"{cluster} (its agent serves {', '.join(report.serves_only)})")
        elif reported is not None and reported.refused:
            unserved.append(f"{cluster} (its agent refused the set: {reported.refused})")
        if reported is None or reported.deleted or cluster not in placed:
            continue
        if reported.drift:
            drifted.append(f"{cluster}: {'; '.join(reported.drift)}")
        if reported.replicas_owner:
            owned.append(
                f"{cluster}: {reported.replicas_owner} sets replicas "
                f"({reported.desired_replicas}; the hub placed {placed[cluster]})"
            )
    result = []
    if unserved:
        result.append(
            conditions.Condition(
                NAMESPACE_SERVED,
                conditions.FALSE,
                "NamespaceNotServed",
                f"namespace {namespace} is not served on {', '.join(unserved)}; "
                "no replicas are placed there",
            )
        )
    if drifted:
        result.append(
            conditions.Condition(
                DRIFTED,
                conditions.TRUE,
                "ChangedInCluster",
                f"{' | '.join(drifted)}; the hub is applying its spec again",
            )
        )
    if owned:
        result.append(
            conditions.Condition(
                REPLICAS_OWNED_LOCALLY, conditions.TRUE, "LocalAutoscaler", " | ".join(owned)
            )
        )
    return result


def _deleting_status(
    generation: int, reports: Mapping[str, ClusterReport], waiting: Mapping[str, str]
) -> fleet_pb2.FleetStatus:
    """A deleting fleet: what each cluster still runs, and what the deletion waits for."""
    status = fleet_pb2.FleetStatus(observed_generation=generation)
    for cluster, report in sorted(reports.items()):
        reported = report.set_status
        if reported is None or reported.deleted or reported.refused:
            continue
        entry = status.clusters.add(cluster=cluster, cluster_phase=report.phase.value)
        entry.observed_generation = reported.applied_version
        entry.counts.CopyFrom(reported.counts)
        add_counts(status.counts, reported.counts)
    if waiting:
        left = ", ".join(f"{cluster} ({what})" for cluster, what in sorted(waiting.items()))
        condition = conditions.Condition(
            TERMINATING, conditions.TRUE, "WaitingForClusters", f"waiting for {left}"
        )
    else:
        condition = conditions.Condition(
            TERMINATING, conditions.TRUE, "SetsRemoved", "every cluster's set is gone"
        )
    status.conditions.append(condition.to_proto(generation))
    return status


def _conditions(
    status: fleet_pb2.FleetStatus,
    placement: Placement,
    progress: _Progress,
    unknown: list[str],
    too_large: Mapping[str, int],
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
    if too_large:
        sizes = ", ".join(f"{name} ({size:,} bytes)" for name, size in sorted(too_large.items()))
        result.append(
            conditions.Condition(
                DEGRADED,
                conditions.TRUE,
                SET_TOO_LARGE,
                f"not sent, over the {MAX_SET_BYTES:,} bytes an agent receives: "
                f"the set for {sizes}",
            )
        )
    elif unknown:
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
