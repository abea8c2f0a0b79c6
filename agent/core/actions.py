"""Service-quality actions as GameServer patches (the writer's half of `agent.core.quality`).

Probers report outcomes in `status.serviceQualitiesConditions`; the leader compares them with
the record of what it last acted on, kept on the GameServer in the annotation
`gamefleet.io/service-quality-actions` (so a permanent action fires once across restarts and
leader changes), and writes the action and the new record in one patch guarded by the
GameServer's resourceVersion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from okg import service_quality

from . import bodies, quality, writes

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

RECORD_ANNOTATION = "gamefleet.io/service-quality-actions"


def qualities_of(gss: bodies.Raw) -> tuple[service_quality.ServiceQuality, ...]:
    """The set's service qualities; an invalid list counts as none (the prober logs why)."""
    try:
        return quality.parse_qualities(
            (bodies.as_game_server_set(gss).get("spec") or {}).get("serviceQualities")
        )
    except quality.QualitySpecError:
        return ()


def plan(
    qualities: Sequence[service_quality.ServiceQuality], gs: bodies.Raw, now: str
) -> tuple[bodies.Json | None, quality.Decision]:
    """The merge patch for one GameServer (None when nothing changes), and the decision."""
    notes = bodies.annotations_of(gs)
    records = quality.decode_records(notes.get(RECORD_ANNOTATION))
    status = bodies.as_game_server(gs).get("status") or {}
    outcomes = quality.outcomes_from_conditions(status.get("serviceQualitiesConditions"))
    decision = quality.decide(qualities, outcomes, records, now)
    if not decision.changed and decision.records == records:
        return None, decision
    patch_meta: bodies.Json = {
        "resourceVersion": bodies.meta(gs).get("resourceVersion"),
        "annotations": {
            **decision.annotations,
            RECORD_ANNOTATION: quality.encode_records(decision.records),
        },
    }
    if decision.labels:
        patch_meta["labels"] = dict(decision.labels)
    patch: bodies.Json = {"metadata": patch_meta}
    if decision.spec:
        patch["spec"] = dict(decision.spec)
    return patch, decision


def patches(
    gss: bodies.Raw, game_servers: Iterable[bodies.GameServer], now: str
) -> tuple[writes.Patch, ...]:
    """The actions due on these GameServers, each guarded by the version it was decided on
    (a newer GameServer is skipped: its event brings it back)."""
    qualities = qualities_of(gss)
    if not qualities:
        return ()
    found: list[writes.Patch] = []
    for gs in game_servers:
        patch, decision = plan(qualities, gs, now)
        if patch is None:
            continue
        name = bodies.name(gs)
        note = ""
        if decision.fired:
            note = (f"service quality {','.join(decision.fired)} fired on "
                    f"{bodies.namespace(gs)}/{name}: {decision.spec}")  # fmt: skip
        events = tuple(
            writes.Event("Warning", "ServiceQualityTemplate", error, about=name)
            for error in decision.errors
        )
        found.append(writes.Patch(writes.Kind.GAME_SERVER, name, patch, events=events, note=note))
    return tuple(found)
