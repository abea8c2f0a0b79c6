"""The GameServerSet reconciler as a pure plan: observed objects in, ordered writes out.

`plan(observed)` decides everything one reconcile of a set writes, in this order:

1. the set: `replicas` lowered by Kill servers (guarded by resourceVersion), then the reserve
   memory annotations and, with `ReserveIds`, `spec.reserveGameServerIds` (a conflict ends the
   reconcile and it runs again);
2. pod deletions (scale-down, reserved ids, Kill), then creations (at most `CREATE_BATCH`);
3. updates: in-place image patches and recreations, then per-server image overrides;
4. each other server: pod labels and annotations, the markPodNotReady condition, the preDelete
   release, its GameServer (created, or its status), events; GameServers that outlived their
   pod go;
5. service-quality actions;
6. the set's status.

Network plugins do I/O (Services, load balancers): they stay executor steps. The executor asks
the plugin for each server's network before step 4 and hands the outcome to `Plan.server`, and
runs the plugin's per-set cleanup after step 5 (for `Plan.decisions.scale.target`).

`decide` is the set-level part alone (scale, creations, updates). A change of one server
reconciles the whole set only when `decide` over the new views asks for a set-level write or
moves the PreUpdate holds (`needs_set`); otherwise `plan_servers` plans that server's writes
and the set's status. In a steady set, a change of ops state, priority or readiness cannot
move the set-level answer, and `decide` is not even run (`needs_decide`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from okg import reserve_ids, vocabulary

from . import (
    actions,
    bodies,
    creation,
    model,
    scaling,
    servers,
    status,
    updates,
    views,
    writes,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

CREATE_BATCH = 500
"""Most game servers one reconcile creates; a larger scale-up continues in the next run."""


@dataclasses.dataclass(frozen=True)
class Observed:
    """One set and what it owns, as the caches show them at `now` (epoch seconds)."""

    gss: bodies.GameServerSet
    pods: Mapping[int, bodies.Pod]
    """The set's pods by ordinal (`views.servers_of`)."""
    game_servers: Mapping[int, bodies.GameServer]
    now: float
    around: servers.Surroundings = dataclasses.field(default_factory=servers.Surroundings)


@dataclasses.dataclass(frozen=True)
class Decisions:
    """The set-level answer: scale, create, update."""

    desired: model.GameServerSetView
    """The set's desired state once `replicas` is lowered for Kill servers."""
    scale: scaling.ScalePlan
    memory_patch: bodies.Json
    """The reserve memory (and ReserveIds write-back) patch; empty when nothing changes."""
    creations: tuple[int, ...]
    """This reconcile's share of `scale.create`."""
    more_to_create: bool
    """`CREATE_BATCH` cut the creations short: the set runs again at once."""
    update: updates.UpdatePlan
    overrides: tuple[updates.ImagePatch, ...]
    """Image overrides of servers the update does not patch anyway."""
    updated: bool = True
    """Every server the set keeps runs the target revision."""

    @property
    def acts(self) -> bool:
        """Some set-level write is due."""
        return bool(
            self.scale.replicas is not None
            or self.memory_patch
            or self.scale.delete
            or self.scale.create
            or self.update.actions
            or self.overrides
        )

    @property
    def steady(self) -> bool:
        """Nothing to scale, hold back or update: one server's ops state, priorities or
        readiness cannot move the answer (`needs_decide`)."""
        return (
            not self.acts
            and self.scale.held_back == 0
            and self.updated
            and not self.update.pre_update
        )

    @property
    def deleted(self) -> frozenset[int]:
        recreated = (
            a.ordinal for a in self.update.actions if a.kind is updates.UpdateKind.RECREATE
        )
        return frozenset(d.ordinal for d in self.scale.delete) | frozenset(recreated)

    @property
    def patched(self) -> frozenset[int]:
        in_place = (a.ordinal for a in self.update.actions if a.kind is updates.UpdateKind.IN_PLACE)
        return frozenset(in_place) | frozenset(p.ordinal for p in self.overrides)


