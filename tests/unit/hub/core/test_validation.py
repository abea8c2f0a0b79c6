"""Fleet and cluster validation: one case per rule, each naming the exact field."""

from __future__ import annotations

from typing import Any

import pytest
from gamefleet.v1 import cluster_pb2, meta_pb2
from google.protobuf import descriptor, message

from hub.core import errors, limits, validation

from .fleets import DELETE, FULL_FLEET, MINIMAL_FLEET, fleet, set_at

T = "spec.template"
POD = f"{T}.gameServerTemplate"
SQ = f"{T}.serviceQualities"
RU = f"{T}.updateStrategy.rollingUpdate"
PL = "spec.placement"

# (field to change, new value or DELETE, the one path expected in the errors)
CASES: list[tuple[str, Any, str]] = [
    ("metadata.name", "Bad_Name", "metadata.name"),
    ("metadata.name", "", "metadata.name"),
    ("metadata.name", "a" * 64, "metadata.name"),
    ("metadata.namespace", "", "metadata.namespace"),
    ("metadata.namespace", "Games", "metadata.namespace"),
    ("metadata.labels", {"bad key": "x"}, "metadata.labels"),
    ("metadata.labels", {"example.com/": "x"}, "metadata.labels"),
    ("metadata.labels", {"game": "has space"}, 'metadata.labels["game"]'),
    ("metadata.labels", {"game": "v" * 64}, 'metadata.labels["game"]'),
    ("metadata.annotations", {"Bad_Prefix.com/x": "y"}, "metadata.annotations"),
    ("spec.replicas", -1, "spec.replicas"),
    ("spec.replicas", limits.MAX_FLEET_REPLICAS + 1, "spec.replicas"),
    (f"{T}.replicas", 3, f"{T}.replicas"),
    (f"{T}.gameServerTemplate", DELETE, POD),
    (f"{POD}.spec", DELETE, f"{POD}.spec"),
    (f"{POD}.spec", "containers", f"{POD}.spec"),
    (f"{POD}.spec.containers", [], f"{POD}.spec.containers"),
    (f"{POD}.spec.containers[0]", "game", f"{POD}.spec.containers[0]"),
    (f"{POD}.spec.containers[0].name", "Game", f"{POD}.spec.containers[0].name"),
    (f"{POD}.spec.containers[0].name", DELETE, f"{POD}.spec.containers[0].name"),
    (f"{POD}.spec.containers[1].name", "game", f"{POD}.spec.containers[1].name"),
    (f"{POD}.spec.containers[1].image", "", f"{POD}.spec.containers[1].image"),
    (f"{POD}.spec.initContainers[0].name", "game", f"{POD}.spec.initContainers[0].name"),
    (f"{POD}.spec.initContainers", {"name": "x"}, f"{POD}.spec.initContainers"),
    (f"{POD}.metadata.labels.game", "not valid!", f'{POD}.metadata.labels["game"]'),
    (f"{POD}.metadata.labels.game", 3, f'{POD}.metadata.labels["game"]'),
    (f"{POD}.metadata", [], f"{POD}.metadata"),
    (f"{T}.volumeClaimTemplates[0].metadata", {}, f"{T}.volumeClaimTemplates[0].metadata.name"),
    (f"{T}.volumeClaimTemplates[0].spec", DELETE, f"{T}.volumeClaimTemplates[0].spec"),
    (f"{T}.reclaimPolicy", "Keep", f"{T}.reclaimPolicy"),
    (f"{T}.serviceName", "Arena", f"{T}.serviceName"),
    (f"{T}.reserveGameServerIds", [3, "5-7", "7-3"], f"{T}.reserveGameServerIds[2]"),
    (f"{T}.reserveGameServerIds", [-1], f"{T}.reserveGameServerIds[0]"),
    (f"{T}.reserveGameServerIds", ["-2"], f"{T}.reserveGameServerIds[0]"),
    (f"{T}.reserveGameServerIds", [3, "2-4"], f"{T}.reserveGameServerIds[1]"),
    (f"{T}.reserveGameServerIds", [1, 1], f"{T}.reserveGameServerIds[1]"),
    (f"{T}.reserveGameServerIds", [2.5], f"{T}.reserveGameServerIds[0]"),
    (f"{T}.reserveGameServerIds", ["x"], f"{T}.reserveGameServerIds[0]"),
    (f"{T}.reserveGameServerIds", [True], f"{T}.reserveGameServerIds[0]"),
    (f"{SQ}[1].name", DELETE, f"{SQ}[1].name"),
    (f"{SQ}[1].name", "idle", f"{SQ}[1].name"),
    (f"{SQ}[0].containerName", "sidecar", f"{SQ}[0].containerName"),
    (f"{SQ}[1].exec", {"command": ["true"]}, f"{SQ}[1]"),
    (f"{SQ}[2].tcpSocket", DELETE, f"{SQ}[2]"),
    (f"{SQ}[0].exec.command", [], f"{SQ}[0].exec.command"),
    (f"{SQ}[0].exec.command", [1], f"{SQ}[0].exec.command"),
    (f"{SQ}[1].httpGet.port", 0, f"{SQ}[1].httpGet.port"),
    (f"{SQ}[1].httpGet.port", 70000, f"{SQ}[1].httpGet.port"),
    (f"{SQ}[2].tcpSocket.port", DELETE, f"{SQ}[2].tcpSocket.port"),
    (f"{SQ}[0].initialDelaySeconds", -1, f"{SQ}[0].initialDelaySeconds"),
    (f"{SQ}[0].timeoutSeconds", -1, f"{SQ}[0].timeoutSeconds"),
    (f"{SQ}[0].periodSeconds", 0, f"{SQ}[0].periodSeconds"),
    (f"{SQ}[0].successThreshold", 0, f"{SQ}[0].successThreshold"),
    (f"{SQ}[0].failureThreshold", 0, f"{SQ}[0].failureThreshold"),
    (f"{SQ}[0].serviceQualityAction[0].state", DELETE, f"{SQ}[0].serviceQualityAction[0].state"),
    (
        f"{SQ}[0].serviceQualityAction[0].updatePriority",
        "high",
        f"{SQ}[0].serviceQualityAction[0].updatePriority",
    ),
    (
        f"{SQ}[0].serviceQualityAction[0].deletionPriority",
        1.5,
        f"{SQ}[0].serviceQualityAction[0].deletionPriority",
    ),
    (
        f"{SQ}[0].serviceQualityAction[0].deletionPriority",
        True,
        f"{SQ}[0].serviceQualityAction[0].deletionPriority",
    ),
    (
        f"{SQ}[0].serviceQualityAction[0].labels",
        {"bad key": "x"},
        f"{SQ}[0].serviceQualityAction[0].labels",
    ),
    (
        f"{SQ}[0].serviceQualityAction[0].labels",
        {"quality": "not ok!"},
        f'{SQ}[0].serviceQualityAction[0].labels["quality"]',
    ),
    (
        f"{SQ}[0].serviceQualityAction[0].annotations",
        {"bad key": "x"},
        f"{SQ}[0].serviceQualityAction[0].annotations",
    ),
    (f"{T}.updateStrategy.type", "Recreate", f"{T}.updateStrategy.type"),
    (f"{RU}.partition", 10, f"{RU}.partition"),
    (f"{RU}.partition", -1, f"{RU}.partition"),
    (f"{RU}.maxUnavailable", 0, f"{RU}.maxUnavailable"),
    (f"{RU}.maxUnavailable", 1.5, f"{RU}.maxUnavailable"),
    (f"{RU}.maxUnavailable", "0%", f"{RU}.maxUnavailable"),
    (f"{RU}.maxUnavailable", "101%", f"{RU}.maxUnavailable"),
    (f"{RU}.maxUnavailable", "3", f"{RU}.maxUnavailable"),
    (f"{RU}.maxUnavailable", None, f"{RU}.maxUnavailable"),
    (f"{RU}.podUpdatePolicy", "InPlace", f"{RU}.podUpdatePolicy"),
    (f"{RU}.minReadySeconds", 301, f"{RU}.minReadySeconds"),
    (f"{RU}.minReadySeconds", -1, f"{RU}.minReadySeconds"),
    (
        f"{RU}.inPlaceUpdateStrategy.gracePeriodSeconds",
        -1,
        f"{RU}.inPlaceUpdateStrategy.gracePeriodSeconds",
    ),
    (f"{T}.scaleStrategy.maxUnavailable", "x", f"{T}.scaleStrategy.maxUnavailable"),
    (
        f"{T}.scaleStrategy.scaleDownStrategyType",
        "Random",
        f"{T}.scaleStrategy.scaleDownStrategyType",
    ),
    (f"{T}.network.networkType", "Kubernetes-LoadBalancer", f"{T}.network.networkType"),
    (f"{T}.network.networkType", "", f"{T}.network.networkType"),
    (f"{T}.network.networkConf[0].name", "", f"{T}.network.networkConf[0].name"),
    (
        f"{T}.lifecycle.preDelete.labelsHandler",
        {"bad key": "true"},
        f"{T}.lifecycle.preDelete.labelsHandler",
    ),
    (
        f"{T}.lifecycle.inPlaceUpdate.labelsHandler",
        {"gs-sync/update-block": "yes please"},
        f'{T}.lifecycle.inPlaceUpdate.labelsHandler["gs-sync/update-block"]',
    ),
    (
        f"{T}.lifecycle.preDelete.finalizersHandler",
        ["example.com/ok", "bad name"],
        f"{T}.lifecycle.preDelete.finalizersHandler[1]",
    ),
    (
        f"{T}.persistentVolumeClaimRetentionPolicy.whenDeleted",
        "Keep",
        f"{T}.persistentVolumeClaimRetentionPolicy.whenDeleted",
    ),
    (
        f"{T}.persistentVolumeClaimRetentionPolicy.whenScaled",
        "Keep",
        f"{T}.persistentVolumeClaimRetentionPolicy.whenScaled",
    ),
    ("spec.updatePolicy.type", "Rolling", "spec.updatePolicy.type"),
    ("spec.updatePolicy.type", "Sequential", "spec.rollout"),
    ("spec.rollout.waves[0]", {}, "spec.rollout.waves[0]"),
    ("spec.rollout.waves[0].clusters", ["Bad_Name"], "spec.rollout.waves[0].clusters[0]"),
    ("spec.rollout.waves[0].clusters", ["eu-1", "eu-1"], "spec.rollout.waves[0].clusters[1]"),
    (
        "spec.rollout.waves[0].matchLabels",
        {"region": "e u"},
        'spec.rollout.waves[0].matchLabels["region"]',
    ),
    ("spec.rollout.waves[0].percent", 0, "spec.rollout.waves[0].percent"),
    ("spec.rollout.waves[0].percent", 101, "spec.rollout.waves[0].percent"),
    ("spec.rollout.waves[0].maxConcurrency", 0, "spec.rollout.waves[0].maxConcurrency"),
    ("spec.rollout.byLabel.key", "", "spec.rollout.byLabel.key"),
    ("spec.rollout.byLabel.values", [], "spec.rollout.byLabel.values"),
    ("spec.rollout.byLabel.values", ["us", "us"], "spec.rollout.byLabel.values[1]"),
    ("spec.rollout.maxConcurrency", 0, "spec.rollout.maxConcurrency"),
    ("spec.rollout.maxFailures", -1, "spec.rollout.maxFailures"),
    ("spec.rollout.minSuccessTime", "-1s", "spec.rollout.minSuccessTime"),
    ("spec.rollout.minSuccessTime", "700000s", "spec.rollout.minSuccessTime"),
    ("spec.rollout.progressDeadline", "0s", "spec.rollout.progressDeadline"),
    ("spec.rollout.qualities", ["idle", "lag"], "spec.rollout.qualities[1]"),
    (f"{PL}.strategy", "Random", f"{PL}.strategy"),
    (
        f"{PL}.clusterSelector.matchExpressions[0].operator",
        "Like",
        f"{PL}.clusterSelector.matchExpressions[0].operator",
    ),
    (
        f"{PL}.clusterSelector.matchExpressions[0].values",
        [],
        f"{PL}.clusterSelector.matchExpressions[0].values",
    ),
    (
        f"{PL}.clusterSelector.matchExpressions[1].values",
        ["x"],
        f"{PL}.clusterSelector.matchExpressions[1].values",
    ),
    (
        f"{PL}.clusterSelector.matchExpressions[0].key",
        "bad key",
        f"{PL}.clusterSelector.matchExpressions[0].key",
    ),
    (f"{PL}.clusterSelector.matchLabels", {"bad key": "x"}, f"{PL}.clusterSelector.matchLabels"),
    (f"{PL}.clusters[0].name", "EU_1", f"{PL}.clusters[0].name"),
    (f"{PL}.clusters[0].name", DELETE, f"{PL}.clusters[0].name"),
    (f"{PL}.clusters[1].name", "eu-1", f"{PL}.clusters[1].name"),
    (f"{PL}.clusters[0].weight", 0, f"{PL}.clusters[0].weight"),
    (f"{PL}.clusters[1].min", -1, f"{PL}.clusters[1].min"),
    (f"{PL}.clusters[0].max", -1, f"{PL}.clusters[0].max"),
    (f"{PL}.clusters[0].min", 11, f"{PL}.clusters[0].min"),
    (
        f"{PL}.clusters[0].override",
        {"network": {"networkType": "Nope"}},
        f"{PL}.clusters[0].override.network.networkType",
    ),
    (f"{PL}.clusters[0].override", {"bogus": 1}, f"{PL}.clusters[0].override.bogus"),
    (f"{PL}.clusters[0].override", {"a b": 1}, f'{PL}.clusters[0].override["a b"]'),
    (f"{PL}.clusters[0].override", {"replicas": 3}, f"{PL}.clusters[0].override.replicas"),
    (
        f"{PL}.clusters[0].override",
        {"reserveGameServerIds": ["9-1"]},
        f"{PL}.clusters[0].override.reserveGameServerIds[0]",
    ),
    (
        f"{PL}.overrides[0].patch.network.networkType",
        "Nope",
        f"{PL}.overrides[0].patch.network.networkType",
    ),
    (
        f"{PL}.overrides[0].patch",
        {"gameServerTemplate": None},
        f"{PL}.overrides[0].patch.gameServerTemplate",
    ),
    (
        f"{PL}.overrides[0].patch",
        {"gameServerTemplate": {"spec": {"containers": [{"name": "game", "image": ""}]}}},
        f"{PL}.overrides[0].patch.gameServerTemplate.spec.containers[0].image",
    ),
    (f"{PL}.overrides[0].patch", {"reclaimPolicy": 3}, f"{PL}.overrides[0].patch.reclaimPolicy"),
    (f"{PL}.failover.after", "0.5s", f"{PL}.failover.after"),
    (f"{PL}.failover.replicasPerSecond", 0, f"{PL}.failover.replicasPerSecond"),
    (
        f"{T}.network",
        {
            "networkType": "Kubernetes-HostPort",
            "networkConf": [{"name": "ContainerPorts", "value": "game:abc/TCP"}],
        },
        f"{T}.network.networkConf[0]",
    ),
    (f"{PL}.failover.after", "200000s", f"{PL}.failover.after"),
    (
        f"{PL}.overrides[0].clusterSelector.matchExpressions",
        [{"key": "cloud", "operator": "Like"}],
        f"{PL}.overrides[0].clusterSelector.matchExpressions[0].operator",
    ),
]


