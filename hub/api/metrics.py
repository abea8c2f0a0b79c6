"""Prometheus metrics of the hub: gRPC calls, store operations, the federation's live state.

Each hub has its own registry (two hubs in one process never share a series), served as plain
HTTP on its own port by :meth:`HubMetrics.serve`, never on the gRPC port.

- gRPC: a server interceptor counts every call by service, method and status code, and times
  the calls that answer one message; a streaming call counts when its stream ends.
- Store: :class:`hub.store.metered.MeteredStore` counts and times each operation.
- Federation: read when scraped, on the hub's event loop (the state is only ever touched
  there), from the live federation; nothing is recorded on its paths but a few integer counts
  (see :mod:`hub.federation.stats`). A follower has no federation: it reports ``leader`` 0
  and no federation series.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Final, TypeVar
from wsgiref.simple_server import WSGIServer

import grpc
import prometheus_client
import prometheus_client.core
from gamefleet.listen import parse_listen as parse_listen  # re-exported for the CLI

from hub.core import agent_limits, health
from hub.federation.stats import RECONCILE_BUCKETS, AutoscalingStats, LiveCounts
from hub.store import metered

from . import handlers

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# Seconds: from a GetFleet served from memory (about 1 ms) to a call held by a slow store.
GRPC_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LIVENESS_PHASES: Final = (health.Phase.READY, health.Phase.UNKNOWN)
# How long a scrape waits for the event loop to read the live state.
LIVE_READ_TIMEOUT_S: Final = 5.0

Context = handlers.Context
Behavior = handlers.Behavior
# The live state of the federation, or None on a hub that does not lead; run on the hub's loop.
ReadLive = Callable[[], Awaitable[LiveCounts | None]]


class ListenError(ValueError):
    """The metrics address is well formed but cannot be bound (in use, unknown host)."""


class _Method:
    """The series of one gRPC method, and the wrappers that record into them."""

    def __init__(
        self,
        full_name: str,
        requests: prometheus_client.Counter,
        seconds: prometheus_client.Histogram,
    ) -> None:
        service, _, method = full_name.lstrip("/").partition("/")
        self._labels = (service, method)
        self._requests = requests
        self._by_code: dict[grpc.StatusCode, prometheus_client.Counter] = {}
        self._seconds = seconds.labels(service, method)

    def _count(self, code: grpc.StatusCode) -> None:
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = self._requests.labels(*self._labels, code.name)
        child.inc()

    def wrap_unary(self, behavior: Behavior) -> Behavior:
        async def handle(request: Any, context: Context) -> Any:
            began = time.perf_counter()
            ended = handlers.Outcome()
            try:
                with handlers.outcome(context) as ended:
                    return await behavior(request, context)
            finally:
                self._seconds.observe(time.perf_counter() - began)
                self._count(ended.code)

        return handle

    def wrap_stream(self, behavior: Behavior) -> Behavior:
        async def handle(request: Any, context: Context) -> AsyncIterator[Any]:
            ended = handlers.Outcome()
            try:
                with handlers.outcome(context) as ended:
                    async for item in behavior(request, context):
                        yield item
            finally:
                self._count(ended.code)

        return handle


class MetricsInterceptor(handlers.Interceptor):
    """Counts and times every call of every service; put it first, so it sees every status
    the other interceptors give (UNAUTHENTICATED, the mapped domain errors)."""

    def __init__(
        self, requests: prometheus_client.Counter, seconds: prometheus_client.Histogram
    ) -> None:
        self._requests = requests
        self._seconds = seconds
        # Only methods the server has a handler for: unknown names make no series.
        self._methods: dict[str, _Method] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        name = handler_call_details.method
        method = self._methods.get(name)
        if method is None:
            method = self._methods[name] = _Method(name, self._requests, self._seconds)
        return handlers.rewrap(handler, method.wrap_unary, method.wrap_stream)


class _LoopUnavailableError(Exception):
    """The hub's event loop did not answer: closed (shutting down), or busy past the timeout."""


def _on_loop(
    loop: asyncio.AbstractEventLoop, read: Callable[[], Awaitable[_T]], timeout: float
) -> _T:
    """Run ``read`` on ``loop`` from another thread (the HTTP server's) and return its result."""
    running: asyncio.AbstractEventLoop | None = None
    with contextlib.suppress(RuntimeError):  # no loop runs in this thread: the usual case
        running = asyncio.get_running_loop()
    if running is loop:
        raise RuntimeError("collect the hub's metrics from another thread than its event loop")

    async def run() -> _T:
        return await read()

    coroutine = run()
    try:
        done = asyncio.run_coroutine_threadsafe(coroutine, loop)
    except RuntimeError as exc:  # the loop is closed
        coroutine.close()
        raise _LoopUnavailableError(str(exc)) from exc
    try:
        return done.result(timeout)
    except TimeoutError:
        done.cancel()
        raise _LoopUnavailableError(f"no answer within {timeout} s") from None