def decide(
    gss: bodies.GameServerSet,
    desired: model.GameServerSetView,
    pod_views: Mapping[int, model.PodView],
    now: float,
) -> Decisions:
    """The set-level decisions over these pod views."""
    observed = list(pod_views.values())
    scale = scaling.compute_scale(desired, observed, views.reserve_memory(gss))
    if scale.replicas is not None:
        desired = dataclasses.replace(desired, replicas=scale.replicas)
    allowed = scaling.creations_allowed(desired, observed)
    batch = CREATE_BATCH if allowed is None else min(CREATE_BATCH, allowed)
    deleted = {d.ordinal for d in scale.delete}
    kept = [
        v for o, v in pod_views.items() if o in scale.target and o not in deleted and not v.held
    ]
    update = updates.plan_update(desired, kept, now)
    in_place = {a.ordinal for a in update.actions if a.kind is updates.UpdateKind.IN_PLACE}
    overrides = tuple(p for p in updates.plan_image_overrides(kept) if p.ordinal not in in_place)
    return Decisions(
        desired=desired,
        scale=scale,
        memory_patch=_memory_patch(gss, scale),
        creations=scale.create[:batch],
        more_to_create=len(scale.create) > batch and batch == CREATE_BATCH,
        update=update,
        overrides=overrides,
        updated=all(v.revision == desired.revision.name for v in kept),
    )


LOCAL_FIELDS = frozenset(
    {"ops_state", "update_priority", "deletion_priority", "ready", "ready_since", "phase"}
)
"""Pod view fields the set-level decisions of a steady set do not depend on: with nothing to
create, delete, hold back or update, ops states and priorities order nothing, and readiness
paces nothing (Kill aside: it lowers replicas)."""


def needs_decide(
    decisions: Decisions, before: model.PodView | None, after: model.PodView | None
) -> bool:
    """Whether one server's new view may move the set-level answer, so that `decide` must
    run again over every view; False only when it surely cannot."""
    if before == after:
        return False
    if before is None or after is None or not decisions.steady:
        return True
    if vocabulary.OpsState.KILL in (before.ops_state, after.ops_state):
        return True
    changed = {
        f.name
        for f in dataclasses.fields(model.PodView)
        if getattr(before, f.name) != getattr(after, f.name)
    }
    return not changed <= LOCAL_FIELDS


def needs_set(before: Decisions, after: Decisions) -> bool:
    """A server's change needs the whole set reconciled: the set-level decisions now ask for
    a write, or a server's PreUpdate hold or the target ordinals move."""
    return (
        after.acts
        or after.update.pre_update != before.update.pre_update
        or after.scale.target != before.scale.target
    )


def _memory_patch(gss: bodies.GameServerSet, scale: scaling.ScalePlan) -> bodies.Json:
    wanted = views.memory_annotations(scale.memory)
    current = bodies.annotations_of(gss)
    patch: bodies.Json = {}
    if any(current.get(k) != v for k, v in wanted.items()):
        patch["metadata"] = {"annotations": wanted}
    if scale.reserve_ids is not None:
        patch["spec"] = {"reserveGameServerIds": reserve_ids.format_reserve_ids(scale.reserve_ids)}
    return patch


def pod_views(
    obs: Observed, hooks: views.Hooks, desired: model.GameServerSetView
) -> dict[int, model.PodView]:
    """Every pod of the set, as the decisions see it (with the GameServer that is its own)."""
    return {
        ordinal: views.view_of(
            pod,
            ordinal,
            views.own_game_server(desired.reclaim_policy, pod, obs.game_servers.get(ordinal)),
            hooks,
        )
        for ordinal, pod in obs.pods.items()
    }


@dataclasses.dataclass(frozen=True)
class SetWrites:
    """The set-level groups of a plan."""

    set_patches: tuple[writes.Patch, ...] = ()
    deletions: tuple[writes.Chain, ...] = ()
    creations: tuple[writes.CreateServer, ...] = ()
    updates: tuple[writes.Chain, ...] = ()