@pytest.mark.parametrize(
    ("field", "value", "path"), CASES, ids=[f"{c[2]}={c[1]!r}"[:80] for c in CASES]
)
def test_each_rule_names_its_field(field: str, value: Any, path: str) -> None:
    problems = validation.validate_fleet(fleet(set_at(FULL_FLEET, field, value)))
    assert [problem.path for problem in problems] == [path], [str(p) for p in problems]


def test_the_full_fleet_is_valid() -> None:
    assert validation.validate_fleet(fleet(FULL_FLEET)) == []


def test_a_minimal_fleet_is_valid() -> None:
    assert validation.validate_fleet(fleet(MINIMAL_FLEET)) == []


def _declared_paths(desc: descriptor.Descriptor, path: str) -> set[str]:
    found = set()
    for field in desc.fields:
        field_path = f"{path}.{field.json_name}"
        found.add(field_path)
        nested = field.message_type
        if nested is None or nested.GetOptions().map_entry:
            continue
        if not nested.full_name.startswith("google.protobuf."):
            found |= _declared_paths(nested, field_path)
    return found


def _set_paths(msg: message.Message, path: str) -> set[str]:
    """Paths set in `msg`; a field inside a list counts when any item sets it."""
    found = set()
    for field, value in msg.ListFields():
        field_path = f"{path}.{field.json_name}"
        found.add(field_path)
        nested = field.message_type
        if nested is None or nested.GetOptions().map_entry:
            continue
        if nested.full_name.startswith("google.protobuf."):
            continue
        for item in value if field.is_repeated else [value]:
            found |= _set_paths(item, field_path)
    return found


