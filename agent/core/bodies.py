"""Kubernetes bodies as the agent reads and writes them, and the helpers every module shares.

The API server sends JSON; `json` parses it into plain dicts. These TypedDicts name the parts the
agent reads or writes (as kopf's `bodies` module does), so mypy checks every access; `as_pod`,
`as_game_server`, ... give a parsed object its type where it enters (nothing is validated: the
API server already did that). The helpers take any mapping, so raw dicts pass too.

One place for what every module needs: metadata access, owner references, conditions with
their transition times, and RFC 3339 timestamps.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable, Mapping
from typing import Any, NotRequired, TypedDict, cast

Json = dict[str, Any]
"""Any JSON object (a patch, a body of a kind without a TypedDict here)."""
Raw = Mapping[str, Any]
"""What helpers accept: a typed body or a plain parsed dict."""


# Metadata.


class OwnerReference(TypedDict):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: NotRequired[bool]
    blockOwnerDeletion: NotRequired[bool]


class ObjectMeta(TypedDict, total=False):
    name: str
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    labels: dict[str, str]
    annotations: dict[str, str]
    finalizers: list[str]
    ownerReferences: list[OwnerReference]
    deletionTimestamp: str
    creationTimestamp: str


class Condition(TypedDict, total=False):
    """A status condition (pods, nodes, GameServers, sets)."""

    type: str
    status: str
    reason: str
    message: str
    lastTransitionTime: str
    observedGeneration: int


# Pods.


class ContainerPort(TypedDict, total=False):
    name: str
    containerPort: int
    hostPort: int
    protocol: str


class Container(TypedDict, total=False):
    name: str
    image: str
    ports: list[ContainerPort]


class ContainerStateDetail(TypedDict, total=False):
    reason: str
    message: str
    exitCode: int


class ContainerState(TypedDict, total=False):
    waiting: ContainerStateDetail
    running: Json
    terminated: ContainerStateDetail


class ContainerStatus(TypedDict, total=False):
    name: str
    image: str
    imageID: str
    ready: bool
    restartCount: int
    state: ContainerState
    lastState: ContainerState


class ClaimSource(TypedDict, total=False):
    claimName: str


class Volume(TypedDict, total=False):
    name: str
    persistentVolumeClaim: ClaimSource


class ReadinessGate(TypedDict):
    conditionType: str


class PodSpec(TypedDict, total=False):
    """The parts of a pod spec the agent reads or sets; a template's other fields pass through."""

    containers: list[Container]
    initContainers: list[Container]
    volumes: list[Volume]
    hostname: str
    subdomain: str
    readinessGates: list[ReadinessGate]
    nodeName: str
    nodeSelector: dict[str, str]
    tolerations: list[Json]


class PodStatus(TypedDict, total=False):
    phase: str
    conditions: list[Condition]
    containerStatuses: list[ContainerStatus]
    initContainerStatuses: list[ContainerStatus]
    podIP: str
    hostIP: str
    startTime: str
    reason: str
    message: str


