"""The GameServerSet reconciler: one set's pods and GameServers, its status and events.

Every decision comes from `agent.core`; this module reads the caches into views, asks the core
for plans, and turns the plans into the fewest writes: nothing is written when the observed
object already says what the plan wants.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

from agent.core import claims, conditions, model, reserve_ids, scaling, state, status, updates, wire
from agent.kube import client as kclient
from agent.kube import resources
from agent.kube.cache import Key, rv_of
from agent.network import plugin as network_plugin
from agent.quality import actions as quality_actions

from . import views

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from agent.kube.cache import WatchCache
    from agent.kube.events import EventRecorder
    from agent.network.hooks import Network, ServerNetwork

_log = logging.getLogger(__name__)

Obj = dict[str, Any]

CREATE_BATCH = 500
# The Warning event's reason when a GameServer condition turns False.
_ABNORMAL = {
    conditions.POD_NORMAL: "PodAbnormal",
    conditions.NODE_NORMAL: "NodeAbnormal",
    conditions.VOLUME_NORMAL: "PersistentVolumeAbnormal",
}
"""Most game servers one reconcile creates; a larger scale-up continues in the next run."""


def owner_index(obj: Obj) -> str | None:
    """Cache index: `<namespace>/<set>` from the owner-gss label."""
    owner = views.labels_of(obj).get(wire.OWNER_GSS)
    if not owner:
        return None
    return f"{views.meta(obj).get('namespace', '')}/{owner}"


@dataclasses.dataclass
class _Expectations:
    """Writes of one reconcile that the caches must show before the set is reconciled again."""

    seen: list[tuple[WatchCache, Key, int]] = dataclasses.field(default_factory=list)
    gone: list[tuple[WatchCache, Key, str]] = dataclasses.field(default_factory=list)

    def wrote(self, cache: WatchCache, result: Obj) -> None:
        rv = rv_of(result)
        if rv:
            meta = views.meta(result)
            self.seen.append((cache, (str(meta.get("namespace", "")), str(meta.get("name"))), rv))

    def deleted(self, cache: WatchCache, key: Key, uid: str) -> None:
        self.gone.append((cache, key, uid))

    def satisfied(self) -> bool:
        for cache, key, rv in self.seen:
            if not cache.has_seen(key, rv):
                return False
        for cache, key, uid in self.gone:
            obj = cache.get(key)
            if obj is None:
                continue
            meta = views.meta(obj)
            if meta.get("uid") == uid and not meta.get("deletionTimestamp"):
                return False
        return True

    def barrier(self) -> Callable[[], Awaitable[object]] | None:
        if not self.seen and not self.gone:
            return None
        caches = {id(c): c for c, _, _ in self.seen} | {id(c): c for c, _, _ in self.gone}

        async def wait() -> bool:
            # Any cache event may satisfy the expectations; wake on the first that changes.
            while not self.satisfied():
                waits = [asyncio.ensure_future(c.next_change(0.5)) for c in caches.values()]
                _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
            return True

        return wait


@dataclasses.dataclass(frozen=True)
class Volumes:
    """The claims (namespaced) and PersistentVolumes (cluster-wide) the pods mount, for the
    GameServers' `PersistentVolumeNormal` condition."""

    claims: WatchCache
    volumes: WatchCache

    def condition(self, pod: Obj) -> Obj:
        namespace = str(views.meta(pod).get("namespace", ""))
        claims = {n: self.claims.get((namespace, n)) for n in conditions.mounted_claims(pod)}
        bound = [str((c.get("spec") or {}).get("volumeName") or "") for c in claims.values() if c]
        volumes = {v: self.volumes.get(("", v)) for v in bound if v}
        return conditions.volume_condition(pod, claims, volumes)