def _known_states(counts: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """``counts`` with every state and opsState outside OKG's counted as Other: an agent's
    strings must not make a series each."""
    folded: dict[tuple[str, str], int] = {}
    for (state, ops_state), value in counts.items():
        key = (
            state if state in agent_limits.GAME_SERVER_STATES else agent_limits.OTHER_STATE,
            ops_state if ops_state in agent_limits.OPS_STATES else agent_limits.OTHER_STATE,
        )
        folded[key] = folded.get(key, 0) + value
    return folded


def _cumulative(counts: list[int]) -> list[tuple[str, float]]:
    buckets: list[tuple[str, float]] = []
    total = 0
    for bound, count in zip((*RECONCILE_BUCKETS, float("inf")), counts, strict=True):
        total += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), total))
    return buckets


class LiveCollector:
    """The federation's live state and counts, read at scrape time on the hub's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read: ReadLive) -> None:
        self._loop = loop
        self._read = read

    def collect(self) -> Iterator[prometheus_client.Metric]:
        core = prometheus_client.core
        try:
            counts = _on_loop(self._loop, self._read, LIVE_READ_TIMEOUT_S)
        except _LoopUnavailableError as exc:
            log.warning("metrics: live state not read from the event loop: %s", exc)
            return
        yield core.GaugeMetricFamily(
            "gamefleet_hub_leader",
            "1 while this hub is the leader (serves the API and the agents), 0 on a follower.",
            value=0 if counts is None else 1,
        )
        fleets = core.GaugeMetricFamily("gamefleet_hub_fleets", "Fleets the leader holds.")
        sessions = core.GaugeMetricFamily(
            "gamefleet_hub_agent_sessions", "Agents connected to this hub (one per cluster)."
        )
        clusters = core.GaugeMetricFamily(
            "gamefleet_hub_clusters",
            "Registered clusters, by phase of their agent's heartbeats (Ready, Unknown) and "
            "whether they are cordoned.",
            labels=["phase", "cordoned"],
        )
        servers = core.GaugeMetricFamily(
            "gamefleet_hub_game_servers",
            "Game servers the agents report, by state and opsState.",
            labels=["state", "ops_state"],
        )
        desired = core.CounterMetricFamily(
            "gamefleet_hub_desired_set_messages",
            "Messages of desired GameServerSets sent to agents (since this hub began to lead).",
        )
        deltas = core.CounterMetricFamily(
            "gamefleet_hub_status_deltas",
            "Status-delta messages received from agents (since this hub began to lead).",
        )
        allocations = core.CounterMetricFamily(
            "gamefleet_hub_allocations",
            "Allocation requests answered, by outcome: allocated (a server newly allocated), "
            "replayed (the answer given before), resumed (the server an earlier attempt's intent "
            "named, committed again by its agent), recovered (found by the request_id its agent "
            "wrote; its record was missing), exhausted (none left), unknown (the agent asked did "
            "not answer: the caller retries).",
            labels=["outcome"],
        )
        released = core.CounterMetricFamily(
            "gamefleet_hub_allocations_released",
            "Allocated servers given back because their request's intent expired unanswered "
            "(no caller was told of them).",
        )
        retries = core.CounterMetricFamily(
            "gamefleet_hub_allocation_retries",
            "Candidates an allocation moved on from, by reason: conflict (the agent found the "
            "server taken or changed), unanswered (agent not connected or no answer in time), "
            "error (the agent's write failed).",
            labels=["reason"],
        )
        refusals = core.CounterMetricFamily(
            "gamefleet_hub_agent_refusals",
            "What the hub refused of what agents sent beyond its limits, by field and action: "
            "refused (the agent's stream ended, INVALID_ARGUMENT or RESOURCE_EXHAUSTED) or "
            "dropped (that entry ignored, the rest of the message kept).",
            labels=["field", "action"],
        )
        restarts = core.CounterMetricFamily(
            "gamefleet_hub_task_restarts",
            "Restarts of the federation's background tasks after they failed (each failure is "
            "logged with its traceback), by task.",
            labels=["task"],
        )
        reconcile = core.HistogramMetricFamily(
            "gamefleet_hub_reconcile_seconds",
            "Time to compute and send the desired sets of the fleets that changed, per reconcile.",
        )
        if counts is not None:
            fleets.add_metric([], counts.fleets)
            sessions.add_metric([], counts.sessions)
            # Every combination, at 0 when empty, so a series does not vanish.
            phases = {(p.value, c) for p in LIVENESS_PHASES for c in (False, True)}
            for phase, cordoned in sorted(phases | counts.clusters.keys()):
                value = counts.clusters.get((phase, cordoned), 0)
                clusters.add_metric([phase, str(cordoned).lower()], value)
            for (state, ops_state), value in sorted(_known_states(counts.game_servers).items()):
                servers.add_metric([state, ops_state], value)
            stats = counts.stats
            desired.add_metric([], stats.desired_messages)
            deltas.add_metric([], stats.status_deltas)
            reconcile.add_metric(
                [], _cumulative(stats.reconcile_counts), sum_value=stats.reconcile_seconds
            )
            for outcome, value in stats.allocations.items():
                allocations.add_metric([outcome], value)
            for reason, value in stats.allocation_retries.items():
                retries.add_metric([reason], value)
            released.add_metric([], stats.allocations_released)
            for (field, action), value in sorted(stats.agent_refusals.items()):
                refusals.add_metric([field, action], value)
            for task, value in sorted(stats.task_restarts.items()):
                restarts.add_metric([task], value)
        yield from (fleets, sessions, clusters, servers, desired, deltas, allocations, retries)
        yield from (refusals, restarts, released)
        yield reconcile
        if counts is not None and counts.autoscaling is not None:
            yield from _autoscaling_families(counts.autoscaling)


def _autoscaling_families(stats: AutoscalingStats) -> Iterator[prometheus_client.Metric]:
    core = prometheus_client.core
    decisions = core.CounterMetricFamily(
        "gamefleet_hub_autoscaler_decisions",
        "Decisions a FleetAutoscaler wrote (since this hub began to lead), by direction: up, "
        "down, or split (the same total divided differently over the clusters).",
        labels=["namespace", "autoscaler", "direction"],
    )
    for (namespace, name, direction), value in sorted(stats.decisions.items()):
        decisions.add_metric([namespace, name, direction], value)
    when = core.GaugeMetricFamily(
        "gamefleet_hub_autoscaler_last_decision_timestamp_seconds",
        "When a FleetAutoscaler last wrote a decision (Unix time).",
        labels=["namespace", "autoscaler", "fleet"],
    )
    replicas = core.GaugeMetricFamily(
        "gamefleet_hub_autoscaler_last_decision_replicas",
        "The fleet's replicas before (from) and after (to) a FleetAutoscaler's last decision.",
        labels=["namespace", "autoscaler", "fleet", "side"],
    )
    for (namespace, name), last in sorted(stats.last.items()):
        when.add_metric([namespace, name, last.fleet], last.time)
        replicas.add_metric([namespace, name, last.fleet, "from"], last.from_replicas)
        replicas.add_metric([namespace, name, last.fleet, "to"], last.to_replicas)
    evaluations = core.CounterMetricFamily(
        "gamefleet_hub_autoscaler_evaluations",
        "Policy evaluations of every FleetAutoscaler, whether or not they changed anything.",
    )
    evaluations.add_metric([], stats.evaluations)
    seconds = core.CounterMetricFamily(
        "gamefleet_hub_autoscaler_evaluation_seconds",
        "Wall time spent in those evaluations, store writes and webhook calls included.",
    )
    seconds.add_metric([], stats.evaluation_seconds)
    failures = core.CounterMetricFamily(
        "gamefleet_hub_autoscaler_webhook_failures",
        "Webhook calls that gave no usable answer (timeout, refused, bad status or body).",
    )
    failures.add_metric([], stats.webhook_failures)
    yield from (decisions, when, replicas, evaluations, seconds, failures)


class HubMetrics:
    """The registry of one hub, its metric families and its HTTP endpoint."""

    def __init__(self, read_live: ReadLive, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        prometheus_client.ProcessCollector(registry=self.registry)
        self.requests = prometheus_client.Counter(
            "gamefleet_hub_grpc_requests",
            "gRPC calls handled, by service, method and status code; a streaming call "
            "counts when its stream ends.",
            ["service", "method", "code"],
            registry=self.registry,
        )
        self.seconds = prometheus_client.Histogram(
            "gamefleet_hub_grpc_request_seconds",
            "Time to answer a gRPC call that answers one message, by service and method "
            "(streams are counted, not timed).",
            ["service", "method"],
            buckets=GRPC_BUCKETS,
            registry=self.registry,
        )
        self.store = metered.StoreMetrics(self.registry)
        collector: Collector = LiveCollector(loop or asyncio.get_running_loop(), read_live)
        self.registry.register(collector)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def interceptor(self) -> MetricsInterceptor:
        return MetricsInterceptor(self.requests, self.seconds)

    def serve(self, listen: str) -> int:
        """Serve ``/metrics`` over HTTP on ``listen`` (HOST:PORT); return the bound port.

        ValueError for a malformed address, ListenError when it cannot be bound.
        """
        host, port = parse_listen(listen)
        try:
            server, thread = prometheus_client.start_http_server(
                port, addr=host, registry=self.registry
            )
        except OSError as exc:
            raise ListenError(f"cannot listen on {listen}: {exc.strerror or exc}") from exc
        self._server, self._thread = server, thread
        return server.server_port

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.shutdown)
            server.server_close()