@dataclasses.dataclass(frozen=True)
class Plan:
    """Every write of one reconcile, grouped as the executor runs them: the groups in order,
    the chains of a group at once, the writes of a chain one after another."""

    ctx: creation.SetContext
    obs: Observed
    decisions: Decisions
    views: Mapping[int, model.PodView]
    """The pod views, PreUpdate holds marked."""
    set_patches: tuple[writes.Patch, ...] = ()
    deletions: tuple[writes.Chain, ...] = ()
    creations: tuple[writes.CreateServer, ...] = ()
    updates: tuple[writes.Chain, ...] = ()
    syncs: tuple[servers.Server, ...] = ()
    """Servers to sync: ask the network plugin, then run `server(...)`."""
    cleanups: tuple[writes.Delete, ...] = ()
    qualities: tuple[writes.Patch, ...] = ()
    status: writes.Patch | None = None
    wake_in: float | None = None
    """Reconcile again after this many seconds (time alone changes the answer)."""
    whole_set: bool = True
    """A plan of the whole set (the network plugin then also removes what the set no longer
    has), not of some of its servers."""

    def server(
        self, server: servers.Server, network: servers.NetworkOutcome | None = None
    ) -> writes.Chain:
        """The writes of one server to sync, given its network outcome."""
        return servers.sync(self.ctx, server, network, self.obs.around)

    def writes(
        self, network: Mapping[int, servers.NetworkOutcome] | None = None
    ) -> list[writes.Write]:
        """Every write in order (`network`: each server's network outcome, when the set has a
        network plugin)."""
        found: list[writes.Write] = [*self.set_patches]
        for chain in self.deletions:
            found += chain
        found += self.creations
        for chain in self.updates:
            found += chain
        for server in self.syncs:
            found += self.server(server, (network or {}).get(server.ordinal))
        found += self.cleanups
        found += self.qualities
        if self.status is not None:
            found.append(self.status)
        return found


def plan(
    obs: Observed,
    desired: model.GameServerSetView | None = None,
    known_views: Mapping[int, model.PodView] | None = None,
) -> Plan:
    """Everything one reconcile of the set writes. `desired` is `views.gss_view(obs.gss)`
    (raises on an invalid spec when not given); `known_views` the pod views when the caller
    keeps them."""
    desired = desired or views.gss_view(obs.gss)
    ctx = creation.context(obs.gss, desired, obs.now)
    found = dict(known_views) if known_views is not None else pod_views(obs, ctx.hooks, desired)
    decisions = decide(obs.gss, desired, found, obs.now)
    ctx = dataclasses.replace(ctx, desired=decisions.desired)
    scale = decisions.scale
    set_patches: list[writes.Patch] = []
    if scale.replicas is not None:
        set_patches.append(_replicas_patch(obs.gss, scale.replicas))
    if decisions.memory_patch:
        set_patches.append(
            writes.Patch(
                writes.Kind.GAME_SERVER_SET,
                ctx.name,
                decisions.memory_patch,
                guard=scale.reserve_ids is not None,
                on_conflict=writes.OnConflict.RESTART,
            )
        )
    deletions = tuple(
        servers.delete_pod(
            ctx,
            obs.pods[d.ordinal],
            d.reason.value,
            game_server=obs.game_servers.get(d.ordinal),
        )
        for d in scale.delete
    )
    creations = tuple(
        creation.create_server(ctx, ordinal, obs.game_servers) for ordinal in decisions.creations
    )
    marked = _mark_pre_update(found, decisions)
    chains: list[writes.Chain] = []
    graces: list[float] = []
    waiting: set[int] = set()
    """Out of service for the grace period, not yet patched: synced as any other server."""
    for action in decisions.update.actions:
        pod = obs.pods[action.ordinal]
        if action.kind is updates.UpdateKind.IN_PLACE:
            chains.append(servers.in_place_update(ctx, pod, action.images, desired.revision))
            if (left := servers.grace_left(ctx, pod)) > 0:
                graces.append(left + 0.1)
                waiting.add(action.ordinal)
        else:
            chains.append(servers.delete_pod(ctx, pod, "Update", recreate=True))
    for patch in decisions.overrides:
        chains.append(servers.in_place_update(ctx, obs.pods[patch.ordinal], patch.images, None))
    skipped = decisions.deleted | (decisions.patched - waiting)
    set_level = SetWrites(tuple(set_patches), deletions, creations, tuple(chains))
    found_plan = _with_servers(
        ctx,
        obs,
        decisions,
        marked,
        synced=[o for o in obs.pods if o not in skipped],
        acted=list(obs.pods),
        owned=list(obs.game_servers),
        set_level=set_level,
    )
    if not graces:
        return found_plan
    # Time alone ends a grace period: the images are patched then.
    waits = [*graces, *([] if found_plan.wake_in is None else [found_plan.wake_in])]
    return dataclasses.replace(found_plan, wake_in=min(waits))


