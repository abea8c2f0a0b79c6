"""The prober: every replica probes the game servers on its own node and reports outcomes.

One task per (pod, service quality) runs the probe every `periodSeconds` (exec through the API
server's `pods/exec`; HTTP GET, TCP and gRPC health checks straight to the pod IP), counts
consecutive results as the kubelet does (`quality.Threshold`), and writes
`status.serviceQualitiesConditions` of the pod's GameServer through the status subresource when
the reported outcome, or the writer's action time for it, changes. Probers never touch spec,
labels or annotations: the leader's reconciler applies the actions (`agent.quality.actions`).

The prober reads the replica's existing caches (sets, GameServers, pods); it adds no list or
watch of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import TYPE_CHECKING

import aiohttp
import grpc
from grpc_health.v1 import health_pb2

from agent import metrics
from agent.core import bodies, quality
from agent.kube import client as kclient
from agent.kube import exec as kexec
from agent.kube import resources
from okg import service_quality

from . import actions

if TYPE_CHECKING:
    from collections.abc import Callable

    from agent.kube.cache import WatchCache

    HealthCheck = grpc.aio.UnaryUnaryMultiCallable[
        health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse
    ]

TargetKey = tuple[str, str, str, str]
"""(namespace, pod, pod uid, quality name)."""

_log = logging.getLogger(__name__)
_HTTP_BODY = 10 * 1024
_HEALTH_CHECK = "/grpc.health.v1.Health/Check"
# A channel per probe target with a connection of its own (a closed channel takes its
# connection and reconnect backoff with it); a failed call is not retried.
_GRPC_OPTIONS = (("grpc.use_local_subchannel_pool", 1), ("grpc.enable_retries", 0))


class Prober:
    """Probe the pods of this node (every pod when `node_name` is None)."""

    def __init__(
        self,
        kube: kclient.KubeClient,
        sets: WatchCache,
        game_servers: WatchCache,
        pods: WatchCache,
        node_name: str | None,
        *,
        clock: Callable[[], float] = time.time,
        resync: float = 1.0,
        max_in_flight: int = 64,
    ) -> None:
        self._kube = kube
        self._sets = sets
        self._gs = game_servers
        self._pods = pods
        self._node = node_name or None
        self._clock = clock
        self._resync = resync
        self._targets: dict[
            TargetKey, tuple[service_quality.ServiceQuality, asyncio.Task[None]]
        ] = {}
        # Conditions this prober wrote, per GameServer (by uid: a recreated one starts empty).
        self._written: dict[tuple[str, str], tuple[str, dict[str, bodies.Json]]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._invalid: dict[tuple[str, str], int] = {}
        self._http: aiohttp.ClientSession | None = None
        # gRPC channels by probe target, reused across periods: (address, channel, Check).
        self._channels: dict[TargetKey, tuple[str, grpc.aio.Channel, HealthCheck]] = {}
        # Probes past this many wait (late) rather than all time out together under overload.
        self._slots = asyncio.Semaphore(max_in_flight)
        self.probes = 0
        self.reports = 0

    async def run(self) -> None:
        """Keep one task per (pod, quality) until cancelled."""
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        with contextlib.suppress(ValueError):  # one prober per process exposes its counts
            metrics.register_callback(
                "gamefleet_agent_quality",
                "Service-quality probes run, condition writes, targets; API requests in all.",
                self.counts,
                "what",
            )
        try:
            await asyncio.gather(*(c.synced.wait() for c in (self._sets, self._gs, self._pods)))
            while True:
                self.sync_targets()
                await asyncio.sleep(self._resync)
        finally:
            tasks = [task for _, task in self._targets.values()]
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._targets.clear()
            await self._http.close()

    def counts(self) -> dict[str, float]:
        return {
            "probes": float(self.probes),
            "reports": float(self.reports),
            "targets": float(len(self._targets)),
            "grpc_channels": float(len(self._channels)),
            "api_requests": float(self._kube.requests),
        }

    def sync_targets(self) -> None:
        """Start tasks for new (pod, quality) pairs; stop those whose pod or spec went."""
        wanted: dict[TargetKey, tuple[service_quality.ServiceQuality, bodies.Json]] = {}
        for gss in self._sets.all():
            namespace, name = bodies.key(gss)
            qualities = self._qualities(gss, namespace, name)
            if not qualities:
                continue
            for pod in self._pods.by_index(f"{namespace}/{name}"):
                spec = pod.get("spec") or {}
                if self._node is not None and spec.get("nodeName") != self._node:
                    continue
                status = pod.get("status") or {}
                if status.get("phase") != "Running" or not status.get("podIP"):
                    continue
                for q in qualities:
                    key = (namespace, bodies.name(pod), bodies.uid(pod), q.name)
                    wanted[key] = (q, pod)
        for key, (q, task) in list(self._targets.items()):
            if key not in wanted or wanted[key][0] != q or task.done():
                task.cancel()
                del self._targets[key]
        for key, (q, pod) in wanted.items():
            if key not in self._targets:
                task = asyncio.create_task(self._loop(key, q, pod), name=f"probe-{key[1]}-{q.name}")
                self._targets[key] = (q, task)
        live = {(k[0], k[1]) for k in self._targets}
        for gs_key in list(self._written):
            if gs_key not in live:
                self._written.pop(gs_key, None)
                self._locks.pop(gs_key, None)

    def _qualities(
        self, gss: bodies.Json, namespace: str, name: str
    ) -> tuple[service_quality.ServiceQuality, ...]:
        try:
            return quality.parse_qualities((gss.get("spec") or {}).get("serviceQualities"))
        except quality.QualitySpecError as exc:
            generation = bodies.generation(gss)
            if self._invalid.get((namespace, name)) != generation:
                self._invalid[(namespace, name)] = generation
                _log.warning("GameServerSet %s/%s: %s", namespace, name, exc)
            return ()

    async def _loop(
        self, key: TargetKey, q: service_quality.ServiceQuality, pod: bodies.Json
    ) -> None:
        probe = q.probe
        started = bodies.parse_time((pod.get("status") or {}).get("startTime")) or self._clock()
        delay = probe.initial_delay - (self._clock() - started)
        if delay <= 0:
            delay = random.uniform(0, probe.period)  # spread pods found at once over a period
        await asyncio.sleep(delay)
        threshold = quality.Threshold()
        try:
            while True:
                began = time.monotonic()
                live = self._pods.get((key[0], key[1])) or pod
                async with self._slots:
                    ok, output = await self.probe_once(live, q, key)
                self.probes += 1
                threshold, outcome = threshold.observe(probe, ok, output)
                if outcome is not None:
                    try:
                        await self._report(key[0], key[1], q.name, outcome)
                    except kclient.ApiError as exc:
                        if not (exc.not_found or exc.conflict):
                            _log.warning("reporting %s of %s/%s: %s", q.name, *key[:2], exc)
                await asyncio.sleep(max(0.0, probe.period - (time.monotonic() - began)))
        finally:
            await self._close_channel(key)

    async def probe_once(
        self, pod: bodies.Json, q: service_quality.ServiceQuality, key: TargetKey | None = None
    ) -> tuple[bool, str]:
        """Run the probe once: (success, output). Errors and timeouts are failures.

        A gRPC probe with a target `key` keeps its channel for the next run; without one it
        opens a channel for this run only."""
        probe = q.probe
        meta = bodies.meta(pod)
        try:
            if probe.kind is service_quality.ProbeKind.EXEC:
                result = await kexec.run(
                    self._kube,
                    str(meta.get("namespace")),
                    str(meta.get("name")),
                    probe.command,
                    container=q.container or _first_container(pod),
                    timeout=probe.timeout,
                )
                return result.exit_code == 0, result.stdout
            host = probe.host or str((pod.get("status") or {}).get("podIP") or "")
            port = _resolve_port(pod, q.container, probe.port)
            if port is None or not host:
                return False, ""
            if probe.kind is service_quality.ProbeKind.TCP:
                async with asyncio.timeout(probe.timeout):
                    _, writer = await asyncio.open_connection(host, port)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return True, ""
            if probe.kind is service_quality.ProbeKind.GRPC:
                return await self._grpc_check(probe, host, port, key)
            return await self._http_get(probe, host, port)
        except (TimeoutError, OSError, aiohttp.ClientError, kexec.ExecError) as exc:
            _log.debug("probe %s of %s failed: %s", q.name, meta.get("name"), exc)
            return False, ""

    async def _http_get(
        self, probe: service_quality.Probe, host: str, port: int
    ) -> tuple[bool, str]:
        assert self._http is not None
        scheme = "https" if probe.scheme == "HTTPS" else "http"
        path = probe.path if probe.path.startswith("/") else "/" + probe.path
        async with self._http.get(
            f"{scheme}://{host}:{port}{path}",
            headers=dict(probe.headers),
            timeout=aiohttp.ClientTimeout(total=probe.timeout),
            ssl=False,
            allow_redirects=False,
        ) as resp:
            body = await resp.content.read(_HTTP_BODY)
            return 200 <= resp.status < 400, body.decode(errors="replace")

    async def _grpc_check(
        self, probe: service_quality.Probe, host: str, port: int, key: TargetKey | None
    ) -> tuple[bool, str]:
        """`grpc.health.v1.Health/Check` for `probe.service` within the probe's timeout."""
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        cached = self._channels.get(key) if key is not None else None
        if cached is not None and cached[0] != address:  # the pod's address changed
            await self._close_channel(key)
            cached = None
        if cached is None:
            channel = grpc.aio.insecure_channel(address, options=_GRPC_OPTIONS)
            check: HealthCheck = channel.unary_unary(
                _HEALTH_CHECK,
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            cached = (address, channel, check)
            if key is not None:
                self._channels[key] = cached
        _, channel, check = cached
        try:
            response = await check(
                health_pb2.HealthCheckRequest(service=probe.service), timeout=probe.timeout
            )
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            _log.debug("grpc probe of %s: %s %s", address, code.name, exc.details())
            if code is not grpc.StatusCode.NOT_FOUND:
                # The next run connects afresh instead of waiting out this channel's backoff.
                await self._close_channel(key)
            return quality.grpc_outcome(code.name)
        finally:
            if key is None:
                await channel.close(None)
        return quality.grpc_outcome("OK", _serving_name(response.status))

    async def _close_channel(self, key: TargetKey | None) -> None:
        cached = self._channels.pop(key, None) if key is not None else None
        if cached is not None:
            await cached[1].close(None)

    async def _report(
        self, namespace: str, name: str, q_name: str, outcome: quality.Outcome
    ) -> None:
        """Write the GameServer's conditions when this outcome or its action time changed."""
        gs_key = (namespace, name)
        lock = self._locks.setdefault(gs_key, asyncio.Lock())
        async with lock:
            gs = self._gs.get(gs_key)
            if gs is None:
                return
            current = list((gs.get("status") or {}).get("serviceQualitiesConditions") or [])
            uid = bodies.uid(gs)
            written = self._written.get(gs_key)
            if written is None or written[0] != uid:
                written = self._written[gs_key] = (uid, {})
            mine = written[1]
            by_name: dict[str, bodies.Json] = {str(c.get("name")): c for c in current}
            by_name.update(mine)
            old = by_name.get(q_name) or {}
            notes = bodies.annotations_of(gs)
            record = quality.decode_records(notes.get(actions.RECORD_ANNOTATION)).get(q_name)
            now = bodies.rfc3339(self._clock())
            same = old.get("status") == outcome.status_text and old.get("result") == outcome.result
            cond: bodies.Json = {
                "name": q_name,
                "status": outcome.status_text,
                "result": outcome.result,
                "lastProbeTime": old.get("lastProbeTime") if same else now,
                "lastTransitionTime": old.get("lastTransitionTime") if same else now,
            }
            if record is not None and record.acted_at:
                cond["lastActionTransitionTime"] = record.acted_at
            cond = {k: v for k, v in cond.items() if v is not None}
            if cond == old:
                return
            by_name[q_name] = cond
            body = [by_name[n] for n in sorted(by_name)]
            self.reports += 1
            # The uid is a precondition: a GameServer recreated meanwhile answers 409.
            await self._kube.patch(
                resources.GAME_SERVER,
                namespace,
                name,
                {"metadata": {"uid": uid}, "status": {"serviceQualitiesConditions": body}},
                subresource="status",
            )
            mine[q_name] = cond


def _serving_name(status: int) -> str:
    """The serving status's name; a number this client does not know, as digits."""
    try:
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(status))
    except ValueError:
        return str(status)


def _first_container(pod: bodies.Json) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    return str(containers[0].get("name", "")) if containers else ""


def _resolve_port(pod: bodies.Json, container: str, port: int | str) -> int | None:
    """A number, or a named container port (in `container`, else in any container)."""
    if isinstance(port, int):
        return port
    for c in (pod.get("spec") or {}).get("containers") or []:
        if container and c.get("name") != container:
            continue
        for p in c.get("ports") or []:
            if p.get("name") == port and isinstance(p.get("containerPort"), int):
                return int(p["containerPort"])
    return None