def test_the_full_fleet_populates_every_spec_field() -> None:
    full = fleet(FULL_FLEET)
    unset = _declared_paths(full.spec.DESCRIPTOR, "spec") - _set_paths(full.spec, "spec")
    assert unset == {"spec.template.replicas"}


def test_every_problem_is_reported_at_once() -> None:
    doc = set_at(FULL_FLEET, "metadata.name", "Bad_Name")
    doc = set_at(doc, "spec.template.reclaimPolicy", "Keep")
    doc = set_at(doc, "spec.placement.strategy", "Random")
    problems = validation.validate_fleet(fleet(doc))
    assert [str(problem) for problem in problems] == [
        'metadata.name: "Bad_Name" is not a valid DNS-1123 label: must consist of lower case '
        "alphanumeric characters or '-', and must start and end with an alphanumeric character",
        'spec.template.reclaimPolicy: "Keep" is not one of Cascade, Delete',
        'spec.placement.strategy: "Random" is not one of Weighted, Priority, Spread',
    ]


def test_messages_quote_the_value() -> None:
    doc = set_at(FULL_FLEET, "spec.template.reserveGameServerIds", [3, "5-7", "7-3"])
    (problem,) = validation.validate_fleet(fleet(doc))
    assert str(problem) == 'spec.template.reserveGameServerIds[2]: "7-3" is not a valid range'


