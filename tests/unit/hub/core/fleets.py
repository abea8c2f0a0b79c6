"""Fleet documents shared by the hub core tests."""

from __future__ import annotations

import copy
import re
from typing import Any

from gamefleet.v1 import fleet_pb2

from hub.core import documents

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")

# Every field a user can set is populated, with a non-default value where the field has one.
FULL_FLEET: dict[str, Any] = {
    "metadata": {
        "name": "arena",
        "namespace": "games",
        "labels": {"game": "arena", "app.kubernetes.io/part-of": "arena"},
        "annotations": {"example.com/owner": "team arena"},
    },
    "spec": {
        "replicas": 9,
        "template": {
            "gameServerTemplate": {
                "metadata": {
                    "labels": {"game": "arena", "gs-sync/delete-block": "true"},
                    "annotations": {"example.com/build": "1.0 (stable)"},
                },
                "spec": {
                    "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                    "containers": [
                        {"name": "game", "image": "registry.example.com/arena:1.0"},
                        {"name": "config", "image": "registry.example.com/arena-config:1.0"},
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
            "reclaimPolicy": "Delete",
            "serviceName": "arena",
            "reserveGameServerIds": [3, "5-7"],
            "serviceQualities": [
                {
                    "name": "idle",
                    "containerName": "game",
                    "permanent": True,
                    "exec": {"command": ["/bin/check-idle"]},
                    "initialDelaySeconds": 10,
                    "timeoutSeconds": 5,
                    "periodSeconds": 3,
                    "successThreshold": 1,
                    "failureThreshold": 3,
                    "serviceQualityAction": [
                        {
                            "state": True,
                            "result": "idle",
                            "opsState": "WaitToBeDeleted",
                            "updatePriority": 20,
                            "deletionPriority": "{{.Result}}",
                            "networkDisabled": True,
                            "labels": {"quality": "idle", "players": "{{.Result}}"},
                            "annotations": {"example.com/checked": "yes, idle"},
                        }
                    ],
                },
                {
                    "name": "http",
                    "httpGet": {"path": "/healthz", "port": 8080},
                    "serviceQualityAction": [{"state": False, "updatePriority": "-5"}],
                },
                {"name": "tcp", "tcpSocket": {"port": "game"}},
                {
                    "name": "health",
                    "grpc": {"port": 9090, "service": "game"},
                    "serviceQualityAction": [{"state": False, "result": "NOT_SERVING"}],
                },
            ],
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {
                    "partition": 2,
                    "maxUnavailable": "25%",
                    "podUpdatePolicy": "InPlaceIfPossible",
                    "paused": True,
                    "inPlaceUpdateStrategy": {"gracePeriodSeconds": 10},
                    "minReadySeconds": 30,
                    "idleOnly": True,
                },
            },
            "scaleStrategy": {"maxUnavailable": 2, "scaleDownStrategyType": "ReserveIds"},
            "network": {
                "networkType": "Kubernetes-HostPort",
                "networkConf": [{"name": "ContainerPorts", "value": "game:7777/UDP"}],
            },
            "lifecycle": {
                "preDelete": {
                    "labelsHandler": {"gs-sync/delete-block": "true"},
                    "finalizersHandler": ["example.com/drain"],
                    "markPodNotReady": True,
                },
                "inPlaceUpdate": {
                    "labelsHandler": {"gs-sync/update-block": "true"},
                    "finalizersHandler": ["example.com/save"],
                    "markPodNotReady": True,
                },
                "preNormal": {
                    "labelsHandler": {"gs-sync/warm": "true"},
                    "finalizersHandler": ["example.com/warm"],
                    "markPodNotReady": True,
                },
            },
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Delete",
                "whenScaled": "Retain",
            },
        },
        "placement": {
            "clusterSelector": {
                "matchLabels": {"tier": "prod"},
                "matchExpressions": [
                    {"key": "region", "operator": "In", "values": ["eu", "us"]},
                    {"key": "legacy", "operator": "DoesNotExist"},
                    {"key": "stage", "operator": "NotIn", "values": ["test"]},
                ],
            },
            "strategy": "Weighted",
            "failover": {"enabled": True, "after": "30s", "replicasPerSecond": 20},
            "clusters": [
                {
                    "name": "eu-1",
                    "weight": 2,
                    "min": 1,
                    "max": 10,
                    "override": {"serviceName": "arena-eu"},
                },
                {"name": "us-1", "weight": 1, "min": 0},
            ],
            "overrides": [
                {
                    "clusterSelector": {
                        "matchLabels": {"cloud": "aws"},
                        "matchExpressions": [{"key": "cloud", "operator": "In", "values": ["aws"]}],
                    },
                    "patch": {
                        "network": {
                            "networkType": "AmazonWebServices-NLB",
                            "networkConf": [
                                {"name": "NlbARNs", "value": "arn:aws:nlb"},
                                {"name": "NlbVPCId", "value": "vpc-1"},
                                {"name": "PortProtocols", "value": "7777/UDP"},
                            ],
                        }
                    },
                }
            ],
        },
        "updatePolicy": {"type": "Parallel"},
        "rollout": {
            "waves": [
                {
                    "clusters": ["eu-1"],
                    "matchLabels": {"region": "eu"},
                    "percent": 50,
                    "maxConcurrency": 1,
                }
            ],
            "byLabel": {"key": "region", "values": ["us", "ap"]},
            "maxConcurrency": 2,
            "minSuccessTime": "60s",
            "maxFailures": 1,
            "progressDeadline": "600s",
            "qualities": ["idle"],
        },
    },
}

MINIMAL_FLEET: dict[str, Any] = {
    "metadata": {"name": "arena", "namespace": "default"},
    "spec": {
        "replicas": 3,
        "template": {
            "gameServerTemplate": {"spec": {"containers": [{"name": "game", "image": "arena:1"}]}}
        },
    },
}


def set_at(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `doc` with the field at `path` (e.g. `spec.placement.clusters[1].min`) set.

    A value of `DELETE` removes the field instead.
    """
    result = copy.deepcopy(doc)
    steps = [name if name else int(index) for name, index in _STEP.findall(path)]
    parent: Any = result
    for step in steps[:-1]:
        parent = parent[step]
    if value is DELETE:
        del parent[steps[-1]]
    else:
        parent[steps[-1]] = value
    return result


DELETE = object()


def fleet(doc: dict[str, Any]) -> fleet_pb2.Fleet:
    return documents.from_document(doc, fleet_pb2.Fleet)
