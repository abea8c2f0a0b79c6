"""Allocation near the players: the clusters of the measured-fastest region first, then the
players' region, after the request's own preferred clusters; the global address of the answer."""

from __future__ import annotations

from hub.core import allocation

REGIONS = {"use-1": "us-east-1", "use-2": "us-east-1", "euw-1": "eu-west-1", "aps-1": "ap-south-1",
           "bare": ""}  # fmt: skip


def test_the_players_region_first() -> None:
    assert allocation.nearest_clusters(REGIONS, "eu-west-1") == ["euw-1"]
    assert allocation.nearest_clusters(REGIONS, "us-east-1") == ["use-1", "use-2"]
    assert allocation.nearest_clusters(REGIONS, "mars-1") == []
    assert allocation.nearest_clusters(REGIONS) == []


def test_measured_latency_ranks_before_the_named_region() -> None:
    latency = {"ap-south-1": 140.0, "eu-west-1": 22.5, "sa-east-1": 3.0}
    assert allocation.nearest_clusters(REGIONS, "us-east-1", latency) == [
        "euw-1", "aps-1", "use-1", "use-2",
    ]  # fmt: skip


def test_the_callers_preferred_clusters_stay_first() -> None:
    assert allocation.with_nearest(["aps-1"], ["euw-1", "aps-1", "use-1"]) == [
        "aps-1", "euw-1", "use-1",
    ]  # fmt: skip


def test_region_from_cluster_labels() -> None:
    assert allocation.cluster_region({"region": "eu-west-1", "cloud": "aws"}) == "eu-west-1"
    assert allocation.cluster_region({"topology.kubernetes.io/region": "us-central1"}) == (
        "us-central1"
    )
    assert allocation.cluster_region({}) == ""


def test_nearest_preference_orders_the_choice() -> None:
    servers = [allocation.Server(cluster, f"{cluster}-gs") for cluster in REGIONS]
    preferred = allocation.with_nearest([], allocation.nearest_clusters(REGIONS, "eu-west-1"))
    chosen = allocation.choose(servers, REGIONS, preferred=preferred)
    assert chosen[0].cluster == "euw-1"
    pool = allocation.Pool()
    for server in servers:
        pool.put(server)
    best = pool.best(REGIONS, preferred=preferred)
    assert best is not None and best.cluster == "euw-1"


def test_the_global_address_of_the_answer() -> None:
    status = {
        "externalAddresses": [{"ip": "", "endPoint": "nlb.example", "ports": [{"port": 30003.0}]}],
        "globalAddresses": [
            {"ip": "75.2.0.1", "endPoint": "a1.awsglobalaccelerator.com",
             "ports": [{"name": "7777", "protocol": "UDP", "port": 30003.0}]}
        ],
    }  # fmt: skip
    assert allocation.global_address(status) == "75.2.0.1:30003"
    by_name = {"globalAddresses": [{"ip": "", "endPoint": "a1.example", "ports": [{"port": 7}]}]}
    assert allocation.global_address(by_name) == "a1.example:7"
    assert allocation.global_address({"globalAddresses": []}) == ""
    assert allocation.global_address({}) == ""
    assert allocation.global_address({"globalAddresses": [{"ip": "1.2.3.4", "ports": []}]}) == ""