def test_a_template_error_is_not_repeated_under_each_override() -> None:
    doc = set_at(FULL_FLEET, "spec.template.reclaimPolicy", "Keep")
    doc = set_at(doc, "spec.placement.overrides[0].patch.serviceName", "arena-aws")
    problems = validation.validate_fleet(fleet(doc))
    assert [problem.path for problem in problems] == ["spec.template.reclaimPolicy"]


def test_an_override_may_fix_what_it_replaces() -> None:
    doc = set_at(FULL_FLEET, "spec.template.network.networkType", "Kubernetes-NodePort")
    doc = set_at(
        doc, "spec.template.network.networkConf", [{"name": "PortProtocols", "value": "7777/UDP"}]
    )
    # The template's PortProtocols alone would not do for AWS; the override's own list does.
    assert validation.validate_fleet(fleet(doc)) == []
    doc = set_at(doc, "spec.placement.overrides[0].patch.network.networkConf", None)
    assert [str(p) for p in validation.validate_fleet(fleet(doc))] == [
        "spec.placement.overrides[0].patch.network.networkConf: AmazonWebServices-NLB needs"
        " NlbARNs",
        "spec.placement.overrides[0].patch.network.networkConf: AmazonWebServices-NLB needs"
        " PortProtocols",
        "spec.placement.overrides[0].patch.network.networkConf: AmazonWebServices-NLB needs"
        " NlbVPCId",
    ]