class GameServerSetReconciler:
    """Reconcile one GameServerSet per call (keys are (namespace, name))."""

    def __init__(
        self,
        kube: kclient.KubeClient,
        sets: WatchCache,
        game_servers: WatchCache,
        pods: WatchCache,
        recorder: EventRecorder,
        requeue: Callable[[Key, float], None],
        clock: Callable[[], float] = time.time,
        network: Network | None = None,
        volumes: Volumes | None = None,
    ) -> None:
        self._kube = kube
        self._network = network
        self._volumes = volumes
        self._sets = sets
        self._gs = game_servers
        self._pods = pods
        self._events = recorder
        self._requeue = requeue
        self._clock = clock
        self._invalid: dict[Key, int] = {}

    async def reconcile(self, key: Key) -> Callable[[], Awaitable[object]] | None:
        gss = self._sets.get(key)
        if gss is None or views.meta(gss).get("deletionTimestamp"):
            return None
        try:
            desired = views.gss_view(gss)
        except (reserve_ids.ReserveIdsError, ValueError) as exc:
            await self._report_invalid(key, gss, str(exc))
            return None
        self._invalid.pop(key, None)
        if self._network is not None and not await self._network.check(gss):
            return None  # NetworkConfigInvalid: nothing is created until it is fixed
        run = _Run(self, key, gss, desired)
        await run.execute()
        return run.expect.barrier()

    async def _report_invalid(self, key: Key, gss: Obj, message: str) -> None:
        generation = int(views.meta(gss).get("generation") or 0)
        if self._invalid.get(key) == generation:
            return
        self._invalid[key] = generation
        _log.warning("GameServerSet %s/%s is invalid: %s", *key, message)
        await self._events.record(gss, "Warning", "InvalidSpec", message)


