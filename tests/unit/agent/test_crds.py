"""The CRDs load, are structural, cover OKG's fields, and reject what a schema can reject."""

from __future__ import annotations

import dataclasses
import pathlib
import re
from typing import Any

import pytest
import yaml

from agent.core import status

CRDS = pathlib.Path(__file__).parents[3] / "deploy" / "agent" / "crds.yaml"
Schema = dict[str, Any]


def load() -> dict[str, Any]:
    with CRDS.open() as stream:
        documents = list(yaml.safe_load_all(stream))
    return {d["spec"]["names"]["kind"]: d for d in documents}


def version(kind: str) -> dict[str, Any]:
    (served,) = load()[kind]["spec"]["versions"]
    return served  # type: ignore[no-any-return]


def schema(kind: str) -> Schema:
    return version(kind)["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def at(node: Schema, path: str) -> Schema:
    for part in path.split("."):
        node = node["items"] if part == "[]" else node["properties"][part]
    return node


def structural_errors(node: Schema, path: str = "") -> list[str]:
    """The structural-schema rules a hand-written schema most easily breaks."""
    errors: list[str] = []
    open_node = node.get("x-kubernetes-int-or-string") or node.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if "type" not in node and not node.get("x-kubernetes-int-or-string"):
        errors.append(f"{path}: no type")
    if "properties" in node and node.get("type") != "object":
        errors.append(f"{path}: properties on a non-object")
    if node.get("type") == "array" and "items" not in node:
        errors.append(f"{path}: array without items")
    if node.get("type") == "object" and not (
        "properties" in node or "additionalProperties" in node or open_node or path == ".metadata"
    ):
        errors.append(f"{path}: object with no fields would prune everything")
    for key in ("anyOf", "oneOf", "allOf", "not"):
        if key in node:
            errors.append(f"{path}: {key} is not needed here")
    for name, child in node.get("properties", {}).items():
        errors += structural_errors(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        errors += structural_errors(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        errors += structural_errors(node["additionalProperties"], f"{path}{{}}")
    return errors


def validate(node: Schema, value: Any, path: str = "") -> list[str]:
    """A small OpenAPI v3 validator for the keywords the CRDs use."""
    if node.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            return [f"{path}: must be an integer or a string"]
    elif not _type_matches(node.get("type"), value):
        return [f"{path}: must be {node.get('type')}"]
    errors: list[str] = []
    if "enum" in node and value not in node["enum"]:
        errors.append(f"{path}: {value!r} not in {node['enum']}")
    number = isinstance(value, int) and not isinstance(value, bool)
    if number and not node.get("minimum", value) <= value <= node.get("maximum", value):
        errors.append(f"{path}: {value} out of range")
    if isinstance(value, str) and "pattern" in node and not re.search(node["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {node['pattern']}")
    if isinstance(value, dict):
        errors += [f"{path}.{k}: required" for k in node.get("required", []) if k not in value]
        for key, child in value.items():
            if key in node.get("properties", {}):
                errors += validate(node["properties"][key], child, f"{path}.{key}")
            elif isinstance(node.get("additionalProperties"), dict):
                errors += validate(node["additionalProperties"], child, f"{path}.{key}")
    if isinstance(value, list):
        for index, item in enumerate(value):
            errors += validate(node["items"], item, f"{path}[{index}]")
    return errors


def _type_matches(kind: str | None, value: Any) -> bool:
    expected: dict[str | None, type | tuple[type, ...]] = {
        "object": dict,
        "array": list,
        "string": str,
        "boolean": bool,
        "integer": int,
        None: object,
    }
    if kind == "integer" and isinstance(value, bool):
        return False
    return isinstance(value, expected[kind])


OKG_MANIFEST: dict[str, Any] = {
    "apiVersion": "game.kruise.io/v1alpha1",
    "kind": "GameServerSet",
    "metadata": {"name": "minecraft"},
    "spec": {
        "replicas": 3,
        "gameServerTemplate": {
            "reclaimPolicy": "Delete",
            "metadata": {"labels": {"gs-sync/delete-block": "true"}},
            "spec": {"containers": [{"name": "game", "image": "mc:1", "ports": [{"x": 1}]}]},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}}],
        },
        "reserveGameServerIds": [1, "3-6"],
        "serviceQualities": [
            {
                "name": "healthy",
                "containerName": "game",
                "permanent": False,
                "exec": {"command": ["/bin/check"]},
                "serviceQualityAction": [
                    {"state": True, "result": "idle", "opsState": "WaitToBeDeleted"},
                    {"state": False, "updatePriority": 20, "labels": {"a": "b"}},
                ],
            }
        ],
        "updateStrategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {
                "partition": 1,
                "maxUnavailable": "25%",
                "podUpdatePolicy": "InPlaceIfPossible",
                "paused": False,
                "idleOnly": True,
                "inPlaceUpdateStrategy": {"gracePeriodSeconds": 10},
                "minReadySeconds": 30,
            },
        },
        "scaleStrategy": {"maxUnavailable": 2, "scaleDownStrategyType": "ReserveIds"},
        "network": {
            "networkType": "Kubernetes-NodePort",
            "networkConf": [{"name": "PortProtocols", "value": "8080/TCP"}],
        },
        "lifecycle": {"preDelete": {"labelsHandler": {"gs-sync/delete-block": "true"}}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
    },
}


