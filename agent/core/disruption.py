"""The disruption budgets that keep evictions off game servers in use.

A node drain (`kubectl drain`, a node-pool upgrade, the cluster autoscaler) evicts pods through
the Eviction API, which honours PodDisruptionBudgets. Each GameServerSet gets two budgets with
`maxUnavailable: 0`: `<set>-allocated` selects its pods labelled `game.kruise.io/gs-opsState:
Allocated`, `<set>-players` those labelled `gamefleet.io/holds-players: "true"` (a server with
players on its counters or lists; a selector cannot say "either", hence two). The API server
refuses to evict any of them (429), while the set's idle pods are evicted and the set creates
them again on a schedulable node. The labels follow the GameServer, so a budget covers a server
from the moment the agent writes it.
"""

from __future__ import annotations

from okg import vocabulary

from . import bodies, wire

API_VERSION = "policy/v1"
KIND = "PodDisruptionBudget"
SUFFIX = "-allocated"
PLAYERS_SUFFIX = "-players"
# On every budget the agent keeps, with the set's name: the agent's cache selects on it.
LABEL = "gamefleet.io/allocated-budget"
ALLOCATED = "Allocated"


def budget_name(set_name: str) -> str:
    return set_name + SUFFIX


def players_budget_name(set_name: str) -> str:
    return set_name + PLAYERS_SUFFIX


def budget_specs(set_name: str) -> dict[str, bodies.Json]:
    """Each budget of the set, by name, with its spec."""
    return {
        budget_name(set_name): _spec({wire.OWNER_GSS: set_name, wire.GS_OPS_STATE: ALLOCATED}),
        players_budget_name(set_name): _spec(
            {wire.OWNER_GSS: set_name, wire.HOLDS_PLAYERS: "true"}
        ),
    }


def _spec(selected: dict[str, str]) -> bodies.Json:
    return {"maxUnavailable": 0, "selector": {"matchLabels": selected}}


def budget_body(gss: bodies.Raw, name: str | None = None) -> bodies.Json:
    """The budget ``name`` (default: the Allocated pods') of set ``gss``, owned by it (the
    garbage collector removes it with the set)."""
    set_name = bodies.name(gss)
    name = name or budget_name(set_name)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": bodies.namespace(gss),
            "labels": {LABEL: set_name},
            "ownerReferences": [
                bodies.owner_reference(gss, "GameServerSet", vocabulary.API_VERSION)
            ],
        },
        "spec": budget_specs(set_name)[name],
    }


def needs_write(gss: bodies.Raw, budget: bodies.Raw | None, name: str | None = None) -> bool:
    """True when the set has no budget ``name`` (default: the Allocated pods'), or one whose
    spec someone changed."""
    if bodies.terminating(gss):
        return False
    if budget is None:
        return True
    spec = budget.get("spec") or {}
    set_name = bodies.name(gss)
    wanted = budget_specs(set_name)[name or budget_name(set_name)]
    return bool(
        spec.get("maxUnavailable") != wanted["maxUnavailable"]
        or spec.get("minAvailable") is not None
        or spec.get("selector") != wanted["selector"]
    )
