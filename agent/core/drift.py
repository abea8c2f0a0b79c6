"""Who changed a hub-managed GameServerSet's spec, read from its managedFields.

Server-side apply records, per field manager, the fields it last set. When anyone else changes
a field the agent applied (`kubectl scale`, `kubectl edit`, a patch), the field moves to that
manager's entry. So a spec field owned by another manager is drift: the hub's desired set no
longer holds there. A HorizontalPodAutoscaler (KEDA's ScaledObject works through one) is the
exception the agent must not fight: it owns `spec.replicas` through the scale subresource.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

# The manager the API server records for the HorizontalPodAutoscaler controller's writes.
HPA_MANAGER = "kube-controller-manager"
HPA_OWNER = "HorizontalPodAutoscaler"
REPLICAS = "spec.replicas"
# At most this many drifted fields are reported per set; the rest are counted.
MAX_REPORTED = 8


def _entries(managed_fields: object) -> Iterable[Mapping[str, Any]]:
    if not isinstance(managed_fields, list):
        return []
    return [entry for entry in managed_fields if isinstance(entry, Mapping)]


def _segment(key: str) -> str:
    """A fieldsV1 key as a path segment: f:name → .name, k:{...} → [k=v], v:x → [x], i:n → [n]."""
    kind, _, rest = key.partition(":")
    if kind == "f":
        return f".{rest}"
    if kind == "k":
        try:
            fields = json.loads(rest)
        except ValueError:
            return f"[{rest}]"
        if isinstance(fields, dict):
            return "[" + ",".join(f"{k}={v}" for k, v in sorted(fields.items())) + "]"
    return f"[{rest}]"


def _leaves(fields: Mapping[str, Any], prefix: str) -> list[str]:
    """The paths of the fields a fieldsV1 tree owns (a "." entry owns the map itself)."""
    children = [key for key in fields if key != "."]
    if not children:
        return [prefix]
    paths = []
    for key in children:
        inner = fields[key]
        path = prefix + _segment(key)
        paths += _leaves(inner, path) if isinstance(inner, Mapping) else [path]
    return paths


def spec_fields_by_manager(managed_fields: object) -> list[tuple[str, str, str]]:
    """(path, manager, subresource) of every spec field each manager owns."""
    found = []
    for entry in _entries(managed_fields):
        spec = (entry.get("fieldsV1") or {}).get("f:spec")
        if not isinstance(spec, Mapping):
            continue
        manager, subresource = str(entry.get("manager", "")), str(entry.get("subresource", ""))
        found += [(path, manager, subresource) for path in _leaves(spec, "spec")]
    return found


def replicas_owner(managed_fields: object, annotated: str = "") -> str:
    """Who sets spec.replicas in the cluster instead of the hub: the owner an annotation names,
    or the HorizontalPodAutoscaler when its controller last scaled the set; else ""."""
    if annotated:
        return annotated
    for path, manager, subresource in spec_fields_by_manager(managed_fields):
        if path == REPLICAS and manager == HPA_MANAGER and subresource == "scale":
            return HPA_OWNER
    return ""


def drift(managed_fields: object, own_manager: str, replicas_owner: str = "") -> list[str]:
    """The spec fields someone other than ``own_manager`` set, as "<path> by <manager>", the
    subresource in parentheses; spec.replicas is left out when a local owner sets it."""
    changed = []
    for path, manager, subresource in spec_fields_by_manager(managed_fields):
        if manager == own_manager or (replicas_owner and path == REPLICAS):
            continue
        changed.append(f"{path} by {manager or 'an unnamed manager'}" + (
            f" ({subresource})" if subresource else ""
        ))  # fmt: skip
    changed.sort()
    if len(changed) > MAX_REPORTED:
        more = len(changed) - MAX_REPORTED + 1
        changed = [*changed[: MAX_REPORTED - 1], f"and {more} more fields"]
    return changed
