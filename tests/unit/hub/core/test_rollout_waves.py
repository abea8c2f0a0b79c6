"""Waves of a progressive rollout: by name, by label, by percentage, and the clusters left."""

from __future__ import annotations

from typing import Any

from gamefleet.v1 import fleet_pb2

from hub.core import documents
from hub.core.rollout_waves import Wave, waves

CLUSTERS = {
    "eu-1": {"region": "eu"},
    "eu-2": {"region": "eu"},
    "us-1": {"region": "us"},
    "ap-1": {"region": "ap"},
}


def fleet(rollout: dict[str, Any], *listed: str) -> fleet_pb2.Fleet:
    doc = {"spec": {"rollout": rollout, "placement": {"clusters": [{"name": n} for n in listed]}}}
    return documents.from_document(doc, fleet_pb2.Fleet)


def names(planned: list[Wave]) -> list[list[str]]:
    return [list(wave.clusters) for wave in planned]


def test_without_waves_one_cluster_per_wave_in_placement_order() -> None:
    assert names(waves(fleet({}, "us-1"), CLUSTERS)) == [["us-1"], ["ap-1"], ["eu-1"], ["eu-2"]]


def test_explicit_waves_then_the_clusters_left_in_one_last_wave() -> None:
    planned = waves(fleet({"waves": [{"clusters": ["us-1", "eu-2"]}]}), CLUSTERS)
    assert names(planned) == [["us-1", "eu-2"], ["ap-1", "eu-1"]]


def test_a_named_cluster_not_placed_is_left_out_and_an_empty_wave_dropped() -> None:
    planned = waves(fleet({"waves": [{"clusters": ["gone"]}, {"clusters": ["ap-1"]}]}), CLUSTERS)
    assert names(planned) == [["ap-1"], ["eu-1", "eu-2", "us-1"]]


def test_by_label_one_wave_per_value_in_the_order_given() -> None:
    planned = waves(fleet({"byLabel": {"key": "region", "values": ["eu", "us"]}}), CLUSTERS)
    assert names(planned) == [["eu-1", "eu-2"], ["us-1"], ["ap-1"]]


def test_match_labels_take_every_matching_cluster() -> None:
    planned = waves(fleet({"waves": [{"matchLabels": {"region": "eu"}}]}), CLUSTERS)
    assert names(planned) == [["eu-1", "eu-2"], ["ap-1", "us-1"]]


def test_percentages_are_cumulative_and_round_up() -> None:
    rollout = {"waves": [{"percent": 10}, {"percent": 50}, {"percent": 100}]}
    assert names(waves(fleet(rollout), CLUSTERS)) == [["ap-1"], ["eu-1"], ["eu-2", "us-1"]]


def test_a_percentage_counts_the_clusters_named_before_it() -> None:
    rollout = {"waves": [{"clusters": ["us-1"]}, {"percent": 50}]}
    assert names(waves(fleet(rollout), CLUSTERS)) == [["us-1"], ["ap-1"], ["eu-1", "eu-2"]]


def test_a_cluster_belongs_to_the_first_wave_that_takes_it() -> None:
    rollout = {
        "waves": [{"clusters": ["eu-1"]}],
        "byLabel": {"key": "region", "values": ["eu"]},
    }
    assert names(waves(fleet(rollout), CLUSTERS)) == [["eu-1"], ["eu-2"], ["ap-1", "us-1"]]


def test_max_concurrency_of_the_wave_overrides_the_rollouts() -> None:
    rollout = {"waves": [{"clusters": ["eu-1"], "maxConcurrency": 1}], "maxConcurrency": 2}
    planned = waves(fleet(rollout), CLUSTERS)
    assert [wave.max_concurrency for wave in planned] == [1, 2]


def test_no_clusters_no_waves() -> None:
    assert waves(fleet({"waves": [{"percent": 100}]}), {}) == []