def test_minimums_above_replicas_are_not_an_error() -> None:
    doc = set_at(FULL_FLEET, "spec.placement.clusters[1].min", 50)
    assert validation.validate_fleet(fleet(doc)) == []


def test_partition_is_bounded_by_the_fleet_replicas() -> None:
    doc = set_at(FULL_FLEET, "spec.template.updateStrategy.rollingUpdate.partition", 9)
    assert validation.validate_fleet(fleet(doc)) == []


@pytest.mark.parametrize(
    ("cluster", "paths"),
    [
        (cluster_pb2.Cluster(metadata=meta_pb2.ObjectMeta(name="eu-west-1")), []),
        (
            cluster_pb2.Cluster(
                metadata=meta_pb2.ObjectMeta(
                    name="eu-west-1", labels={"region": "eu", "cloud": "aws", "zone": "eu-1a"}
                )
            ),
            [],
        ),
        (cluster_pb2.Cluster(), ["metadata.name"]),
        (cluster_pb2.Cluster(metadata=meta_pb2.ObjectMeta(name="EU_West")), ["metadata.name"]),
        (
            cluster_pb2.Cluster(metadata=meta_pb2.ObjectMeta(name="eu", namespace="default")),
            ["metadata.namespace"],
        ),
        (
            cluster_pb2.Cluster(metadata=meta_pb2.ObjectMeta(name="eu", labels={"bad key": "x"})),
            ["metadata.labels"],
        ),
        (
            cluster_pb2.Cluster(metadata=meta_pb2.ObjectMeta(name="eu", labels={"cloud": "a b"})),
            ['metadata.labels["cloud"]'],
        ),
    ],
)
def test_cluster_registration(cluster: cluster_pb2.Cluster, paths: list[str]) -> None:
    problems = validation.validate_cluster_registration(cluster)
    assert [problem.path for problem in problems] == paths


def test_an_unparsable_failover_duration_names_the_field() -> None:
    with pytest.raises(errors.ValidationError) as caught:
        fleet(set_at(FULL_FLEET, f"{PL}.failover.after", "soon"))
    assert str(caught.value).startswith(f"{PL}.failover.after: ")
