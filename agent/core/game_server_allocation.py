"""GameServerAllocation (`allocation.gamefleet.io/v1`): Agones' in-cluster allocation request,
answered by the agent from OKG GameServers (pure: read, check, choose, answer).

A client creates one (`kubectl create -f`); the leader reads it, picks a Ready GameServer of the
namespace with opsState None that the selectors match, takes it through the set's allocation
ledger (the same path, guards and exactly-once as the hub's allocations) and writes the answer
in the request's status: `Allocated` with the server, its node, address and ports;
`UnAllocated` when no server matches; `Invalid` with the field when the request is wrong.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from okg import endpoints, paths
from okg.errors import FieldError, ValidationError

from . import bodies

ALLOCATED = "Allocated"
UNALLOCATED = "UnAllocated"
INVALID = "Invalid"
PACKED = "Packed"
DISTRIBUTED = "Distributed"
MAX_SELECTORS = 16
REQUEST_ID_PREFIX = "gsa-"
"""A request's id in the ledger and on the GameServer's stamp: `gsa-<the object's uid>`."""


@dataclasses.dataclass(frozen=True)
class Request:
    selectors: tuple[Mapping[str, str], ...]
    scheduling: str = PACKED
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A GameServer of the request's namespace, as the choice reads it."""

    name: str
    labels: Mapping[str, str]
    node: str
    free: bool
    """Ready, opsState None, not being deleted, not held by an allocation."""
    allocated: bool


def request_id(gsa: Mapping[str, Any]) -> str:
    return REQUEST_ID_PREFIX + bodies.uid(gsa)


def answered(gsa: Mapping[str, Any]) -> bool:
    return bool((gsa.get("status") or {}).get("state"))


def parse(gsa: Mapping[str, Any]) -> Request:
    """The request; raises ValidationError naming every bad field (`spec.…`)."""
    spec = gsa.get("spec") or {}
    problems: list[FieldError] = []
    if not isinstance(spec, Mapping):
        raise ValidationError([FieldError("spec", "must be an object")])
    selectors_path = "spec.gameServerSelectors"
    raw = spec.get("gameServerSelectors") or []
    selectors: list[Mapping[str, str]] = []
    if not isinstance(raw, list):
        problems.append(FieldError(selectors_path, "must be a list"))
        raw = []
    if len(raw) > MAX_SELECTORS:
        problems.append(FieldError(selectors_path, f"at most {MAX_SELECTORS} selectors"))
    for index, selector in enumerate(raw):
        path = paths.item(selectors_path, index)
        if not isinstance(selector, Mapping):
            problems.append(FieldError(path, "must be an object"))
            continue
        state = selector.get("gameServerState")
        if state not in (None, "Ready"):
            problems.append(
                FieldError(paths.child(path, "gameServerState"), f'"{state}" is not served: Ready')
            )
        match, match_problems = _string_map(
            selector.get("matchLabels"), paths.child(path, "matchLabels")
        )
        problems += match_problems
        selectors.append(match)
    scheduling = spec.get("scheduling") or PACKED
    if scheduling not in (PACKED, DISTRIBUTED):
        problems.append(
            FieldError("spec.scheduling", f'"{scheduling}" must be {PACKED} or {DISTRIBUTED}')
        )
    metadata = spec.get("metadata") or {}
    labels, label_problems = _string_map(
        metadata.get("labels") if isinstance(metadata, Mapping) else None,
        "spec.metadata.labels",
    )
    annotations, annotation_problems = _string_map(
        metadata.get("annotations") if isinstance(metadata, Mapping) else None,
        "spec.metadata.annotations",
    )
    problems += label_problems + annotation_problems
    if problems:
        raise ValidationError(problems)
    return Request(tuple(selectors) or ({},), str(scheduling), labels, annotations)


def _string_map(value: object, path: str) -> tuple[dict[str, str], list[FieldError]]:
    if value is None:
        return {}, []
    if not isinstance(value, Mapping):
        return {}, [FieldError(path, "must be an object")]
    bad = [k for k, v in value.items() if not isinstance(v, str)]
    return (
        {str(k): str(v) for k, v in value.items()},
        [FieldError(paths.entry(path, str(k)), "must be a string") for k in bad],
    )


def order(request: Request, candidates: Sequence[Candidate]) -> list[str]:
    """Free servers to try, best first: those of the first selector that matches any (as
    Agones), by node — Packed: the node with the most Allocated servers first, Distributed:
    the fewest — then by name."""
    per_node: dict[str, int] = {}
    for candidate in candidates:
        if candidate.allocated:
            per_node[candidate.node] = per_node.get(candidate.node, 0) + 1
    sign = -1 if request.scheduling == PACKED else 1
    for selector in request.selectors:
        matching = [
            c
            for c in candidates
            if c.free and all(c.labels.get(k) == v for k, v in selector.items())
        ]
        if matching:
            matching.sort(key=lambda c: (sign * per_node.get(c.node, 0), c.node, c.name))
            return [c.name for c in matching]
    return []


def allocated_status(game_server: Mapping[str, Any], node: str) -> dict[str, Any]:
    """The answer for a taken server: its name, node, and where players reach it."""
    network = (game_server.get("status") or {}).get("networkStatus") or {}
    found = endpoints.endpoints(network if isinstance(network, Mapping) else {})
    return {
        "state": ALLOCATED,
        "gameServerName": bodies.name(game_server),
        "nodeName": node,
        "address": found.address,
        "ports": [{"name": name, "port": port} for name, port in found.ports],
        "message": "",
    }


def unallocated_status() -> dict[str, Any]:
    return {"state": UNALLOCATED, "message": "no Ready, unallocated GameServer matches"}


def invalid_status(error: ValidationError) -> dict[str, Any]:
    return {"state": INVALID, "message": str(error)}
