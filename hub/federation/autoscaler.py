"""The fleet autoscalers at work on the leader: decisions follow the fleets' status, no polling.

Every status delta an agent sends and every allocation the hub makes notify the fleet's key
(``Federation.subscribe``). A fleet with an autoscaler is then evaluated at once, or, when it
was evaluated less than ``sync.minInterval`` ago, once that interval is up: a burst of changes
costs one decision per interval, and none waits longer. Timers exist only for what time alone
changes: a stabilization window's sample expiring, a schedule turning on or off, a webhook's
resync period, and the next step of a step-limited move. ``sync.type: FixedInterval`` instead
evaluates every interval and ignores changes, as Agones does (the measured baseline).

A decision writes the fleet's replicas and per-cluster demand together with the autoscaler's
status (hub.registry.autoscalers); placement reads the demand from the fleet record.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import heapq
import itertools
import logging
import math
import time
from collections.abc import Callable

from gamefleet.v1 import autoscaler_pb2
from google.protobuf import timestamp_pb2

from hub.core import conditions
from hub.core.autoscaling import counter, decide, demand, policy, reports, validation
from hub.core.autoscaling.limits import Bounds, Limits, Sample
from hub.core.limits import MAX_FLEET_REPLICAS
from hub.registry import autoscalers as registry
from hub.registry.errors import PreconditionError, RevisionMismatchError
from hub.store import interface as store_api

from .federation import Federation
from .stats import AutoscalingStats, LastDecision
from .watchers import StatusWatcher
from .webhook import WebhookClient, WebhookError

log = logging.getLogger(__name__)

Key = tuple[str, str]
DEFAULT_MIN_INTERVAL_S = 0.1
DEFAULT_FIXED_INTERVAL_S = 30.0
DEFAULT_WEBHOOK_RESYNC_S = 30.0
# Decisions kept in an autoscaler's status.
KEPT_DECISIONS = 20
# After a failed evaluation (a store outage), try again this much later.
RETRY_S = 1.0
ABLE_TO_SCALE = "AbleToScale"
SCALING_LIMITED = "ScalingLimited"


@dataclasses.dataclass
class _Entry:
    """One autoscaler as the runtime holds it."""

    record: autoscaler_pb2.FleetAutoscaler
    policy: policy.Policy
    limits: Limits
    history: list[Sample] = dataclasses.field(default_factory=list)
    # Seed the history with the current replicas before the first decision (a new leader).
    seed: bool = False
    last_evaluated: float = -math.inf
    due: float | None = None
    running: bool = False
    again: bool = False
    # The fleet revision the last decision wrote: older snapshots are not decided on.
    written: int = 0
    # What the last evaluation read, and when time alone may change its outcome: the same
    # inputs before that time give the same decision, so it is not computed again.
    inputs: tuple[object, ...] | None = None
    wake_at: float | None = None
    live: autoscaler_pb2.FleetAutoscalerStatus = dataclasses.field(
        default_factory=autoscaler_pb2.FleetAutoscalerStatus
    )
    # The fleet's live servers by (kind, key) of counter or list, read for its Counter and
    # List policies.
    counted: dict[tuple[str, str], list[counter.CounterServer]] = dataclasses.field(
        default_factory=dict
    )

    @property
    def fleet_key(self) -> Key:
        return (self.record.metadata.namespace, self.record.spec.fleet_name)

    @property
    def fixed_interval(self) -> float | None:
        sync = self.record.spec.sync
        if sync.type != validation.SYNC_FIXED_INTERVAL:
            return None
        if sync.HasField("interval"):
            return sync.interval.ToTimedelta().total_seconds()
        return DEFAULT_FIXED_INTERVAL_S

    @property
    def min_interval(self) -> float:
        sync = self.record.spec.sync
        if sync.HasField("min_interval"):
            return sync.min_interval.ToTimedelta().total_seconds()
        return DEFAULT_MIN_INTERVAL_S


def _entry(record: autoscaler_pb2.FleetAutoscaler, seed: bool = False) -> _Entry:
    return _Entry(
        record=record,
        policy=policy.Policy.of(record.spec.policy),
        limits=Limits.of(record.spec.behavior),
        seed=seed,
    )


def _key(record: autoscaler_pb2.FleetAutoscaler) -> Key:
    return (record.metadata.namespace, record.metadata.name)


def _stamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


class Autoscaling:
    """Runs every FleetAutoscaler of the store while this hub leads."""

    def __init__(
        self,
        federation: Federation,
        autoscalers: registry.AutoscalerRegistry,
        wall: Callable[[], float] = time.time,
        webhook: WebhookClient | None = None,
    ) -> None:
        self._federation = federation
        self._registry = autoscalers
        self._wall = wall
        self._webhook = webhook or WebhookClient()
        self._entries: dict[Key, _Entry] = {}
        self._by_fleet: dict[Key, Key] = {}
        self._wakeup = asyncio.Event()
        # (due time, order, autoscaler key); an entry's stale items are skipped when popped.
        self._heap: list[tuple[float, int, Key]] = []
        self._order = itertools.count()
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._watcher: StatusWatcher | None = None
        # The next store revision of the autoscalers to follow.
        self._revision = 0
        self.stats = AutoscalingStats()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        records, revision = await self._registry.list()
        for record in records:
            self._put(record, seed=True)
        watcher = self._federation.subscribe()
        self._revision = revision + 1
        supervise = self._federation.supervise
        self._tasks = [
            supervise("follow-autoscalers", self._follow_registry),
            supervise("autoscaler-status", functools.partial(self._follow_status, watcher)),
            supervise("autoscaler-schedule", self._schedule),
        ]
        self._watcher = watcher

    async def stop(self) -> None:
        for task in [*self._tasks, *self._running]:
            task.cancel()
        for task in [*self._tasks, *self._running]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._watcher is not None:
            self._federation.unsubscribe(self._watcher)
            self._watcher = None
        await self._webhook.close()

    # -- reads -----------------------------------------------------------------------------

    def with_status(self, record: autoscaler_pb2.FleetAutoscaler) -> autoscaler_pb2.FleetAutoscaler:
        """``record`` with what the runtime knows now (current and desired replicas, whether it
        can scale and is limited) over its stored status (the decisions)."""
        entry = self._entries.get(_key(record))
        if entry is None:
            return record
        live = entry.live
        status = record.status
        status.current_replicas = live.current_replicas
        status.desired_replicas = live.desired_replicas
        status.able_to_scale = live.able_to_scale
        status.scaling_limited = live.scaling_limited
        del status.conditions[:]
        status.conditions.extend(live.conditions)
        return record

    # -- following the store and the fleets ------------------------------------------------

    def _put(self, record: autoscaler_pb2.FleetAutoscaler, seed: bool = False) -> None:
        key = _key(record)
        entry = self._entries.get(key)
        if entry is None or entry.record.metadata.generation != record.metadata.generation:
            fresh = _entry(record, seed)
            if entry is not None:
                fresh.history, fresh.last_evaluated = entry.history, entry.last_evaluated
                fresh.live, fresh.written = entry.live, entry.written
            self._entries[key] = fresh
            self._by_fleet[fresh.fleet_key] = key
            self._due(fresh, self._wall())
        elif record.metadata.revision > entry.record.metadata.revision:
            entry.record = record

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None and self._by_fleet.get(entry.fleet_key) == key:
            del self._by_fleet[entry.fleet_key]
        self.stats.last.pop(key, None)

    async def _follow_registry(self) -> None:
        """Follow the stored autoscalers from ``self._revision``; after a compaction or a store
        outage, list them again and go on from there (a restart by the supervisor goes on from
        the last revision seen)."""
        while True:
            try:
                async for event in self._registry.watch(self._revision):
                    self._revision = event.revision + 1
                    key, record = registry.decode_event(event)
                    if record is None:
                        self._drop(key)
                    else:
                        self._put(record)
            except Exception as exc:
                log.warning("watch of the autoscalers ended (%s); listing again", exc)
                if not isinstance(exc, store_api.CompactedError):
                    await asyncio.sleep(RETRY_S)
                try:
                    records, listed_at = await self._registry.list()
                except Exception:
                    log.exception("listing the autoscalers; retrying")
                    continue
                listed = {_key(r) for r in records}
                for key in [k for k in self._entries if k not in listed]:
                    self._drop(key)
                for record in records:
                    self._put(record)
                self._revision = listed_at + 1

    async def _follow_status(self, watcher: StatusWatcher) -> None:
        async for fleet_key in watcher.changes():
            key = self._by_fleet.get(fleet_key)
            entry = self._entries.get(key) if key is not None else None
            if entry is not None and entry.fixed_interval is None:
                self._due(entry, entry.last_evaluated + entry.min_interval)

    def _due(self, entry: _Entry, when: float) -> None:
        """Evaluate ``entry`` at ``when`` (at once if earlier), unless it is due sooner."""
        if entry.running:
            entry.again = True
            return
        if entry.due is None or when < entry.due:
            entry.due = when
            heapq.heappush(self._heap, (when, next(self._order), _key(entry.record)))
            self._wakeup.set()

    async def _schedule(self) -> None:
        """Start each evaluation when it is due (a heap of due times: no walk over every
        autoscaler per wake-up, whatever their number)."""
        while True:
            self._wakeup.clear()
            now = self._wall()
            while self._heap and self._heap[0][0] <= now:
                when, _, key = heapq.heappop(self._heap)
                entry = self._entries.get(key)
                if entry is None or entry.running or entry.due != when:
                    continue  # superseded by an earlier due time, or gone
                entry.due = None
                entry.running = True
                task = asyncio.create_task(self._evaluate(key, entry), name=f"autoscale {key}")
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            timeout = self._heap[0][0] - now if self._heap else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()

    # -- one evaluation --------------------------------------------------------------------

    async def _evaluate(self, key: Key, entry: _Entry) -> None:
        began = time.perf_counter()
        now = self._wall()
        entry.last_evaluated = now
        wake: float | None = None
        try:
            wake = await self._decide(entry, now)
        except Exception:
            log.exception("autoscaler %s/%s: evaluation failed; retrying", *key)
            wake = now + RETRY_S
        finally:
            entry.running = False
            self.stats.evaluations += 1
            self.stats.evaluation_seconds += time.perf_counter() - began
        if self._entries.get(key) is not entry:
            return
        interval = entry.fixed_interval
        if interval is not None:
            wake = now + interval
        if entry.again:
            entry.again = False
            self._due(entry, now + entry.min_interval)
        if wake is not None:
            self._due(entry, wake)

    async def _decide(self, entry: _Entry, now: float) -> float | None:
        """Evaluate the policy and write the decision if it changes the fleet; return when
        time alone may change the outcome."""
        record = entry.record
        owner = registry.owner_of(record)
        snapshot = self._federation.autoscaling_snapshot(*entry.fleet_key)
        if snapshot is None:
            if self._federation.has_fleet(*entry.fleet_key):
                self._unable(entry, "Starting", "waiting for the agents after the hub started")
            else:
                self._unable(entry, "FleetNotFound", f"fleet {'/'.join(entry.fleet_key)} not found")
            return None
        fleet = snapshot.fleet
        if fleet.metadata.revision < entry.written:
            return None  # the hub has not seen our last decision yet; its arrival notifies
        if fleet.replicas_owner != owner:
            if fleet.replicas_owner:
                self._unable(entry, "OwnedByOther", f"replicas set by {fleet.replicas_owner}")
                return None
            with contextlib.suppress(RevisionMismatchError):
                claimed = await self._registry.claim(record, fleet)
                entry.written = claimed.metadata.revision
            return None
        # What one agent reports may change its own cluster's share only (reports.py).
        snapshot = reports.vouched(snapshot)
        if entry.policy.counted:
            snapshot = self._count(entry, snapshot)
        inputs = (*_inputs(snapshot), tuple((k, tuple(v)) for k, v in entry.counted.items()))
        timed = entry.wake_at is not None and now >= entry.wake_at
        if inputs == entry.inputs and not timed and not entry.policy.webhooks:
            return entry.wake_at
        entry.inputs = inputs
        entry.wake_at = await self._evaluate_policy(entry, snapshot, now)
        return entry.wake_at

    def _count(self, entry: _Entry, snapshot: demand.FleetSnapshot) -> demand.FleetSnapshot:
        """Read the counters and lists of the fleet's servers for its Counter and List
        policies, each cluster's within its share (reports.py); its servers in use on them are
        floors for every decision, as Allocated ones are."""
        live = self._federation.fleet_servers(*entry.fleet_key)
        counted = entry.policy.counted
        entry.counted = {
            (kind, key): reports.vouched_servers(
                counter.counter_servers(live, key, kind), snapshot, key, kind
            )
            for kind, key in counted
        }
        return counter.with_in_use_floors(snapshot, entry.counted[counted[0]])

    async def _evaluate_policy(
        self, entry: _Entry, snapshot: demand.FleetSnapshot, now: float
    ) -> float | None:
        fleet = snapshot.fleet
        if entry.seed:
            entry.seed = False
            current = {c.name: c.assigned for c in snapshot.ready()}
            entry.history.append(Sample(now, current))
        wakes = [entry.policy.next_change(now)]
        chosen = await self._recommend(entry, snapshot, now, wakes)
        if chosen is None:
            return _earliest(wakes)
        leaf, recommendation, bounds = chosen
        # A sample is in effect until the next one: the last before the horizon still counts.
        horizon = now - entry.limits.longest_window
        older = [s for s in entry.history if s.time <= horizon]
        entry.history = older[-1:] + [s for s in entry.history if s.time > horizon]
        decision = decide.decide(
            snapshot, leaf.name, recommendation, entry.history, now, entry.limits, bounds
        )
        if not entry.history or entry.history[-1].clusters != recommendation.clusters:
            entry.history.append(Sample(now, dict(recommendation.clusters)))
        wakes.append(decision.wake)
        entry.live = self._live(decision)
        if decision.differs(snapshot.replicas, fleet.cluster_demand):
            written = await self._write(entry, snapshot, decision, now)
            if decision.stepped or not written:
                wakes.append(now + entry.min_interval)
        return _earliest(wakes)

    async def _recommend(
        self,
        entry: _Entry,
        snapshot: demand.FleetSnapshot,
        now: float,
        wakes: list[float | None],
    ) -> tuple[policy.Leaf, demand.Recommendation, Bounds | None] | None:
        """The first applicable leaf's recommendation, or None to leave the fleet as it is."""
        failures = []
        for leaf in entry.policy.applicable(now):
            if leaf.buffer is not None:
                bounds = Bounds(leaf.buffer.min_replicas, leaf.buffer.max_replicas)
                return leaf, demand.recommend_buffer(leaf.buffer, snapshot), bounds
            if leaf.counter is not None:
                tracked = (counter.kind_of(leaf.counter), leaf.counter.key)
                servers = entry.counted.get(tracked, [])
                try:
                    return leaf, counter.recommend_counter(leaf.counter, snapshot, servers), None
                except counter.CounterPolicyError as exc:
                    self._unable(entry, "CounterPolicyFailed", f"{leaf.name}: {exc}")
                    return None
            assert leaf.webhook is not None
            wakes.append(now + _resync(leaf.webhook) if _resync(leaf.webhook) else None)
            try:
                total = await self._webhook.review(leaf.webhook, snapshot, MAX_FLEET_REPLICAS)
            except WebhookError as exc:
                self.stats.webhook_failures += 1
                failures.append(f"{leaf.name}: {exc}")
                continue
            if total is None:
                self._hold(entry, snapshot.replicas, f"{leaf.name} answered not to scale")
                return None
            detail = f"webhook asked for {total}"
            return leaf, demand.recommend_total(total, snapshot, detail), None
        if failures:
            self._unable(entry, "WebhookFailed", "; ".join(failures))
        else:
            self._hold(entry, snapshot.replicas, "no policy applies now (schedules inactive)")
        return None

    async def _write(
        self,
        entry: _Entry,
        snapshot: demand.FleetSnapshot,
        decision: decide.Decision,
        now: float,
    ) -> bool:
        """Write ``decision``; False when the fleet or the autoscaler changed meanwhile."""
        record = entry.record
        status = autoscaler_pb2.FleetAutoscalerStatus()
        status.CopyFrom(record.status)
        del status.conditions[:]
        status.current_replicas = decision.to_replicas
        status.desired_replicas = decision.recommended
        status.able_to_scale = True
        status.scaling_limited = decision.limited
        status.last_applied_policy = decision.policy
        if decision.to_replicas != decision.from_replicas:
            status.last_scale_time.CopyFrom(_stamp(now))
        status.decisions.add(
            time=_stamp(now),
            policy=decision.policy,
            from_replicas=decision.from_replicas,
            to_replicas=decision.to_replicas,
            reason=decision.reason,
            clusters=decision.clusters,
        )
        del status.decisions[: max(0, len(status.decisions) - KEPT_DECISIONS)]
        try:
            recorded = await self._registry.record(
                record, snapshot.fleet, decision.to_replicas, decision.clusters, status
            )
        except (RevisionMismatchError, PreconditionError) as exc:
            log.debug("autoscaler %s/%s: decision not written (%s)", *_key(record), exc)
            return False
        entry.record = recorded.autoscaler
        entry.written = recorded.fleet.metadata.revision
        direction = (
            "up"
            if decision.to_replicas > decision.from_replicas
            else "down"
            if decision.to_replicas < decision.from_replicas
            else "split"
        )
        meta = record.metadata
        counted = (meta.namespace, meta.name, direction)
        self.stats.decisions[counted] = self.stats.decisions.get(counted, 0) + 1
        self.stats.last[_key(record)] = LastDecision(
            meta.namespace,
            record.spec.fleet_name,
            now,
            decision.from_replicas,
            decision.to_replicas,
        )
        log.info(
            "autoscaler %s/%s: %s %d -> %d (%s)",
            meta.namespace,
            meta.name,
            decision.policy,
            decision.from_replicas,
            decision.to_replicas,
            decision.reason,
        )
        return True

    # -- live status -----------------------------------------------------------------------

    @staticmethod
    def _live(decision: decide.Decision) -> autoscaler_pb2.FleetAutoscalerStatus:
        live = autoscaler_pb2.FleetAutoscalerStatus(
            current_replicas=decision.to_replicas,
            desired_replicas=decision.recommended,
            able_to_scale=True,
            scaling_limited=decision.limited,
        )
        able = conditions.Condition(ABLE_TO_SCALE, conditions.TRUE, "Decided", decision.policy)
        live.conditions.append(able.to_proto())
        limited = conditions.TRUE if decision.limited else conditions.FALSE
        live.conditions.append(
            conditions.Condition(SCALING_LIMITED, limited, "Limits", decision.reason).to_proto()
        )
        return live

    def _unable(self, entry: _Entry, reason: str, message: str) -> None:
        live = autoscaler_pb2.FleetAutoscalerStatus(
            current_replicas=entry.live.current_replicas,
            desired_replicas=entry.live.desired_replicas,
            able_to_scale=False,
        )
        live.conditions.append(
            conditions.Condition(ABLE_TO_SCALE, conditions.FALSE, reason, message).to_proto()
        )
        entry.live = live

    def _hold(self, entry: _Entry, replicas: int, message: str) -> None:
        live = autoscaler_pb2.FleetAutoscalerStatus(
            current_replicas=replicas, desired_replicas=replicas, able_to_scale=True
        )
        live.conditions.append(
            conditions.Condition(ABLE_TO_SCALE, conditions.TRUE, "Holding", message).to_proto()
        )
        entry.live = live


def _inputs(snapshot: demand.FleetSnapshot) -> tuple[object, ...]:
    """What a Buffer policy's decision depends on, besides the time."""
    clusters = tuple(
        (c.name, c.phase, c.eligible, c.assigned, c.allocated, tuple(sorted(c.labels.items())))
        for c in snapshot.clusters
    )
    return (snapshot.fleet.metadata.revision, clusters)


def _resync(webhook: autoscaler_pb2.WebhookPolicy) -> float:
    if webhook.HasField("resync_period"):
        return webhook.resync_period.ToTimedelta().total_seconds()
    return DEFAULT_WEBHOOK_RESYNC_S


def _earliest(times: list[float | None]) -> float | None:
    found = [t for t in times if t is not None]
    return min(found) if found else None
