"""Buffer policies and totals over clusters, state in and state out."""

from __future__ import annotations

import pytest

from hub.core.autoscaling.demand import recommend_buffer, recommend_total
from hub.core.health import Phase

from .scenarios import buffer, cluster, snapshot


@pytest.mark.parametrize(
    ("size", "allocated", "total"),
    [
        (5, 0, 5),
        (5, 12, 17),
        ("20%", 8, 10),  # 8 allocated must be 80% of the total
        ("20%", 9, 12),  # 11.25 rounds up
        ("50%", 0, 0),
        ("10", 3, 13),
    ],
)
def test_buffer_count_and_percent(size: int | str, allocated: int, total: int) -> None:
    result = recommend_buffer(buffer(size), snapshot(cluster("eu", allocated=allocated)))
    assert (result.total, result.clusters) == (total, {"eu": total})
    assert result.limited == ""


@pytest.mark.parametrize(
    ("allocated", "low", "high", "total", "limited"),
    [
        (0, 10, 100, 10, "minReplicas 10"),
        (96, 10, 100, 100, "maxReplicas 100"),
        (50, 10, 100, 55, ""),
        (120, 10, 100, 120, "maxReplicas 100"),  # never below what is allocated
    ],
)
def test_buffer_within_min_and_max(
    allocated: int, low: int, high: int, total: int, limited: str
) -> None:
    result = recommend_buffer(buffer(5, low, high), snapshot(cluster("eu", allocated=allocated)))
    assert result.total == total
    assert result.clusters == {"eu": total}
    assert result.limited == limited


def test_the_buffer_follows_the_placement_weights_and_allocations_stay_put() -> None:
    state = snapshot(
        cluster("eu", allocated=30),
        cluster("us", allocated=3),
        clusters=[{"name": "eu", "weight": 3}, {"name": "us", "weight": 1}],
    )
    result = recommend_buffer(buffer(20), state)
    assert result.clusters == {"eu": 30 + 15, "us": 3 + 5}
    assert result.total == 53


def test_priority_spills_the_buffer_over_a_full_cluster() -> None:
    state = snapshot(
        cluster("onprem", allocated=8),
        cluster("cloud", allocated=0),
        strategy="Priority",
        clusters=[{"name": "onprem", "max": 10}, {"name": "cloud"}],
    )
    result = recommend_buffer(buffer(6), state)
    assert result.clusters == {"onprem": 10, "cloud": 4}


def test_per_region_buffer_adds_where_the_region_allocates() -> None:
    state = snapshot(
        cluster("eu-1", allocated=40, region="eu"),
        cluster("eu-2", allocated=10, region="eu"),
        cluster("us-1", allocated=0, region="us"),
    )
    result = recommend_buffer(buffer(20, label="region"), state)
    # eu: 50 allocated + 20 idle split evenly over its two clusters; us: 20 idle.
    assert result.clusters == {"eu-1": 50, "eu-2": 20, "us-1": 20}
    assert result.total == 90
    assert "region=eu: 50+20" in result.detail


def test_clusters_without_the_label_form_their_own_group() -> None:
    state = snapshot(cluster("eu-1", allocated=2, region="eu"), cluster("lab", allocated=1))
    result = recommend_buffer(buffer(3, label="region"), state)
    assert result.clusters == {"eu-1": 5, "lab": 4}


def test_unknown_and_cordoned_clusters_keep_their_share_and_take_no_buffer() -> None:
    state = snapshot(
        cluster("eu", allocated=10, assigned=12),
        cluster("us", allocated=7, assigned=9, phase=Phase.UNKNOWN),
        cluster("ap", allocated=1, assigned=4, phase=Phase.CORDONED),
        cluster("sa", allocated=5, assigned=5, eligible=False),
    )
    result = recommend_buffer(buffer(5), state)
    assert result.clusters == {"eu": 15}
    assert (result.kept, result.total) == (13, 28)


def test_max_replicas_cuts_idle_servers_never_allocated_ones() -> None:
    state = snapshot(cluster("eu", allocated=40), cluster("us", allocated=2))
    result = recommend_buffer(buffer(10, high=50), state)
    assert result.total == 50
    assert result.clusters["eu"] >= 40 and result.clusters["us"] >= 2
    assert sum(result.clusters.values()) == 50


def test_min_replicas_adds_by_placement() -> None:
    state = snapshot(cluster("eu"), cluster("us"), clusters=[{"name": "eu", "weight": 3}])
    result = recommend_buffer(buffer(2, low=20), state)
    assert result.total == 20
    assert result.clusters == {"eu": 15, "us": 5}


def test_a_cluster_min_is_honoured_in_its_demand() -> None:
    state = snapshot(cluster("eu"), cluster("us"), clusters=[{"name": "us", "min": 6}])
    result = recommend_buffer(buffer(2), state)
    assert result.clusters["us"] == 6


def test_a_total_from_elsewhere_keeps_allocations_and_splits_the_rest() -> None:
    state = snapshot(cluster("eu", allocated=10), cluster("us", allocated=2))
    result = recommend_total(20, state, "webhook asked for 20")
    assert result.clusters == {"eu": 14, "us": 6}
    assert recommend_total(5, state, "").clusters == {"eu": 10, "us": 2}
