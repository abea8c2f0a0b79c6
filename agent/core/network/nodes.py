"""Which nodes a pod may be placed on, and a node's address (pure, over Node objects)."""

from __future__ import annotations

from agent.core import bodies


def node_ready(node: bodies.Json) -> bool:
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _tolerates(tolerations: list[bodies.Json], taint: bodies.Json) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def fits(node: bodies.Json, pod_spec: bodies.Json) -> bool:
    """Ready, schedulable, matching the pod's nodeSelector, tolerating its hard taints."""
    if not node_ready(node):
        return False
    labels = bodies.labels_of(node)
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    tolerations = list(pod_spec.get("tolerations") or [])
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(
            tolerations, taint
        ):
            return False
    return True


def node_ip(node: bodies.Json | None) -> str:
    """ExternalIP, else InternalIP, else ''."""
    addresses = ((node or {}).get("status") or {}).get("addresses") or []
    for kind in ("ExternalIP", "InternalIP"):
        for address in addresses:
            if address.get("type") == kind and address.get("address"):
                return str(address["address"])
    return ""


def pin_to_node(pod_spec: bodies.Json, node: str) -> None:
    """Require `node` as the DaemonSet controller does: a `metadata.name` field match added to
    every required node-affinity term (so the template's own affinity still applies), and the
    scheduler still checks capacity, taints and host-port conflicts."""
    field = {"key": "metadata.name", "operator": "In", "values": [node]}
    affinity = pod_spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    required = node_affinity.setdefault(
        "requiredDuringSchedulingIgnoredDuringExecution", {"nodeSelectorTerms": []}
    )
    terms = required.setdefault("nodeSelectorTerms", [])
    if not terms:
        terms.append({})
    for term in terms:
        term["matchFields"] = [
            f for f in term.get("matchFields") or [] if f.get("key") != "metadata.name"
        ] + [field]
