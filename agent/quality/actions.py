"""The writer's half: derive and apply service-quality actions for one set's GameServers.

Probers report outcomes in `status.serviceQualitiesConditions`; the leader's reconciler calls
`apply`, which compares them with the record of what it last acted on, kept on the GameServer in
the annotation `gamefleet.io/service-quality-actions` (so a permanent action fires once across
restarts and leader changes), and writes the action and the new record in one patch guarded by
the GameServer's resourceVersion.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from agent.core import quality
from agent.kube import client as kclient
from agent.kube import resources

if TYPE_CHECKING:
    from collections.abc import Sequence

    from agent.kube.events import EventRecorder

Obj = dict[str, Any]
RECORD_ANNOTATION = "gamefleet.io/service-quality-actions"

_log = logging.getLogger(__name__)


def qualities_of(gss: Obj) -> tuple[quality.ServiceQuality, ...]:
    """The set's service qualities; an invalid list counts as none (the prober logs why)."""
    try:
        return quality.parse_qualities((gss.get("spec") or {}).get("serviceQualities"))
    except quality.QualitySpecError:
        return ()


def plan(
    qualities: Sequence[quality.ServiceQuality], gs: Obj, now: str
) -> tuple[Obj | None, quality.Decision]:
    """The merge patch for one GameServer (None when nothing changes), and the decision."""
    meta = gs.get("metadata") or {}
    notes = meta.get("annotations") or {}
    records = quality.decode_records(notes.get(RECORD_ANNOTATION))
    outcomes = quality.outcomes_from_conditions(
        (gs.get("status") or {}).get("serviceQualitiesConditions")
    )
    decision = quality.decide(qualities, outcomes, records, now)
    if not decision.changed and decision.records == records:
        return None, decision
    patch_meta: Obj = {
        "resourceVersion": meta.get("resourceVersion"),
        "annotations": {
            **decision.annotations,
            RECORD_ANNOTATION: quality.encode_records(decision.records),
        },
    }
    if decision.labels:
        patch_meta["labels"] = dict(decision.labels)
    patch: Obj = {"metadata": patch_meta}
    if decision.spec:
        patch["spec"] = dict(decision.spec)
    return patch, decision


async def apply(
    kube: kclient.KubeClient,
    recorder: EventRecorder,
    gss: Obj,
    game_servers: Sequence[Obj],
    now: str,
) -> list[Obj]:
    """Apply the actions due on these GameServers; returns the written objects."""
    qualities = qualities_of(gss)
    if not qualities:
        return []
    results = await asyncio.gather(
        *(_apply_one(kube, recorder, qualities, gs, now) for gs in game_servers)
    )
    return [r for r in results if r is not None]


async def _apply_one(
    kube: kclient.KubeClient,
    recorder: EventRecorder,
    qualities: Sequence[quality.ServiceQuality],
    gs: Obj,
    now: str,
) -> Obj | None:
    patch, decision = plan(qualities, gs, now)
    if patch is None:
        return None
    meta = gs.get("metadata") or {}
    try:
        result = await kube.patch(
            resources.GAME_SERVER, str(meta.get("namespace")), str(meta.get("name")), patch
        )
    except kclient.ApiError as exc:
        if exc.conflict or exc.not_found:
            return None  # a newer GameServer: its event brings the set back
        raise
    for error in decision.errors:
        await recorder.record(result, "Warning", "ServiceQualityTemplate", error)
    if decision.fired:
        _log.info("service quality %s fired on %s/%s: %s", ",".join(decision.fired),
                  meta.get("namespace"), meta.get("name"), decision.spec)  # fmt: skip
    return result