def plan_servers(
    obs: Observed,
    all_views: Mapping[int, model.PodView],
    decisions: Decisions,
    ordinals: Iterable[int],
    *,
    with_status: bool = True,
) -> Plan:
    """The writes for some servers of a set whose set-level decisions stand (`needs_set` is
    False): those servers' syncs, GameServer removals and quality actions, and (`with_status`)
    the set's status over `all_views`. `obs` needs to hold only these servers' objects."""
    ctx = creation.context(obs.gss, decisions.desired, obs.now)
    chosen = sorted(set(ordinals))
    return _with_servers(
        ctx,
        obs,
        decisions,
        _mark_pre_update(all_views, decisions),
        synced=[o for o in chosen if o in obs.pods],
        acted=[o for o in chosen if o in obs.pods],
        owned=[o for o in chosen if o in obs.game_servers],
        set_level=SetWrites(),
        whole_set=False,
        with_status=with_status,
    )


def _with_servers(
    ctx: creation.SetContext,
    obs: Observed,
    decisions: Decisions,
    marked: Mapping[int, model.PodView],
    *,
    synced: list[int],
    acted: list[int],
    owned: list[int],
    set_level: SetWrites,
    whole_set: bool = True,
    with_status: bool = True,
) -> Plan:
    """The plan: `set_level`, then the servers `synced`, the GameServers `owned` that outlived
    their pod, the quality actions of the servers `acted` on, and the set's status."""
    policy = ctx.desired.reclaim_policy
    own = {o: views.own_game_server(policy, obs.pods[o], obs.game_servers.get(o)) for o in obs.pods}
    to_sync = tuple(
        servers.Server(
            ordinal=o,
            pod=obs.pods[o],
            view=marked[o],
            game_server=own[o],
            has_game_server=o in obs.game_servers,
        )
        for o in synced
    )
    created = frozenset(decisions.scale.create)
    cleanups = []
    for o in owned:
        found = servers.cleanup(
            ctx, obs.game_servers[o], obs.pods.get(o), decisions.scale.target, created, o
        )
        if found is not None:
            cleanups.append(found)
    with_actions = [gs for o in acted if (gs := own[o]) is not None]
    return Plan(
        ctx=ctx,
        obs=obs,
        decisions=decisions,
        views=marked,
        set_patches=set_level.set_patches,
        deletions=set_level.deletions,
        creations=set_level.creations,
        updates=set_level.updates,
        syncs=to_sync,
        cleanups=tuple(cleanups),
        qualities=actions.patches(obs.gss, with_actions, ctx.now_text),
        status=status.status_patch(
            obs.gss, decisions.desired, marked.values(), decisions.scale.held_back, obs.now
        )
        if with_status
        else None,
        wake_in=wake_in(decisions.desired, marked.values(), obs.now),
        whole_set=whole_set,
    )


def _mark_pre_update(
    found: Mapping[int, model.PodView], decisions: Decisions
) -> dict[int, model.PodView]:
    marked = dict(found)
    for ordinal in decisions.update.pre_update:
        marked[ordinal] = dataclasses.replace(marked[ordinal], held_pre_update=True)
    return marked


def _replicas_patch(gss: bodies.GameServerSet, replicas: int) -> writes.Patch:
    """Lower replicas for Kill servers, guarded by resourceVersion."""
    return writes.Patch(
        writes.Kind.GAME_SERVER_SET,
        bodies.name(gss),
        {"spec": {"replicas": replicas}},
        guard=True,
        on_conflict=writes.OnConflict.RESTART,
        events=(
            writes.Event(
                "Normal",
                "KillGameServers",
                f"replicas lowered to {replicas} (opsState Kill)",
                about=bodies.name(gss),
            ),
        ),
    )


def wake_in(
    desired: model.GameServerSetView, pod_views: Iterable[model.PodView], now: float
) -> float | None:
    """When time alone changes the answer (minReadySeconds), in seconds from `now`."""
    seconds = desired.update.min_ready_seconds
    if seconds == 0:
        return None
    waits = [
        seconds - (now - v.ready_since)
        for v in pod_views
        if v.ready_since is not None and now - v.ready_since < seconds
    ]
    return max(0.5, min(waits) + 0.1) if waits else None
