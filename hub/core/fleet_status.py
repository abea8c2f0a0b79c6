"""A fleet's status across clusters: placement, what each agent reports, and conditions."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from gamefleet.v1 import agent_pb2, fleet_pb2, gameserver_pb2

from . import conditions, limits
from .desired_sets import MAX_SET_BYTES, set_hash
from .health import Phase
from .placement import Placement

PROGRESSING = "Progressing"
AVAILABLE = "Available"
DEGRADED = "Degraded"
SET_TOO_LARGE = "SetTooLarge"

_COUNT_FIELDS = tuple(f.name for f in gameserver_pb2.GameServerCounts.DESCRIPTOR.fields)


@dataclasses.dataclass(frozen=True)
class ClusterReport:
    """One cluster's view of the fleet: its phase and the set status its agent last sent."""

    phase: Phase
    set_status: agent_pb2.GameServerSetStatus | None


def add_counts(
    total: gameserver_pb2.GameServerCounts, part: gameserver_pb2.GameServerCounts
) -> None:
    """Add ``part`` to ``total``, each count held within int32: counts come from agents."""
    for name in _COUNT_FIELDS:
        setattr(total, name, limits.saturating_sum(getattr(total, name), getattr(part, name)))


def fleet_status(
    fleet: fleet_pb2.Fleet,
    placement: Placement,
    reports: Mapping[str, ClusterReport],
    too_large: Mapping[str, int] | None = None,
) -> fleet_pb2.FleetStatus:
    """The fleet's status; ``too_large`` names the clusters whose set is too large to send
    them, with its size in bytes."""
    generation = fleet.metadata.generation
    status = fleet_pb2.FleetStatus(observed_generation=generation)
    settled = True
    unknown: list[str] = []
    for assignment in placement.assignments:
        report = reports.get(assignment.cluster, ClusterReport(Phase.UNKNOWN, None))
        entry = status.clusters.add(
            cluster=assignment.cluster,
            desired_replicas=assignment.replicas,
            template_hash=assignment.template_hash,
            cluster_phase=report.phase.value,
        )
        status.replicas = limits.saturating_sum(status.replicas, assignment.replicas)
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
    for condition in _conditions(status, placement, settled, unknown, too_large or {}):
        status.conditions.append(condition.to_proto(generation))
    return status


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
    status: fleet_pb2.FleetStatus,
    placement: Placement,
    settled: bool,
    unknown: list[str],
    too_large: Mapping[str, int],
) -> list[conditions.Condition]:
    result = list(placement.conditions)
    if settled:
        result.append(
            conditions.Condition(
                PROGRESSING, conditions.FALSE, "Complete", "every cluster is up to date"
            )
        )
    else:
        result.append(
            conditions.Condition(
                PROGRESSING, conditions.TRUE, "RollingOut", "clusters are applying the fleet"
            )
        )
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
    else:
        result.append(conditions.Condition(DEGRADED, conditions.FALSE, "Healthy", ""))
    return result
