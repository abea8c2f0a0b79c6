"""What a deleting fleet still waits for, cluster by cluster."""

from __future__ import annotations

from gamefleet.v1 import agent_pb2

from hub.core.deletion import ClusterCopy, waiting_for


def copy_of(cluster: str, replicas: int, allocated: int = 0) -> ClusterCopy:
    reported = agent_pb2.GameServerSetStatus(namespace="games", name="arena")
    reported.counts.replicas, reported.counts.allocated = replicas, allocated
    return ClusterCopy(cluster, connected=True, holds=True, set_status=reported)


def test_allocated_servers_leaving_servers_and_silent_clusters_are_waited_for() -> None:
    assert waiting_for(
        [
            copy_of("eu", 3, allocated=1),
            copy_of("us", 2),
            copy_of("ap", 0),
            ClusterCopy("sa", connected=False, holds=True),
            ClusterCopy("af", connected=True, holds=True),
        ]
    ) == {
        "eu": "1 Allocated server",
        "us": "2 servers leaving",
        "ap": "set not removed yet",
        "sa": "not connected",
        "af": "set not removed yet",
    }


def test_nothing_is_waited_for_where_no_set_is_held() -> None:
    assert waiting_for([ClusterCopy("eu", True, False), ClusterCopy("us", False, False)]) == {}
