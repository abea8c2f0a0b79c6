"""Placement: replicas per cluster, rendered specs, template hashes and conditions."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from gamefleet.v1 import fleet_pb2

from hub.core import conditions, documents, placement

from .fleets import MINIMAL_FLEET

View = placement.ClusterView


def make_fleet(replicas: int, placement_doc: dict[str, Any] | None = None) -> fleet_pb2.Fleet:
    doc = json.loads(json.dumps(MINIMAL_FLEET))
    doc["spec"]["replicas"] = replicas
    doc["spec"]["template"]["network"] = {"networkType": "Kubernetes-HostPort"}
    if placement_doc is not None:
        doc["spec"]["placement"] = placement_doc
    return documents.from_document(doc, fleet_pb2.Fleet)


def cluster(name: str, schedulable: bool = True, **labels: str) -> placement.ClusterView:
    return View(name, labels, schedulable)


ABC = [cluster("a"), cluster("b"), cluster("c")]

# (description, replicas, placement, clusters, expected replicas per eligible cluster)
SPLITS: list[tuple[str, int, dict[str, Any], list[placement.ClusterView], dict[str, int]]] = [
    (
        "weights 2:1 of 9",
        9,
        {"clusters": [{"name": "a", "weight": 2}, {"name": "b", "weight": 1}]},
        [cluster("a"), cluster("b")],
        {"a": 6, "b": 3},
    ),
    ("unlisted clusters weigh 1", 10, {}, ABC, {"a": 4, "b": 3, "c": 3}),
    (
        "largest remainder, ties by name",
        10,
        {"clusters": [{"name": "c", "weight": 3}]},
        ABC,
        {"a": 2, "b": 2, "c": 6},
    ),
    (
        "a maximum's cut goes to the others in proportion",
        12,
        {"clusters": [{"name": "a", "max": 2}, {"name": "b", "weight": 3}]},
        ABC,
        {"a": 2, "b": 8, "c": 2},
    ),
    (
        "a minimum is a floor, not a head start",
        9,
        {"clusters": [{"name": "a", "weight": 2}, {"name": "b", "min": 3}]},
        [cluster("a"), cluster("b")],
        {"a": 6, "b": 3},
    ),
    (
        "a minimum above the weighted share",
        9,
        {"clusters": [{"name": "b", "min": 6}]},
        [cluster("a"), cluster("b")],
        {"a": 3, "b": 6},
    ),
    (
        "minimums above replicas shrink in proportion",
        5,
        {"clusters": [{"name": "a", "min": 6}, {"name": "b", "min": 4}]},
        [cluster("a"), cluster("b")],
        {"a": 3, "b": 2},
    ),
    (
        "maximums below replicas",
        20,
        {"clusters": [{"name": "a", "max": 3}, {"name": "b", "max": 4}]},
        [cluster("a"), cluster("b")],
        {"a": 3, "b": 4},
    ),
    (
        "priority fills in listed order, then by name, spilling at each max",
        10,
        {
            "strategy": "Priority",
            "clusters": [{"name": "c", "max": 3}, {"name": "a", "max": 4}],
        },
        [cluster("d"), cluster("b"), cluster("a"), cluster("c")],
        {"a": 4, "b": 3, "c": 3, "d": 0},
    ),
    (
        "priority without a max puts everything first",
        10,
        {"strategy": "Priority", "clusters": [{"name": "b"}]},
        ABC,
        {"a": 0, "b": 10, "c": 0},
    ),
    (
        "priority honours minimums first",
        10,
        {"strategy": "Priority", "clusters": [{"name": "b"}, {"name": "c", "min": 2}]},
        ABC,
        {"a": 0, "b": 8, "c": 2},
    ),
    (
        "spread is even with the remainder by name",
        11,
        {"strategy": "Spread", "clusters": [{"name": "c", "weight": 5}]},
        ABC,
        {"a": 4, "b": 4, "c": 3},
    ),
    (
        "spread respects max",
        11,
        {"strategy": "Spread", "clusters": [{"name": "a", "max": 1}]},
        ABC,
        {"a": 1, "b": 5, "c": 5},
    ),
    (
        "unschedulable clusters get nothing",
        9,
        {"clusters": [{"name": "a", "weight": 5}]},
        [cluster("a", schedulable=False), cluster("b"), cluster("c")],
        {"b": 5, "c": 4},
    ),
    (
        "the selector decides eligibility, not the cluster list",
        6,
        {
            "clusterSelector": {"matchLabels": {"region": "eu"}},
            "clusters": [{"name": "us-1", "weight": 9}],
        },
        [cluster("eu-1", region="eu"), cluster("eu-2", region="eu"), cluster("us-1", region="us")],
        {"eu-1": 3, "eu-2": 3},
    ),
    (
        "selector expressions",
        4,
        {
            "clusterSelector": {
                "matchExpressions": [{"key": "cloud", "operator": "NotIn", "values": ["aws"]}]
            }
        },
        [cluster("a", cloud="aws"), cluster("b", cloud="gcp"), cluster("c")],
        {"b": 2, "c": 2},
    ),
    ("zero replicas", 0, {}, ABC, {"a": 0, "b": 0, "c": 0}),
]


@pytest.mark.parametrize(
    ("replicas", "placement_doc", "clusters", "expected"),
    [case[1:] for case in SPLITS],
    ids=[case[0] for case in SPLITS],
)
def test_split(
    replicas: int,
    placement_doc: dict[str, Any],
    clusters: list[placement.ClusterView],
    expected: dict[str, int],
) -> None:
    result = placement.place(make_fleet(replicas, placement_doc), clusters)
    assert result.replicas_by_cluster() == expected
    assert [assignment.cluster for assignment in result.assignments] == sorted(expected)
    assert all(a.spec["replicas"] == a.replicas for a in result.assignments)


def _placed(result: placement.Placement) -> conditions.Condition:
    (condition,) = result.conditions
    assert condition.type == placement.PLACED
    return condition


def test_all_placed_condition() -> None:
    result = placement.place(make_fleet(9), ABC)
    condition = _placed(result)
    assert (condition.status, condition.reason) == ("True", placement.REASON_ALL_PLACED)
    assert result.unplaced == 0


def test_no_eligible_clusters() -> None:
    result = placement.place(make_fleet(5), [cluster("a", schedulable=False)])
    condition = _placed(result)
    assert (condition.status, condition.reason) == ("False", placement.REASON_NO_ELIGIBLE_CLUSTERS)
    assert result.assignments == ()
    assert result.unplaced == 5


def test_maximums_below_replicas() -> None:
    fleet = make_fleet(20, {"clusters": [{"name": "a", "max": 3}, {"name": "b", "max": 4}]})
    result = placement.place(fleet, [cluster("a"), cluster("b")])
    condition = _placed(result)
    assert (condition.status, condition.reason) == (
        "False",
        placement.REASON_MAXIMUMS_BELOW_REPLICAS,
    )
    assert result.unplaced == 13
    assert "allow 7 of 20" in condition.message


def test_minimums_exceed_replicas() -> None:
    fleet = make_fleet(5, {"clusters": [{"name": "a", "min": 6}, {"name": "b", "min": 4}]})
    result = placement.place(fleet, [cluster("a"), cluster("b")])
    condition = _placed(result)
    assert (condition.status, condition.reason) == (
        "False",
        placement.REASON_MINIMUMS_EXCEED_REPLICAS,
    )
    assert result.unplaced == 0


def test_condition_converts_to_proto() -> None:
    proto = _placed(placement.place(make_fleet(3), ABC)).to_proto(observed_generation=4)
    assert (proto.type, proto.status, proto.observed_generation) == ("Placed", "True", 4)


def test_duplicate_cluster_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        placement.place(make_fleet(3), [cluster("a"), cluster("a")])


CLOUD_OVERRIDES: dict[str, Any] = {
    "clusters": [
        {"name": "ali-1", "override": {"serviceName": "arena-ali-1"}},
    ],
    "overrides": [
        {
            "clusterSelector": {"matchLabels": {"cloud": "aws"}},
            "patch": {"network": {"networkType": "AmazonWebServices-NLB"}},
        },
        {
            "clusterSelector": {"matchLabels": {"cloud": "alibaba"}},
            "patch": {
                "network": {
                    "networkType": "AlibabaCloud-SLB",
                    "networkConf": [{"name": "SlbIds", "value": "lb-1"}],
                },
                "serviceName": "arena-ali",
            },
        },
        {
            "clusterSelector": {"matchLabels": {"region": "eu"}},
            "patch": {"gameServerTemplate": {"metadata": {"labels": {"region": "eu"}}}},
        },
    ],
}

CLOUDS = [
    cluster("ali-1", cloud="alibaba", region="ap"),
    cluster("aws-1", cloud="aws", region="eu"),
    cluster("onprem-1", region="eu"),
]


def test_overrides_apply_per_cluster_by_label_then_the_clusters_own_last() -> None:
    result = placement.place(make_fleet(6, CLOUD_OVERRIDES), CLOUDS)
    specs = {assignment.cluster: assignment.spec for assignment in result.assignments}
    assert specs["aws-1"]["network"] == {"networkType": "AmazonWebServices-NLB"}
    assert specs["ali-1"]["network"] == {
        "networkType": "AlibabaCloud-SLB",
        "networkConf": [{"name": "SlbIds", "value": "lb-1"}],
    }
    assert specs["onprem-1"]["network"] == {"networkType": "Kubernetes-HostPort"}
    assert specs["ali-1"]["serviceName"] == "arena-ali-1"
    assert "serviceName" not in specs["aws-1"]
    assert specs["aws-1"]["gameServerTemplate"]["metadata"] == {"labels": {"region": "eu"}}
    assert specs["onprem-1"]["gameServerTemplate"]["metadata"] == {"labels": {"region": "eu"}}
    assert "metadata" not in specs["ali-1"]["gameServerTemplate"]
    assert {name: spec["replicas"] for name, spec in specs.items()} == {
        "ali-1": 2,
        "aws-1": 2,
        "onprem-1": 2,
    }


def test_later_overrides_win() -> None:
    fleet = make_fleet(
        1,
        {
            "overrides": [
                {"patch": {"serviceName": "first"}},
                {"patch": {"serviceName": "second"}},
            ]
        },
    )
    (assignment,) = placement.place(fleet, [cluster("a")]).assignments
    assert assignment.spec["serviceName"] == "second"


def test_rendering_does_not_touch_the_fleet() -> None:
    fleet = make_fleet(6, CLOUD_OVERRIDES)
    before = fleet.SerializeToString(deterministic=True)
    placement.place(fleet, CLOUDS)
    assert fleet.SerializeToString(deterministic=True) == before


def test_a_shared_rendering_is_never_changed_through_one_clusters_spec() -> None:
    fleet = make_fleet(6, CLOUD_OVERRIDES)
    first = placement.place(fleet, CLOUDS).assignments[0]
    first.spec["network"] = {"networkType": "changed by a caller"}
    first.spec.setdefault("gameServerTemplate", {})["changed"] = True
    again = placement.place(fleet, CLOUDS).assignments[0]
    assert "changed" not in again.spec.get("gameServerTemplate", {})
    assert again.spec.get("network") != {"networkType": "changed by a caller"}
    assert again.template_hash == first.template_hash == placement.template_hash(again.spec)


def test_a_changed_override_renders_again() -> None:
    fleet = make_fleet(6, CLOUD_OVERRIDES)
    before = {a.cluster: a.template_hash for a in placement.place(fleet, CLOUDS).assignments}
    fleet.spec.placement.overrides[0].patch.update({"serviceName": "changed"})
    after = {a.cluster: a.template_hash for a in placement.place(fleet, CLOUDS).assignments}
    assert before.keys() == after.keys() and before != after


def test_template_hash_is_sha256_of_canonical_json_without_replicas() -> None:
    (assignment,) = placement.place(make_fleet(3), [cluster("a")]).assignments
    without = {key: value for key, value in assignment.spec.items() if key != "replicas"}
    canonical = json.dumps(without, sort_keys=True, separators=(",", ":"))
    assert assignment.template_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert assignment.template_hash == placement.template_hash(assignment.spec)


def test_template_hash_ignores_replicas_and_key_order() -> None:
    three = placement.place(make_fleet(3), [cluster("a")]).assignments[0]
    thirty = placement.place(make_fleet(30), [cluster("a")]).assignments[0]
    assert three.template_hash == thirty.template_hash
    reordered = dict(reversed(list(three.spec.items())))
    assert placement.template_hash(reordered) == three.template_hash
    assert placement.template_hash({"a": 1}) == placement.template_hash({"a": 1.0})


def test_template_hash_differs_with_the_rendered_spec() -> None:
    result = placement.place(make_fleet(6, CLOUD_OVERRIDES), CLOUDS)
    hashes = {assignment.cluster: assignment.template_hash for assignment in result.assignments}
    assert len(set(hashes.values())) == 3
    same = placement.place(make_fleet(6), [cluster("a"), cluster("b")]).assignments
    assert same[0].template_hash == same[1].template_hash


def test_template_hash_is_stable() -> None:
    assert (
        placement.template_hash({"replicas": 5, "serviceName": "arena"})
        == "7c5efca7e9a2421f838364df698f5cb9855bc0aaf59a2353e0f594577025de0b"
    )