class Pod(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: PodSpec
    status: PodStatus


class PodTemplate(TypedDict, total=False):
    metadata: ObjectMeta
    spec: PodSpec


# Volumes and nodes.


class ClaimSpec(TypedDict, total=False):
    volumeName: str


class PersistentVolumeClaim(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: ClaimSpec


class ClaimRef(TypedDict, total=False):
    namespace: str
    name: str


class VolumeSpec(TypedDict, total=False):
    claimRef: ClaimRef


class VolumeStatus(TypedDict, total=False):
    phase: str
    reason: str
    message: str


class PersistentVolume(TypedDict, total=False):
    metadata: ObjectMeta
    spec: VolumeSpec
    status: VolumeStatus


class NodeAddress(TypedDict):
    type: str
    address: str


class NodeSpec(TypedDict, total=False):
    unschedulable: bool
    taints: list[Json]


class NodeStatus(TypedDict, total=False):
    conditions: list[Condition]
    addresses: list[NodeAddress]
    allocatable: dict[str, str]


class Node(TypedDict, total=False):
    metadata: ObjectMeta
    spec: NodeSpec
    status: NodeStatus


# GameServers (game.kruise.io/v1alpha1).


class GameServerSpec(TypedDict, total=False):
    opsState: str
    updatePriority: int | str
    deletionPriority: int | str
    networkDisabled: bool
    containers: list[Container]


class ContainerSummary(TypedDict):
    name: str | None
    image: str | None
    ready: bool
    restartCount: int


class PodStatusSummary(TypedDict, total=False):
    """What a GameServer's `status.podStatus` carries of its pod's status."""

    phase: str
    ready: bool
    containers: list[ContainerSummary]
    podIP: str
    hostIP: str
    startTime: str
    reason: str
    message: str


class NetworkPort(TypedDict):
    name: str
    protocol: str
    port: int


class NetworkAddress(TypedDict, total=False):
    ip: str
    ports: list[NetworkPort]
    endPoint: str


class NetworkStatus(TypedDict, total=False):
    """A GameServer's `status.networkStatus` (and its pod's `network-status` annotation)."""

    networkType: str
    internalAddresses: list[NetworkAddress]
    externalAddresses: list[NetworkAddress]
    desiredNetworkState: str
    currentNetworkState: str
    createTime: str
    lastTransitionTime: str


class GameServerStatus(TypedDict, total=False):
    desiredState: str
    currentState: str
    updatePriority: int
    deletionPriority: int
    podStatus: PodStatusSummary
    networkStatus: NetworkStatus
    serviceQualitiesConditions: list[Json]
    conditions: list[Condition]
    lastTransitionTime: str


class GameServer(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: GameServerSpec
    status: GameServerStatus


class LifecycleHook(TypedDict, total=False):
    labelsHandler: dict[str, str]
    finalizersHandler: list[str]
    markPodNotReady: bool


class Lifecycle(TypedDict, total=False):
    preDelete: LifecycleHook
    inPlaceUpdate: LifecycleHook


class RollingUpdate(TypedDict, total=False):
    partition: int
    maxUnavailable: int | str | None
    podUpdatePolicy: str
    paused: bool
    minReadySeconds: int
    idleOnly: bool


class UpdateStrategy(TypedDict, total=False):
    type: str
    rollingUpdate: RollingUpdate


class ScaleStrategy(TypedDict, total=False):
    maxUnavailable: int | str | None
    scaleDownStrategyType: str


class GameServerTemplate(TypedDict, total=False):
    metadata: ObjectMeta
    spec: PodSpec
    volumeClaimTemplates: list[PersistentVolumeClaim]
    reclaimPolicy: str


class GameServerSetSpec(TypedDict, total=False):
    replicas: int
    reserveGameServerIds: list[int | str]
    gameServerTemplate: GameServerTemplate
    serviceName: str
    updateStrategy: UpdateStrategy
    scaleStrategy: ScaleStrategy
    lifecycle: Lifecycle
    network: Json
    serviceQualities: list[Json]
    persistentVolumeClaimRetentionPolicy: dict[str, str]


class GameServerSetStatus(TypedDict, total=False):
    observedGeneration: int
    replicas: int
    readyReplicas: int
    availableReplicas: int
    currentReplicas: int
    updatedReplicas: int
    updatedReadyReplicas: int
    maintainingReplicas: int
    waitToBeDeletedReplicas: int
    preDeleteReplicas: int
    allocatedReplicas: int
    heldBackReplicas: int
    labelSelector: str
    conditions: list[Condition]


class GameServerSet(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: GameServerSetSpec
    status: GameServerSetStatus


# Typing parsed JSON where it enters.


def json_of(obj: Raw) -> Json:
    """The body as plain JSON, for code that handles objects of any kind."""
    return cast("Json", obj)


def as_pod(obj: Raw) -> Pod:
    return cast("Pod", obj)


def as_game_server(obj: Raw) -> GameServer:
    return cast("GameServer", obj)


def as_game_server_set(obj: Raw) -> GameServerSet:
    return cast("GameServerSet", obj)


def as_condition(obj: Raw) -> Condition:
    return cast("Condition", obj)


def as_node(obj: Raw) -> Node:
    return cast("Node", obj)


def as_claim(obj: Raw) -> PersistentVolumeClaim:
    return cast("PersistentVolumeClaim", obj)


def as_volume(obj: Raw) -> PersistentVolume:
    return cast("PersistentVolume", obj)


# Metadata access.


def meta(obj: Raw | None) -> ObjectMeta:
    """The object's metadata; empty when it has none."""
    value = obj.get("metadata") if obj else None
    return cast("ObjectMeta", value) if isinstance(value, dict) else {}


def name(obj: Raw | None) -> str:
    return str(meta(obj).get("name", ""))


def namespace(obj: Raw | None) -> str:
    return str(meta(obj).get("namespace", ""))


def key(obj: Raw | None) -> tuple[str, str]:
    """(namespace, name)."""
    m = meta(obj)
    return (str(m.get("namespace", "")), str(m.get("name", "")))


def uid(obj: Raw | None) -> str:
    return str(meta(obj).get("uid", ""))


def resource_version(obj: Raw | None) -> str:
    return str(meta(obj).get("resourceVersion", ""))


def generation(obj: Raw | None) -> int:
    return int(meta(obj).get("generation") or 0)


def labels_of(obj: Raw | None) -> dict[str, str]:
    """A copy of the object's labels."""
    return dict(meta(obj).get("labels") or {})


def annotations_of(obj: Raw | None) -> dict[str, str]:
    """A copy of the object's annotations."""
    return dict(meta(obj).get("annotations") or {})


def finalizers(obj: Raw | None) -> list[str]:
    return list(meta(obj).get("finalizers") or [])


def terminating(obj: Raw | None) -> bool:
    """The object has a deletion timestamp."""
    return bool(meta(obj).get("deletionTimestamp"))


def owner_uid(obj: Raw | None, kind: str) -> str | None:
    """The uid of the object's first owner of `kind`; None when it has none."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("kind") == kind:
            return str(ref.get("uid", ""))
    return None


def owner_reference(owner: Raw, kind: str, api_version: str) -> OwnerReference:
    """A controller reference to `owner` (an object of `kind`), as an owned object carries it."""
    return {
        "apiVersion": str(owner.get("apiVersion") or api_version),
        "kind": kind,
        "name": name(owner),
        "uid": uid(owner),
        "controller": True,
        "blockOwnerDeletion": True,
    }


# Conditions.


def find_condition(conditions: Iterable[Raw] | None, kind: str) -> Condition | None:
    """The condition of type `kind`, or None."""
    for condition in conditions or []:
        if condition.get("type") == kind:
            return as_condition(condition)
    return None


TRANSITION_KEYS = ("status", "reason", "message")
"""A condition transitions when one of these changes (unless a caller says fewer)."""


def with_times(
    conditions: Iterable[Raw],
    old: Iterable[Raw] | None,
    now_text: str,
    compare: tuple[str, ...] = TRANSITION_KEYS,
) -> list[Condition]:
    """Each condition with `lastTransitionTime`: the old one's while the `compare` fields are
    unchanged (so an unchanged condition writes nothing), else `now_text`."""
    before = {str(c.get("type")): c for c in old or []}
    timed: list[Condition] = []
    for condition in conditions:
        previous = before.get(str(condition.get("type"))) or {}
        same = all(previous.get(k) == condition.get(k) for k in compare)
        stamp = previous.get("lastTransitionTime") if same else None
        timed.append(as_condition({**condition, "lastTransitionTime": stamp or now_text}))
    return timed


# Timestamps.


def rfc3339(epoch: float, *, micro: bool = False) -> str:
    """Epoch seconds as the API server writes times (`micro`: a MicroTime, as Leases use)."""
    if micro:
        return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_time(text: object) -> float | None:
    """An RFC 3339 time (with or without fractions; UTC when it names no zone) to epoch
    seconds; None when it is not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()