class _Run:
    """One reconcile of one set: observe, plan, write."""

    def __init__(
        self,
        owner: GameServerSetReconciler,
        key: Key,
        gss: Obj,
        desired: model.GameServerSetView,
    ) -> None:
        self.o = owner
        self.kube = owner._kube
        self.key = key
        self.namespace, self.name = key
        self.gss = gss
        self.uid = str(views.meta(gss).get("uid", ""))
        self.desired = desired
        self.template = views.pod_template(gss)
        self.handler = views.pre_delete_handler(gss)
        self.hook_finalizers = views.pre_delete_finalizers(gss)
        self.update_handler = views.in_place_update_handler(gss)
        self.update_finalizers = views.in_place_update_finalizers(gss)
        self.mark_pre_delete, self.mark_pre_update = views.marks_pod_not_ready(gss)
        self.expect = _Expectations()
        self.now = owner._clock()
        self.now_text = views.rfc3339(self.now)

    # Observation.

    def _observe(self) -> None:
        index = f"{self.namespace}/{self.name}"
        self.pods: dict[int, Obj] = {}
        for pod in self.o._pods.by_index(index):
            ordinal = state.ordinal_from_name(self.name, str(views.meta(pod).get("name", "")))
            owner = views.owner_uid(pod, "GameServerSet")
            if ordinal is None or (owner is not None and owner != self.uid):
                continue
            self.pods[ordinal] = pod
        self.gs: dict[int, Obj] = {}
        for gs in self.o._gs.by_index(index):
            ordinal = state.ordinal_from_name(self.name, str(views.meta(gs).get("name", "")))
            if ordinal is not None:
                self.gs[ordinal] = gs
        self.views: dict[int, model.PodView] = {
            ordinal: views.pod_view(
                pod,
                ordinal,
                self._gs_of(ordinal),
                self.handler,
                self.hook_finalizers,
                self.update_handler,
                self.update_finalizers,
            )
            for ordinal, pod in self.pods.items()
        }

    def _gs_of(self, ordinal: int) -> Obj | None:
        """The GameServer that belongs to the pod at `ordinal` (None if stale or missing)."""
        gs = self.gs.get(ordinal)
        if gs is None:
            return None
        if self.desired.reclaim_policy is model.ReclaimPolicy.DELETE:
            return gs
        pod = self.pods.get(ordinal)
        pod_uid = views.meta(pod).get("uid") if pod else None
        return gs if views.owner_uid(gs, "Pod") == pod_uid else None

    # The reconcile.

    async def execute(self) -> None:
        self._observe()
        memory = views.reserve_memory(self.gss)
        plan = scaling.compute_scale(self.desired, list(self.views.values()), memory)
        if plan.replicas is not None and not await self._write_replicas(plan.replicas):
            return
        if not await self._write_memory(plan):
            return
        deleted = {d.ordinal for d in plan.delete}
        await asyncio.gather(*(self._delete_pod(d.ordinal, d.reason.value) for d in plan.delete))
        allowed = scaling.creations_allowed(self.desired, list(self.views.values()))
        batch = CREATE_BATCH if allowed is None else min(CREATE_BATCH, allowed)
        await asyncio.gather(*(self._create(ordinal) for ordinal in plan.create[:batch]))
        # (Held back by scaleStrategy.maxUnavailable, the rest waits for pods to turn Ready:
        # their events queue the set.)
        if len(plan.create) > batch and batch == CREATE_BATCH:
            # The next run (once the cache shows these) plans the rest: the status moves on
            # meanwhile and the pod bodies in flight stay bounded.
            self.o._requeue(self.key, 0.0)

        kept = [
            v for o, v in self.views.items() if o in plan.target and o not in deleted and not v.held
        ]
        update_plan = updates.plan_update(self.desired, kept, self.now)
        for ordinal in update_plan.pre_update:
            self.views[ordinal] = dataclasses.replace(self.views[ordinal], held_pre_update=True)
        patched: set[int] = set()
        writes: list[Awaitable[None]] = []
        for action in update_plan.actions:
            if action.kind is updates.UpdateKind.IN_PLACE:
                patched.add(action.ordinal)
                writes.append(self._in_place(action.ordinal, action.images, self.desired.revision))
            else:
                deleted.add(action.ordinal)
                writes.append(self._delete_pod(action.ordinal, "Update", recreate=True))
        for patch in updates.plan_image_overrides(kept):
            if patch.ordinal not in patched:
                patched.add(patch.ordinal)
                writes.append(self._in_place(patch.ordinal, patch.images, None))
        await asyncio.gather(*writes)

        syncs = [
            self._sync_server(ordinal, pod)
            for ordinal, pod in self.pods.items()
            if ordinal not in deleted and ordinal not in patched
        ]
        syncs += [self._cleanup_gs(ordinal, gs, plan) for ordinal, gs in self.gs.items()]
        await asyncio.gather(*syncs)
        await self._apply_qualities()
        if self.o._network is not None:
            await self.o._network.sync_set(self.gss, set(plan.target), self.expect)
        await self._write_status(plan)
        self._schedule(update_plan)

    def _schedule(self, update_plan: updates.UpdatePlan) -> None:
        """Come back when time alone changes the answer (minReadySeconds)."""
        seconds = self.desired.update.min_ready_seconds
        if seconds == 0:
            return
        waits = [
            seconds - (self.now - v.ready_since)
            for v in self.views.values()
            if v.ready_since is not None and self.now - v.ready_since < seconds
        ]
        if waits:
            self.o._requeue(self.key, max(0.5, min(waits) + 0.1))

    # Writes on the set.

    async def _write_replicas(self, replicas: int) -> bool:
        """Lower replicas for Kill servers, guarded by resourceVersion; False on conflict."""
        patch = {
            "metadata": {"resourceVersion": views.meta(self.gss).get("resourceVersion")},
            "spec": {"replicas": replicas},
        }
        try:
            result = await self.kube.patch(
                resources.GAME_SERVER_SET, self.namespace, self.name, patch
            )
        except kclient.ApiError as exc:
            if exc.conflict:
                self.o._requeue(self.key, 0.0)
                return False
            raise
        self.expect.wrote(self.o._sets, result)
        self.gss = result
        self.desired = dataclasses.replace(self.desired, replicas=replicas)
        await self.o._events.record(
            self.gss,
            "Normal",
            "KillGameServers",
            f"replicas lowered to {replicas} (opsState Kill)",
        )
        return True

    async def _write_memory(self, plan: scaling.ScalePlan) -> bool:
        """Persist the reserve memory (and ReserveIds write-back); False on a conflict."""
        wanted = views.memory_annotations(plan.memory)
        current = views.annotations_of(self.gss)
        patch: Obj = {}
        if any(current.get(k) != v for k, v in wanted.items()):
            patch["metadata"] = {"annotations": wanted}
        if plan.reserve_ids is not None:
            patch["spec"] = {
                "reserveGameServerIds": reserve_ids.format_reserve_ids(plan.reserve_ids)
            }
            patch.setdefault("metadata", {})["resourceVersion"] = views.meta(self.gss).get(
                "resourceVersion"
            )
        if not patch:
            return True
        try:
            result = await self.kube.patch(
                resources.GAME_SERVER_SET, self.namespace, self.name, patch
            )
        except kclient.ApiError as exc:
            if exc.conflict:
                self.o._requeue(self.key, 0.0)
                return False
            raise
        self.expect.wrote(self.o._sets, result)
        self.gss = result
        return True

    async def _write_status(self, plan: scaling.ScalePlan) -> None:
        counted = status.compute_status(
            self.desired, list(self.views.values()), held_back=plan.held_back, now=self.now
        )
        current = self.gss.get("status") or {}
        old_conditions = {c.get("type"): c for c in current.get("conditions") or []}
        conditions = []
        for cond in counted.conditions:
            old = old_conditions.get(cond.type) or {}
            same = old.get("status") == cond.status
            conditions.append(
                {
                    "type": cond.type,
                    "status": cond.status,
                    "reason": cond.reason,
                    "message": cond.message,
                    "lastTransitionTime": old.get("lastTransitionTime")
                    if same and old.get("lastTransitionTime")
                    else self.now_text,
                    "observedGeneration": counted.observed_generation,
                }
            )
        wanted: Obj = {
            "observedGeneration": counted.observed_generation,
            "replicas": counted.replicas,
            "readyReplicas": counted.ready_replicas,
            "availableReplicas": counted.available_replicas,
            "currentReplicas": counted.current_replicas,
            "updatedReplicas": counted.updated_replicas,
            "updatedReadyReplicas": counted.updated_ready_replicas,
            "maintainingReplicas": counted.maintaining_replicas,
            "waitToBeDeletedReplicas": counted.wait_to_be_deleted_replicas,
            "preDeleteReplicas": counted.pre_delete_replicas,
            "allocatedReplicas": counted.allocated_replicas,
            "heldBackReplicas": counted.held_back_replicas,
            "labelSelector": counted.label_selector,
            "conditions": conditions,
        }
        if all(current.get(k) == v for k, v in wanted.items()):
            return
        result = await self.kube.patch(
            resources.GAME_SERVER_SET,
            self.namespace,
            self.name,
            {"status": wanted},
            subresource="status",
        )
        self.expect.wrote(self.o._sets, result)

    # Pods.

    async def _delete_pod(self, ordinal: int, reason: str, *, recreate: bool = False) -> None:
        """Delete the ordinal's pod; unless it is to be `recreate`d, a `Delete` reclaim policy
        marks its GameServer to go with it."""
        pod = self.pods.get(ordinal)
        if pod is None:
            return
        meta = views.meta(pod)
        name, uid = str(meta["name"]), str(meta["uid"])
        if self.desired.reclaim_policy is model.ReclaimPolicy.DELETE and not recreate:
            gs = self.gs.get(ordinal)
            if gs is not None and views.labels_of(gs).get(wire.GS_DELETING) != "true":
                result = await kclient.unless_gone(
                    self.kube.patch(
                        resources.GAME_SERVER,
                        self.namespace,
                        name,
                        {"metadata": {"labels": {wire.GS_DELETING: "true"}}},
                    )
                )
                if result:
                    self.expect.wrote(self.o._gs, result)
        await kclient.unless_gone(self.kube.delete(resources.POD, self.namespace, name, uid=uid))
        self.expect.deleted(self.o._pods, (self.namespace, name), uid)
        _log.info("deleted pod %s/%s (%s)", self.namespace, name, reason)
        if not recreate:
            await self._delete_claims(name)

    def _pod_body(self, ordinal: int, gs: Obj | None) -> Obj:
        name = state.game_server_name(self.name, ordinal)
        tmeta = self.template.get("metadata") or {}
        gsv = views.gs_view(gs, self.name, self.template)
        labels = dict(tmeta.get("labels") or {})
        labels.update(state.pod_labels(gsv, model.GameServerState.CREATING))
        labels.update(
            {
                views.POD_NAME_LABEL: name,
                views.POD_INDEX_LABEL: str(ordinal),
                wire.REVISION: self.desired.revision.name,
                wire.REVISION_SHAPE: self.desired.revision.shape,
            }
        )
        annotations = dict(tmeta.get("annotations") or {})
        annotations.update(state.pod_annotations(gsv))
        annotations[wire.STATE_LAST_CHANGED] = self.now_text
        annotations[wire.OPS_STATE_LAST_CHANGED] = self.now_text
        pod_spec = copy.deepcopy(self.template.get("spec") or {})
        pod_spec["hostname"] = name
        pod_spec["subdomain"] = views.service_name(self.gss)
        if self.mark_pre_delete or self.mark_pre_update:
            gates = pod_spec.setdefault("readinessGates", [])
            if {"conditionType": views.KRUISE_POD_READY} not in gates:
                gates.append({"conditionType": views.KRUISE_POD_READY})
        claims.mount_claims(pod_spec, views.spec(self.gss), name)
        overrides = {c.name: c.image for c in views.image_overrides(gs)}
        for container in pod_spec.get("containers") or []:
            if container.get("name") in overrides:
                container["image"] = overrides[container["name"]]
        metadata: Obj = {
            "name": name,
            "namespace": self.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [self._owner_ref()],
        }
        finalizers = [views.PRE_DELETE_FINALIZER] if self.handler else []
        finalizers += self.hook_finalizers
        finalizers += [f for f in self.update_finalizers if f not in finalizers]
        if finalizers:
            metadata["finalizers"] = finalizers
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}
        if self.o._network is not None:
            self.o._network.prepare_pod(self.gss, body)  # network fields set at creation
        return body

    def _owner_ref(self) -> Obj:
        return {
            "apiVersion": wire.API_VERSION,
            "kind": "GameServerSet",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    async def _create_claims(self, server: str) -> None:
        """The server's volume claims, before its pod (an existing claim is kept: a recreated
        pod gets the same volumes)."""
        spec = views.spec(self.gss)
        owner = self._owner_ref() if claims.retention(spec).when_deleted == claims.DELETE else None
        for template in claims.templates(spec):
            body = claims.claim_body(
                template, server, self.namespace, {wire.OWNER_GSS: self.name}, owner
            )
            try:
                await self.kube.create(resources.PERSISTENT_VOLUME_CLAIM, self.namespace, body)
            except kclient.ApiError as exc:
                if not exc.conflict:
                    raise

    async def _delete_claims(self, server: str) -> None:
        """Under `whenScaled: Delete`, the claims of a server scaled away (Kubernetes keeps a
        claim in use until its pod is gone)."""
        spec = views.spec(self.gss)
        if claims.retention(spec).when_scaled != claims.DELETE:
            return
        for claim in claims.claim_names(spec, server):
            await kclient.unless_gone(
                self.kube.delete(resources.PERSISTENT_VOLUME_CLAIM, self.namespace, claim)
            )

    async def _create(self, ordinal: int) -> None:
        name = state.game_server_name(self.name, ordinal)
        gs = self.gs.get(ordinal)
        if gs is not None and (
            self.desired.reclaim_policy is model.ReclaimPolicy.CASCADE
            or views.labels_of(gs).get(wire.GS_DELETING) == "true"
        ):
            # A GameServer from an earlier pod of this ordinal: it does not carry over.
            await kclient.unless_gone(
                self.kube.delete(
                    resources.GAME_SERVER,
                    self.namespace,
                    name,
                    uid=str(views.meta(gs).get("uid")),
                )
            )
            gs = None
        try:
            body = self._pod_body(ordinal, gs)
        except network_plugin.NetworkUnavailable as exc:
            if self.o._network is not None:
                await self.o._network.report_unavailable(self.gss, str(exc))
            return
        try:
            await self._create_claims(name)
            pod = await self.kube.create(resources.POD, self.namespace, body)
        except BaseException as exc:
            if self.o._network is not None:
                self.o._network.forget_pod(self.gss, body)
            if isinstance(exc, kclient.ApiError) and exc.conflict:
                return  # an earlier pod of this ordinal is still going away
            raise
        self.expect.wrote(self.o._pods, pod)
        if gs is None:
            await self._create_gs(ordinal, pod)

    def _gs_body(self, ordinal: int, pod: Obj) -> Obj:
        name = state.game_server_name(self.name, ordinal)
        tmeta = self.template.get("metadata") or {}
        fresh = state.new_game_server(
            self.name, ordinal, tmeta.get("labels") or {}, tmeta.get("annotations") or {}
        )
        if self.desired.reclaim_policy is model.ReclaimPolicy.DELETE:
            owner = self._owner_ref()
        else:
            pmeta = views.meta(pod)
            owner = {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": name,
                "uid": pmeta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        return {
            "apiVersion": wire.API_VERSION,
            "kind": "GameServer",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": dict(fresh.labels),
                "annotations": dict(fresh.annotations),
                "ownerReferences": [owner],
            },
            "spec": {
                "opsState": fresh.ops_state,
                "updatePriority": 0,
                "deletionPriority": 0,
                "networkDisabled": False,
            },
        }

    async def _create_gs(self, ordinal: int, pod: Obj) -> None:
        try:
            gs = await self.kube.create(
                resources.GAME_SERVER, self.namespace, self._gs_body(ordinal, pod)
            )
        except kclient.ApiError as exc:
            if exc.conflict:
                return  # the previous pod's GameServer is still there; next reconcile
            raise
        self.expect.wrote(self.o._gs, gs)

    async def _in_place(
        self,
        ordinal: int,
        images: tuple[model.ContainerImage, ...],
        target: model.TemplateRevision | None,
    ) -> None:
        """Patch new images onto the live pod (and move it to `target` when given)."""
        pod = self.pods[ordinal]
        if self.mark_pre_update and views.kruise_pod_ready(pod) is not False:
            pod = await self._set_kruise_pod_ready(pod, False) or pod
        meta = views.meta(pod)
        wanted = {c.name: c.image for c in images}
        patch: Obj = {
            "metadata": {
                "annotations": {
                    views.IN_PLACE_UPDATE: views.in_place_note(
                        pod, target.name if target else "", wanted
                    )
                },
            },
            "spec": {"containers": [{"name": n, "image": i} for n, i in wanted.items()]},
        }
        if target is not None:
            patch["metadata"]["labels"] = {
                wire.REVISION: target.name,
                wire.REVISION_SHAPE: target.shape,
            }
            patch["metadata"]["resourceVersion"] = meta.get("resourceVersion")
            if self.update_finalizers:
                # Re-armed with the update (a strategic merge adds to the list), so the next
                # one waits for the owner again.
                patch["metadata"]["finalizers"] = list(self.update_finalizers)
        result = await kclient.unless_gone(
            self.kube.patch(
                resources.POD,
                self.namespace,
                str(meta["name"]),
                patch,
                content_type=kclient.STRATEGIC_PATCH,
            )
        )
        if result:
            self.expect.wrote(self.o._pods, result)
            _log.info("in-place update of %s/%s", self.namespace, meta["name"])

    # Per game server: pod labels, hook release, GameServer status, events.

    async def _sync_server(self, ordinal: int, pod: Obj) -> None:
        view = self.views[ordinal]
        gs = self._gs_of(ordinal)
        gsv = views.gs_view(gs, self.name, self.template)
        current_state = state.derive_state(view)
        current = views.labels_of(pod)
        wanted = state.pod_labels(gsv, current_state)
        label_diff = {k: v for k, v in wanted.items() if current.get(k) != v}
        notes = views.annotations_of(pod)
        note_diff = {k: v for k, v in state.pod_annotations(gsv).items() if notes.get(k) != v}
        if label_diff:
            note_diff.update(state.changed_time_annotations(current, wanted, self.now_text))
        net = None
        if self.o._network is not None:
            net = await self.o._network.sync_server(
                self.gss, pod, gs, gsv.network_disabled, self.now_text, self.expect
            )
        meta = views.meta(pod)
        if (
            net is not None
            and net.stranded
            and gsv.ops_state != model.OpsState.ALLOCATED.value
            and not meta.get("deletionTimestamp")
        ):
            # Its pinned node is gone: a new pod gets a node and ports that exist.
            await self._delete_pod(ordinal, "NetworkNodeGone", recreate=True)
            return
        if net is not None:
            note_diff.update({k: v for k, v in net.pod_annotations.items() if notes.get(k) != v})
        name = str(meta["name"])
        if label_diff or note_diff:
            patch: Obj = {"metadata": {}}
            if label_diff:
                patch["metadata"]["labels"] = label_diff
            if note_diff:
                patch["metadata"]["annotations"] = note_diff
            result = await kclient.unless_gone(
                self.kube.patch(resources.POD, self.namespace, name, patch)
            )
            if result:
                self.expect.wrote(self.o._pods, result)
                pod = result
        if self.mark_pre_delete or self.mark_pre_update:
            ready = state.kruise_pod_ready(view, self.mark_pre_delete, self.mark_pre_update)
            if views.kruise_pod_ready(pod) is not ready:
                pod = await self._set_kruise_pod_ready(pod, ready) or pod
        if (
            meta.get("deletionTimestamp")
            and views.PRE_DELETE_FINALIZER in (meta.get("finalizers") or [])
            and not views.hook_holds(self.handler, {**current, **label_diff})
        ):
            await self._release(pod)
        if gs is None:
            if ordinal not in self.gs and not meta.get("deletionTimestamp"):
                await self._create_gs(ordinal, pod)
            return
        await self._events_for(gs, current, wanted, current_state)
        await self._sync_gs_status(gs, pod, view, gsv, current_state, net)

    async def _apply_qualities(self) -> None:
        """Service-quality actions due on this set's GameServers (see agent/quality/actions)."""
        servers = [gs for o in self.pods if (gs := self._gs_of(o)) is not None]
        for result in await quality_actions.apply(
            self.kube, self.o._events, self.gss, servers, self.now_text
        ):
            self.expect.wrote(self.o._gs, result)

    async def _set_kruise_pod_ready(self, pod: Obj, ready: bool) -> Obj | None:
        """Write the pod's `KruisePodReady` condition (its readiness gate); the pod as written,
        or None when it is gone."""
        condition = {
            "type": views.KRUISE_POD_READY,
            "status": "True" if ready else "False",
            "lastTransitionTime": self.now_text,
            "reason": "" if ready else "LifecycleHook",
            "message": "" if ready else "markPodNotReady: the lifecycle hook's phase holds it",
        }
        result = await kclient.unless_gone(
            self.kube.patch(
                resources.POD,
                self.namespace,
                str(views.meta(pod)["name"]),
                {"status": {"conditions": [condition]}},
                content_type=kclient.STRATEGIC_PATCH,
                subresource="status",
            )
        )
        if result:
            self.expect.wrote(self.o._pods, result)
        return result

    async def _release(self, pod: Obj) -> None:
        meta = views.meta(pod)
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [views.PRE_DELETE_FINALIZER]}}
        result = await kclient.unless_gone(
            self.kube.patch(
                resources.POD,
                self.namespace,
                str(meta["name"]),
                patch,
                content_type=kclient.STRATEGIC_PATCH,
            )
        )
        if result:
            self.expect.wrote(self.o._pods, result)
            _log.info("preDelete hook released %s/%s", self.namespace, meta["name"])

    async def _events_for(
        self,
        gs: Obj,
        current: dict[str, str],
        wanted: dict[str, str],
        current_state: model.GameServerState,
    ) -> None:
        old_ops, new_ops = current.get(wire.GS_OPS_STATE), wanted[wire.GS_OPS_STATE]
        if old_ops is not None and old_ops != new_ops:
            kind = "Warning" if new_ops == model.OpsState.MAINTAINING.value else "Normal"
            await self.o._events.record(
                gs, kind, "GsOpsStateChanged", f"OpsState turn from {old_ops} to {new_ops}"
            )
        old_state = current.get(wire.GS_STATE)
        if current_state is model.GameServerState.CRASH and old_state != current_state.value:
            await self.o._events.record(
                gs, "Warning", "GsStateChanged", f"State turn from {old_state} to Crash"
            )

    async def _sync_gs_status(
        self,
        gs: Obj,
        pod: Obj,
        view: model.PodView,
        gsv: model.GameServerView,
        current_state: model.GameServerState,
        net: ServerNetwork | None = None,
    ) -> None:
        current = gs.get("status") or {}
        pod_status = pod.get("status") or {}
        desired_net = state.desired_network_state(gsv.network_disabled).value
        wanted: Obj = {
            "desiredState": model.GameServerState.READY.value,
            "currentState": current_state.value,
            "updatePriority": view.update_priority,
            "deletionPriority": view.deletion_priority,
            "podStatus": _pod_status_summary(pod_status),
            "networkStatus": {
                **(current.get("networkStatus") or {}),
                "desiredNetworkState": desired_net,
                "currentNetworkState": desired_net,
            }
            if net is None
            else net.status,
        }
        found = [conditions.pod_condition(pod)]
        node_name = str((pod.get("spec") or {}).get("nodeName") or "")
        node = self.o._network.nodes.get(("", node_name)) if self.o._network and node_name else None
        if node is not None:
            found.append(conditions.node_condition(node))
        if self.o._volumes is not None:
            found.append(self.o._volumes.condition(pod))
        old_conditions = list(current.get("conditions") or [])
        wanted["conditions"] = conditions.with_times(found, old_conditions, self.now_text)
        changed = {k: v for k, v in wanted.items() if current.get(k) != v}
        if not changed:
            return
        if current.get("currentState") != current_state.value or not current.get(
            "lastTransitionTime"
        ):
            changed["lastTransitionTime"] = self.now_text
        result = await kclient.unless_gone(
            self.kube.patch(
                resources.GAME_SERVER,
                self.namespace,
                str(views.meta(gs)["name"]),
                {"status": changed},
                subresource="status",
            )
        )
        if result:
            self.expect.wrote(self.o._gs, result)
            for condition in conditions.newly_false(found, old_conditions):
                reason = _ABNORMAL[condition["type"]]
                note = f"{condition.get('reason', '')}: {condition.get('message', '')}"
                await self.o._events.record(result, "Warning", reason, note[:1024])

    async def _cleanup_gs(self, ordinal: int, gs: Obj, plan: scaling.ScalePlan) -> None:
        """Delete GameServers whose pod is gone for good (Delete) or replaced (Cascade)."""
        pod = self.pods.get(ordinal)
        meta = views.meta(gs)
        if self.desired.reclaim_policy is model.ReclaimPolicy.DELETE:
            stale = pod is None and (
                views.labels_of(gs).get(wire.GS_DELETING) == "true" or ordinal not in plan.target
            )
        else:
            pod_uid = views.meta(pod).get("uid") if pod else None
            stale = views.owner_uid(gs, "Pod") != pod_uid and ordinal not in plan.create
        if not stale or meta.get("deletionTimestamp"):
            return
        name = str(meta["name"])
        uid = str(meta.get("uid"))
        await kclient.unless_gone(
            self.kube.delete(resources.GAME_SERVER, self.namespace, name, uid=uid)
        )
        self.expect.deleted(self.o._gs, (self.namespace, name), uid)


def _pod_status_summary(pod_status: Obj) -> Obj:
    """The part of the pod's status a GameServer carries: what a game or an operator reads
    (phase, addresses, readiness, images, restarts), without the timestamps that would turn
    every kubelet heartbeat into a GameServer write."""
    conditions = {
        str(c.get("type")): str(c.get("status")) for c in pod_status.get("conditions") or []
    }
    summary: Obj = {
        "phase": pod_status.get("phase", "Pending"),
        "ready": conditions.get("Ready") == "True",
        "containers": [
            {
                "name": c.get("name"),
                "image": c.get("image"),
                "ready": bool(c.get("ready")),
                "restartCount": int(c.get("restartCount") or 0),
            }
            for c in pod_status.get("containerStatuses") or []
        ],
    }
    for key in ("podIP", "hostIP", "startTime", "reason", "message"):
        if pod_status.get(key):
            summary[key] = pod_status[key]
    return summary
