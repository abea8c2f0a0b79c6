"""The disruption budget that keeps evictions off Allocated game servers.

A node drain (`kubectl drain`, a node-pool upgrade, the cluster autoscaler) evicts pods through
the Eviction API, which honours PodDisruptionBudgets. Each GameServerSet gets one budget,
`<set>-allocated`, selecting its pods labelled `game.kruise.io/gs-opsState: Allocated` with
`maxUnavailable: 0`: the API server refuses to evict any of them (429), while the set's idle
pods are evicted and the set creates them again on a schedulable node. A pod's label follows its
GameServer's opsState, so the budget covers a server from the moment the agent writes it.
"""

from __future__ import annotations

from okg import vocabulary

from . import bodies, wire

API_VERSION = "policy/v1"
KIND = "PodDisruptionBudget"
SUFFIX = "-allocated"
# On every budget the agent keeps, with the set's name: the agent's cache selects on it.
LABEL = "gamefleet.io/allocated-budget"
ALLOCATED = "Allocated"


def budget_name(set_name: str) -> str:
    return set_name + SUFFIX


def budget_spec(set_name: str) -> bodies.Json:
    return {
        "maxUnavailable": 0,
        "selector": {"matchLabels": {wire.OWNER_GSS: set_name, wire.GS_OPS_STATE: ALLOCATED}},
    }


def budget_body(gss: bodies.Raw) -> bodies.Json:
    """The budget of set ``gss``, owned by it (the garbage collector removes it with the set)."""
    set_name = bodies.name(gss)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": budget_name(set_name),
            "namespace": bodies.namespace(gss),
            "labels": {LABEL: set_name},
            "ownerReferences": [
                bodies.owner_reference(gss, "GameServerSet", vocabulary.API_VERSION)
            ],
        },
        "spec": budget_spec(set_name),
    }


def needs_write(gss: bodies.Raw, budget: bodies.Raw | None) -> bool:
    """True when the set has no budget, or one whose spec someone changed."""
    if bodies.terminating(gss):
        return False
    if budget is None:
        return True
    spec = budget.get("spec") or {}
    wanted = budget_spec(bodies.name(gss))
    return bool(
        spec.get("maxUnavailable") != wanted["maxUnavailable"]
        or spec.get("minAvailable") is not None
        or spec.get("selector") != wanted["selector"]
    )
