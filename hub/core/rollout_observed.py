"""What a progressive rollout's gates read of one cluster, from its agent's reports."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from gamefleet.v1 import agent_pb2, gameserver_pb2

from . import allocation
from .rollout_progress import Observed

READY = "Ready"
# A quality condition's status when its probe fails (OKG writes "True" or "False").
FAILING = "False"


def template_of(set_hash: str) -> str:
    """The template part of a set hash (``desired_sets.set_hash``: template, then replicas)."""
    return set_hash.rpartition("-")[0] or set_hash


def _wanted(desired_hash: str, reported: agent_pb2.GameServerSetStatus) -> int:
    """The servers the cluster should run: the hub's replicas (a status written before the
    agent scaled the set asks for fewer), or its local owner's (an HPA) when it has one."""
    replicas = desired_hash.rpartition("-")[2]
    if reported.replicas_owner or not replicas.isdigit():
        return reported.desired_replicas
    return int(replicas)


def observe(
    desired_hash: str,
    held_hash: str | None,
    reported: agent_pb2.GameServerSetStatus | None,
    servers: Iterable[gameserver_pb2.GameServer],
    qualities: Collection[str],
) -> Observed:
    """The cluster's copy of the fleet as the gates see it: ``desired_hash`` and ``held_hash``
    are set hashes, ``servers`` the fleet's servers there (read only when the cluster holds
    the desired template), ``qualities`` those whose failure counts (empty: every one).

    A server's ``updated`` is relative to the template its agent last applied, so servers are
    judged only once the agent reports the desired one applied: until then their reports may
    be of the template before (a rollback's first moments would fail it for the old image)."""
    desired = template_of(desired_hash)
    holds = template_of(held_hash) if held_hash is not None else None
    if holds != desired:
        return Observed(desired, holds)
    if reported is None or template_of(reported.applied_hash) != desired:
        return Observed(desired, holds)
    not_ready: list[str] = []
    failing: list[str] = []
    old_allocated = 0
    for server in servers:
        if server.deleted:
            continue
        if not server.updated:
            old_allocated += server.ops_state == allocation.ALLOCATED
            continue
        if server.state != READY:
            not_ready.append(server.name)
        for condition in server.quality_conditions:
            name = condition.fields["name"].string_value if "name" in condition.fields else ""
            status = condition.fields["status"].string_value if "status" in condition.fields else ""
            if status == FAILING and (not qualities or name in qualities):
                failing.append(f"{server.name}: {name}")
    settled = (
        not not_ready
        # Allocated servers on the older template update once their games end.
        and reported.counts.updated_ready + old_allocated >= _wanted(desired_hash, reported)
    )
    return Observed(desired, holds, settled, tuple(sorted(not_ready)), tuple(sorted(failing)))
