"""A fleet's status from its placement and what each cluster's agent reports."""

from __future__ import annotations

from gamefleet.v1 import agent_pb2, fleet_pb2

from hub.core.allocation import UpdatingSince
from hub.core.desired_sets import set_hash
from hub.core.fleet_status import ClusterReport, fleet_status, problem, stalled_update
from hub.core.health import Phase
from hub.core.placement import ClusterAssignment, Placement

from .test_assignment import fleet


def placement(**replicas: int) -> Placement:
    return Placement(
        assignments=tuple(
            ClusterAssignment(name, count, {}, "h" * 64) for name, count in replicas.items()
        ),
        unplaced=0,
        conditions=(),
    )


def reported(
    replicas: int, ready: int, allocated: int = 0, updated: int | None = None
) -> agent_pb2.GameServerSetStatus:
    status = agent_pb2.GameServerSetStatus(
        applied_version=1, applied_hash=set_hash("h" * 64, replicas), desired_replicas=replicas
    )
    status.counts.replicas = replicas
    status.counts.ready = ready
    status.counts.allocated = allocated
    status.counts.updated = replicas if updated is None else updated
    return status


def conditions(status: fleet_pb2.FleetStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_totals_and_conditions_of_a_settled_fleet() -> None:
    status = fleet_status(
        fleet(),
        placement(eu=6, us=3),
        {
            "eu": ClusterReport(Phase.READY, reported(6, 6, allocated=2)),
            "us": ClusterReport(Phase.READY, reported(3, 3)),
        },
    )
    assert (status.replicas, status.counts.ready, status.counts.allocated) == (9, 9, 2)
    assert [c.cluster_phase for c in status.clusters] == ["Ready", "Ready"]
    assert conditions(status) == {
        "Progressing": ("False", "Complete"),
        "Available": ("True", "ReadyReplicas"),
        "Degraded": ("False", "Healthy"),
    }


def test_a_cluster_still_updating_keeps_the_fleet_progressing() -> None:
    status = fleet_status(
        fleet(),
        placement(eu=6, us=3),
        {
            "eu": ClusterReport(Phase.READY, reported(6, 6, updated=4)),
            "us": ClusterReport(Phase.READY, reported(3, 3)),
        },
    )
    assert conditions(status)["Progressing"] == ("True", "RollingOut")


def test_a_silent_cluster_degrades_the_fleet_and_unready_servers_make_it_unavailable() -> None:
    status = fleet_status(
        fleet(),
        placement(eu=6, us=3),
        {
            "eu": ClusterReport(Phase.READY, reported(6, 5)),
            "us": ClusterReport(Phase.UNKNOWN, None),
        },
    )
    assert conditions(status)["Degraded"] == ("True", "ClusterUnknown")
    assert conditions(status)["Available"] == ("False", "ReadyReplicas")
    assert conditions(status)["Progressing"][0] == "True"


def test_cluster_conditions_name_the_cluster_and_the_problem_column_picks_the_telling_one() -> None:
    drifted = reported(6, 6)
    drifted.drift.append("spec.replicas by kubectl (scale)")
    # The hub's spec for 3 applied; the autoscaler set 5 and 5 run.
    owned = reported(3, 5)
    owned.desired_replicas = owned.counts.replicas = owned.counts.updated = 5
    owned.replicas_owner = "HorizontalPodAutoscaler"
    status = fleet_status(
        fleet(),
        placement(eu=6, us=3),
        {
            "eu": ClusterReport(Phase.READY, drifted),
            "us": ClusterReport(Phase.READY, owned),
            "ap": ClusterReport(Phase.READY, None, serves_only=("demo",)),
        },
    )
    by_type = {c.type: (c.status, c.reason, c.message) for c in status.conditions}
    assert by_type["NamespaceServed"] == (
        "False",
        "NamespaceNotServed",
        "namespace games is not served on ap (its agent serves demo); no replicas are placed there",
    )
    assert by_type["Drifted"][2] == (
        "eu: spec.replicas by kubectl (scale); the hub is applying its spec again"
    )
    assert by_type["ReplicasOwnedLocally"][2] == (
        "us: HorizontalPodAutoscaler sets replicas (5; the hub placed 3)"
    )
    # us runs the 5 its autoscaler asks for: settled, not rolling out.
    assert by_type["Progressing"][:2] == ("False", "Complete")
    problem = fleet_status_problem(status)
    assert problem == "NamespaceNotServed"


def test_a_deleting_fleet_says_what_it_waits_for() -> None:
    left = reported(2, 2, allocated=2)
    status = fleet_status(
        fleet(),
        placement(),
        {"eu": ClusterReport(Phase.READY, left), "us": ClusterReport(Phase.READY, None)},
        waiting={"eu": "2 Allocated servers"},
    )
    assert [(c.cluster, c.counts.allocated) for c in status.clusters] == [("eu", 2)]
    assert conditions(status) == {"Terminating": ("True", "WaitingForClusters")}
    assert status.conditions[0].message == "waiting for eu (2 Allocated servers)"


def fleet_status_problem(status: fleet_pb2.FleetStatus) -> str:
    found = problem(fleet_pb2.Fleet(status=status))
    return found.reason if found is not None else ""


def test_counts_near_int32_max_saturate_instead_of_overflowing() -> None:
    huge = 2**31 - 10
    status = fleet_status(
        fleet(),
        placement(eu=6, us=3),
        {
            "eu": ClusterReport(Phase.READY, reported(6, huge, allocated=huge)),
            "us": ClusterReport(Phase.READY, reported(3, huge, allocated=huge)),
        },
    )
    assert (status.counts.ready, status.counts.allocated) == (2**31 - 1, 2**31 - 1)
    status.SerializeToString()


def test_a_set_too_large_to_send_degrades_the_fleet_naming_the_cluster() -> None:
    status = fleet_status(
        fleet(),
        placement(eu=6, us=3),
        {"eu": ClusterReport(Phase.READY, reported(6, 6)), "us": ClusterReport(Phase.READY, None)},
        too_large={"us": 5_000_000},
    )
    degraded = next(c for c in status.conditions if c.type == "Degraded")
    assert (degraded.status, degraded.reason) == ("True", "SetTooLarge")
    assert "us (5,000,000 bytes)" in degraded.message


def test_servers_still_updating_keep_the_fleet_progressing_and_a_stalled_one_degrades_it() -> None:
    """The set counts every server updated (its pod runs the new revision) while one has not
    restarted on its new image yet."""
    reports = {
        "eu": ClusterReport(Phase.READY, reported(6, 6), updating=2),
        "us": ClusterReport(Phase.READY, reported(3, 3)),
    }
    status = fleet_status(fleet(), placement(eu=6, us=3), reports)
    assert conditions(status)["Progressing"] == ("True", "RollingOut")
    assert status.conditions[0].message.endswith("; 2 servers Updating (eu: 2)")
    assert conditions(status)["Degraded"] == ("False", "Healthy")

    longest = UpdatingSince("eu", "arena-4", since=1000.0)
    assert stalled_update(longest, now=1300.0, deadline=300.0) is None
    stalled = stalled_update(longest, now=1372.0, deadline=300.0)
    status = fleet_status(fleet(), placement(eu=6, us=3), reports, stalled=stalled)
    assert conditions(status)["Progressing"] == ("False", "ProgressDeadlineExceeded")
    assert conditions(status)["Degraded"] == ("True", "UpdateStalled")
    assert status.conditions[-1].message == (
        "eu/arena-4 has been Updating for 6m12s (deadline 5m00s): its new image is not running"
    )


def test_allocatable_sums_every_cluster_the_fleet_has_servers_on() -> None:
    status = fleet_status(
        fleet(),
        placement(eu=6),
        {
            "eu": ClusterReport(Phase.READY, reported(6, 6), allocatable=4),
            "us": ClusterReport(Phase.READY, None, allocatable=2),  # draining
        },
    )
    assert status.allocatable == 6
    assert [(c.cluster, c.allocatable) for c in status.clusters] == [("eu", 4)]