def test_the_crds_load_with_group_names_and_categories() -> None:
    crds = load()
    assert set(crds) == {"GameServerSet", "GameServer", "GameServerAllocation"}
    for kind, short, group, served in (
        ("GameServerSet", "gss", "game.kruise.io", "v1alpha1"),
        ("GameServer", "gs", "game.kruise.io", "v1alpha1"),
        ("GameServerAllocation", "gsa", "allocation.gamefleet.io", "v1"),
    ):
        spec = crds[kind]["spec"]
        assert spec["group"] == group
        assert spec["scope"] == "Namespaced"
        assert spec["names"]["shortNames"] == [short]
        assert "gamefleet" in spec["names"]["categories"]
        assert version(kind)["name"] == served
        assert version(kind)["served"] is version(kind)["storage"] is True


@pytest.mark.parametrize("kind", ["GameServerSet", "GameServer", "GameServerAllocation"])
def test_schemas_are_structural(kind: str) -> None:
    assert structural_errors(schema(kind)) == []


def test_gss_subresources() -> None:
    subresources = version("GameServerSet")["subresources"]
    assert subresources == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.labelSelector",
        },
    }
    assert version("GameServer")["subresources"] == {"status": {}}


@pytest.mark.parametrize(
    ("kind", "columns"),
    [
        (
            "GameServerSet",
            [
                "DESIRED",
                "CURRENT",
                "UPDATED",
                "READY",
                "MAINTAINING",
                "WAITTOBEDELETED",
                "PREDELETE",
                "ALLOCATED",
                "AGE",
            ],
        ),
        ("GameServer", ["STATE", "OPSSTATE", "DP", "UP", "AGE"]),
    ],
)
def test_printer_columns_point_at_schema_fields(kind: str, columns: list[str]) -> None:
    printed = version(kind)["additionalPrinterColumns"]
    assert [c["name"] for c in printed] == columns
    for column in printed:
        if column["jsonPath"] != ".metadata.creationTimestamp":
            at(schema(kind), column["jsonPath"].lstrip("."))


def test_gss_status_schema_matches_the_status_dataclass() -> None:
    names = {
        re.sub(r"_(\w)", lambda m: m.group(1).upper(), f.name)
        for f in dataclasses.fields(status.GameServerSetStatus)
    }
    assert set(at(schema("GameServerSet"), "status")["properties"]) == names


