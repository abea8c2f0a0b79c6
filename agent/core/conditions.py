"""GameServer `status.conditions` as OKG reports them: `PodNormal` (the pod's own reasons for
not running well: its status reason, not scheduled, not Ready while its containers are, waiting
or terminated containers), `NodeNormal` (the node's Ready condition false, or a pressure-like
condition true) and `PersistentVolumeNormal` (a claim the pod mounts is missing or not bound
to an existing volume, or a volume reports a failure reason). Pure: objects in, conditions
out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from . import bodies

Obj = bodies.Json

POD_NORMAL = "PodNormal"
NODE_NORMAL = "NodeNormal"
VOLUME_NORMAL = "PersistentVolumeNormal"
CLAIM_NOT_FOUND = "PersistentVolumeClaim Not Found"
VOLUME_NOT_FOUND = "PersistentVolume Not Found"
_POSITIVE_NODE_CONDITIONS = ("Ready", "SufficientIP")
_POSITIVE_POD_CONDITIONS = ("PodScheduled",)
"""OKG also counts Initialized and ContainersReady not True; they are false on every start and
every in-place update, and their real causes show up in the container states below."""
_STARTING = ("ContainerCreating", "PodInitializing")
"""Waiting reasons every container passes through on a normal start: not a problem (OKG
reports them, which makes a Warning event of every pod start)."""


class _Problems:
    """Reasons and messages, each once, joined by "; " (OKG's format)."""

    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.messages: list[str] = []

    def add(self, reason: str, message: str) -> None:
        if reason and reason not in self.reasons:
            self.reasons.append(reason)
        if message and message not in self.messages:
            self.messages.append(message)

    def condition(self, kind: str) -> bodies.Condition:
        if not self.reasons and not self.messages:
            return {"type": kind, "status": "True"}
        return {
            "type": kind,
            "status": "False",
            "reason": "; ".join(self.reasons),
            "message": "; ".join(self.messages),
        }


def _containers(problems: _Problems, statuses: list[bodies.ContainerStatus]) -> None:
    for status in statuses:
        state = status.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") and waiting["reason"] not in _STARTING:
            problems.add(str(waiting["reason"]), str(waiting.get("message") or ""))
        terminated = state.get("terminated") or {}
        last = (status.get("lastState") or {}).get("terminated") or {}
        if not terminated.get("reason") and not state.get("running"):
            terminated = last
        if terminated.get("reason"):
            problems.add(
                f"ContainerTerminated:{terminated['reason']}",
                f"{terminated.get('message') or ''} ExitCode: {terminated.get('exitCode', 0)}",
            )


def pod_condition(pod: bodies.Raw) -> bodies.Condition:
    status = bodies.as_pod(pod).get("status") or {}
    problems = _Problems()
    if status.get("reason"):
        problems.add(str(status["reason"]), str(status.get("message") or ""))
    conditions = {str(c.get("type")): c for c in status.get("conditions") or []}
    for kind in _POSITIVE_POD_CONDITIONS:
        found = conditions.get(kind)
        if found is not None and found.get("status") != "True":
            problems.add(str(found.get("reason") or ""), str(found.get("message") or ""))
    ready = conditions.get("Ready")
    containers_ready = conditions.get("ContainersReady")
    if (
        ready is not None
        and ready.get("status") == "False"
        and containers_ready is not None
        and containers_ready.get("status") == "True"
    ):
        problems.add(str(ready.get("reason") or ""), str(ready.get("message") or ""))
    _containers(problems, list(status.get("initContainerStatuses") or []))
    _containers(problems, list(status.get("containerStatuses") or []))
    return problems.condition(POD_NORMAL)


def node_condition(node: bodies.Raw) -> bodies.Condition:
    problems = _Problems()
    for found in (bodies.as_node(node).get("status") or {}).get("conditions") or []:
        kind = str(found.get("type"))
        healthy = "True" if kind in _POSITIVE_NODE_CONDITIONS else "False"
        if found.get("status") != healthy:
            problems.add(f"{kind}:{found.get('reason') or ''}", str(found.get("message") or ""))
    return problems.condition(NODE_NORMAL)


def mounted_claims(pod: bodies.Raw) -> list[str]:
    """The PersistentVolumeClaims the pod mounts, in its volumes' order."""
    return [
        str(claim["claimName"])
        for volume in (bodies.as_pod(pod).get("spec") or {}).get("volumes") or []
        if (claim := volume.get("persistentVolumeClaim") or {}).get("claimName")
    ]


def volume_condition(
    pod: bodies.Raw,
    claims: Mapping[str, bodies.Raw | None],
    volumes: Mapping[str, bodies.Raw | None],
) -> bodies.Condition:
    """``claims`` by name (None: not found) for each of ``mounted_claims(pod)``, and ``volumes``
    (PersistentVolumes) by name for each claim's `spec.volumeName`."""
    namespace = bodies.namespace(pod)
    problems = _Problems()
    for name in mounted_claims(pod):
        claim = claims.get(name)
        if claim is None:
            problems.add(CLAIM_NOT_FOUND, f"There is no pvc named {namespace}/{name} in cluster")
            continue
        volume_name = str((bodies.as_claim(claim).get("spec") or {}).get("volumeName") or "")
        found = volumes.get(volume_name) if volume_name else None
        volume = None if found is None else bodies.as_volume(found)
        if volume is None:
            problems.add(
                VOLUME_NOT_FOUND, f"There is no pv which pvc {namespace}/{name} is bound with"
            )
            continue
        status = volume.get("status") or {}
        if status.get("reason"):
            problems.add(str(status["reason"]), str(status.get("message") or ""))
    return problems.condition(VOLUME_NORMAL)


with_times = bodies.with_times


def newly_false(
    conditions: Iterable[bodies.Raw], old: Iterable[bodies.Raw]
) -> list[bodies.Condition]:
    """Conditions that are False now with a reason or message they did not have before (OKG
    records a Warning event for each)."""
    before = {str(c.get("type")): c for c in old}
    return [
        bodies.as_condition(c)
        for c in conditions
        if c.get("status") == "False"
        and any(
            (before.get(str(c.get("type"))) or {}).get(k) != c.get(k)
            for k in bodies.TRANSITION_KEYS
        )
    ]