@pytest.mark.parametrize(
    "path",
    [
        "spec.replicas",
        "spec.gameServerTemplate.reclaimPolicy",
        "spec.gameServerTemplate.volumeClaimTemplates",
        "spec.serviceName",
        "spec.reserveGameServerIds",
        "spec.serviceQualities.[].serviceQualityAction.[].networkDisabled",
        "spec.updateStrategy.rollingUpdate.inPlaceUpdateStrategy.gracePeriodSeconds",
        "spec.updateStrategy.rollingUpdate.idleOnly",
        "spec.scaleStrategy.maxUnavailable",
        "spec.network.networkConf.[].value",
        "spec.lifecycle.inPlaceUpdate.finalizersHandler",
        "spec.persistentVolumeClaimRetentionPolicy.whenScaled",
    ],
)
def test_gss_schema_covers_okg_fields(path: str) -> None:
    at(schema("GameServerSet"), path)


@pytest.mark.parametrize(
    "path",
    [
        "spec.opsState",
        "spec.containers.[].image",
        "status.networkStatus.externalAddresses.[].ports.[].port",
        "status.networkStatus.internalAddresses.[].portRange.portRange",
        "status.networkStatus.currentNetworkState",
        "status.serviceQualitiesConditions.[].lastActionTransitionTime",
        "status.podStatus",
        "status.conditions.[].type",
    ],
)
def test_gs_schema_covers_okg_fields(path: str) -> None:
    at(schema("GameServer"), path)


def test_an_okg_manifest_is_valid() -> None:
    assert validate(schema("GameServerSet"), OKG_MANIFEST) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.replicas", -1),
        ("spec.replicas", "3"),
        ("spec.gameServerTemplate.reclaimPolicy", "Orphan"),
        ("spec.reserveGameServerIds", [-1]),
        ("spec.reserveGameServerIds", ["a-b"]),
        ("spec.reserveGameServerIds", [True]),
        ("spec.updateStrategy.type", "Partition"),
        ("spec.updateStrategy.rollingUpdate.podUpdatePolicy", "InPlace"),
        ("spec.updateStrategy.rollingUpdate.minReadySeconds", 301),
        ("spec.updateStrategy.rollingUpdate.maxUnavailable", "3"),
        ("spec.scaleStrategy.scaleDownStrategyType", "Random"),
        ("spec.serviceQualities", [{"name": "g", "grpc": {"port": 0}}]),
        ("spec.serviceQualities", [{"name": "g", "grpc": {"service": "game"}}]),
    ],
)
def test_schema_rejects(path: str, value: Any) -> None:
    manifest: Any = yaml.safe_load(yaml.safe_dump(OKG_MANIFEST))
    *parents, leaf = path.split(".")
    node = manifest
    for part in parents:
        node = node[part]
    node[leaf] = value
    assert validate(schema("GameServerSet"), manifest) != []


def test_every_probe_handler_is_in_the_schema() -> None:
    manifest: Any = yaml.safe_load(yaml.safe_dump(OKG_MANIFEST))
    manifest["spec"]["serviceQualities"] = [
        {"name": "e", "exec": {"command": ["true"]}},
        {"name": "h", "httpGet": {"path": "/q", "port": "http"}},
        {"name": "t", "tcpSocket": {"port": 7000}},
        {"name": "g", "grpc": {"port": 9090, "service": "game"}},
    ]
    assert validate(schema("GameServerSet"), manifest) == []
    qualities = at(schema("GameServerSet"), "spec.serviceQualities.[]")
    for handler in ("exec", "httpGet", "tcpSocket", "grpc"):
        assert qualities["properties"][handler]["type"] == "object"


def test_ops_state_is_a_free_string_and_priorities_int_or_string() -> None:
    gs = {"spec": {"opsState": "Busy", "updatePriority": "20", "deletionPriority": 5}}
    assert validate(schema("GameServer"), gs) == []
    assert validate(schema("GameServer"), {"spec": {"deletionPriority": 1.5}}) != []


def test_network_type_is_immutable() -> None:
    network_type = at(schema("GameServerSet"), "spec.network.networkType")
    assert network_type["x-kubernetes-validations"] == [
        {"rule": "self == oldSelf", "message": "networkType is immutable"}
    ]
