"""KEDA's `externalscaler.ExternalScaler`, answered as OKG's scaler does, from the watch caches.

The ScaledObject's name and namespace name the GameServerSet (as in OKG); its trigger metadata
carries `minAvailable`, `maxAvailable` and `scaleDownThreshold`. No call reaches the Kubernetes
API: every answer is read from the caches this replica keeps anyway, so every replica serves.

A GameServerSet the gamefleet hub manages is refused (FAILED_PRECONDITION): its replicas come
from the hub's Fleet (the user's, or its FleetAutoscaler's), and the hub puts back any other
count, so KEDA would fight it. KEDA scales the sets a cluster runs on its own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from externalscaler import externalscaler_pb2, externalscaler_pb2_grpc

from agent.core import autoscale, bodies, views, wire

from . import changes

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Mapping

    # grpc's classes are generic only in their stubs.
    Context = grpc.aio.ServicerContext[Any, Any]

Key = changes.Key

SERVICE_NAME = "externalscaler.ExternalScaler"
SYNC_WAIT_SECONDS = 5.0
"""How long a call waits for this replica's caches to finish their first list."""

_log = logging.getLogger(__name__)


class Cache(changes.Watched, Protocol):
    """The reads the scaler makes of a watch cache."""

    synced: asyncio.Event

    def get(self, key: Key) -> bodies.Json | None: ...

    def by_index(self, value: str) -> list[bodies.Json]: ...


class Refused(Exception):
    """End the call with `code`."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def servers_of(
    pods: Iterable[bodies.Json], game_servers: Mapping[str, bodies.Json]
) -> list[autoscale.Server]:
    """The set's pods as the scaler counts them: the opsState is the GameServer's (its spec is
    what users and probes write), the pod's label while the GameServer is missing."""
    servers = []
    for pod in pods:
        meta = views.meta(pod)
        gs = game_servers.get(str(meta.get("name", "")))
        ops = ((gs or {}).get("spec") or {}).get("opsState") or views.labels_of(pod).get(
            wire.GS_OPS_STATE
        )
        servers.append(
            autoscale.Server(
                ops_state=str(ops or "None"), leaving=bool(meta.get("deletionTimestamp"))
            )
        )
    return servers


class Scaler(externalscaler_pb2_grpc.ExternalScalerServicer):
    """The servicer: metric `gssReplicas` with target 1, whose value is the replicas to set."""

    def __init__(
        self,
        sets: Cache,
        game_servers: Cache,
        pods: Cache,
        *,
        namespace: str | None = None,
        hub_managed: Callable[[bodies.Json], bool] | None = None,
        hub: str = "",
    ) -> None:
        self._sets = sets
        self._game_servers = game_servers
        self._pods = pods
        self._namespace = namespace
        # Whether a set is the hub's (the agent's link knows its mark), and the hub's address.
        self._hub_managed = hub_managed
        self._hub = hub
        self.changes = changes.Changes(sets, (game_servers, pods))

    # KEDA's calls.

    async def IsActive(
        self, request: externalscaler_pb2.ScaledObjectRef, context: Context
    ) -> externalscaler_pb2.IsActiveResponse:
        try:
            key, config = _parse(request, "")
            await self._wait_synced()
            return externalscaler_pb2.IsActiveResponse(result=self._is_active(key, config))
        except Refused as exc:
            await context.abort(exc.code, exc.details)

    async def StreamIsActive(
        self, request: externalscaler_pb2.ScaledObjectRef, context: Context
    ) -> AsyncIterator[externalscaler_pb2.IsActiveResponse]:
        """The current answer at once, then each time it changes; it is recomputed after every
        event of the set, its pods or its GameServers."""
        try:
            key, config = _parse(request, "")
            await self._wait_synced()
            with self.changes.follow(key) as changed:
                last: bool | None = None
                while True:
                    changed.clear()
                    active = self._is_active(key, config)
                    if active is not last:
                        last = active
                        yield externalscaler_pb2.IsActiveResponse(result=active)
                    await changed.wait()
        except Refused as exc:
            await context.abort(exc.code, exc.details)

    async def GetMetricSpec(
        self, request: externalscaler_pb2.ScaledObjectRef, context: Context
    ) -> externalscaler_pb2.GetMetricSpecResponse:
        try:
            key, _ = _parse(request, "")
            gss = self._sets.get(key)
            if gss is not None:
                self._refuse_hub_managed(key, gss)
        except Refused as exc:
            await context.abort(exc.code, exc.details)
        spec = externalscaler_pb2.MetricSpec(
            metricName=autoscale.METRIC_NAME,
            targetSize=autoscale.METRIC_TARGET,
            targetSizeFloat=float(autoscale.METRIC_TARGET),
        )
        return externalscaler_pb2.GetMetricSpecResponse(metricSpecs=[spec])

    async def GetMetrics(
        self, request: externalscaler_pb2.GetMetricsRequest, context: Context
    ) -> externalscaler_pb2.GetMetricsResponse:
        try:
            key, config = _parse(request.scaledObjectRef, "scaledObjectRef.")
            await self._wait_synced()
            observed = self._observe(key)
            value = autoscale.desired_replicas(config, observed)
        except Refused as exc:
            await context.abort(exc.code, exc.details)
        _log.debug("GameServerSet %s/%s: %s -> %d replicas", *key, observed, value)
        metric = externalscaler_pb2.MetricValue(
            metricName=autoscale.METRIC_NAME, metricValue=value, metricValueFloat=float(value)
        )
        return externalscaler_pb2.GetMetricsResponse(metricValues=[metric])

    async def StreamMetricSpec(
        self, request: externalscaler_pb2.ScaledObjectRef, context: Context
    ) -> AsyncIterator[externalscaler_pb2.GetMetricSpecResponse]:
        """Not served: the spec never changes, and KEDA polls GetMetricSpec on UNIMPLEMENTED."""
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            f"the metric spec is fixed ({autoscale.METRIC_NAME}, target "
            f"{autoscale.METRIC_TARGET}): use GetMetricSpec",
        )
        yield externalscaler_pb2.GetMetricSpecResponse()  # pragma: no cover (makes a generator)

    # Reads.

    async def _wait_synced(self) -> None:
        caches = (self._sets, self._game_servers, self._pods)
        try:
            async with asyncio.timeout(SYNC_WAIT_SECONDS):
                for cache in caches:
                    await cache.synced.wait()
        except TimeoutError:
            raise Refused(
                grpc.StatusCode.UNAVAILABLE, "the agent's caches have not finished listing yet"
            ) from None

    def _observe(self, key: Key) -> autoscale.ScalerInput:
        namespace, name = key
        if self._namespace is not None and namespace != self._namespace:
            raise Refused(
                grpc.StatusCode.NOT_FOUND,
                f"GameServerSet {namespace}/{name}: this agent watches namespace "
                f"{self._namespace} only",
            )
        gss = self._sets.get(key)
        if gss is None:
            raise Refused(
                grpc.StatusCode.NOT_FOUND,
                f"GameServerSet {namespace}/{name} not found (the ScaledObject is named after "
                "its GameServerSet)",
            )
        self._refuse_hub_managed(key, gss)
        index = f"{namespace}/{name}"
        game_servers = {
            str(views.meta(gs).get("name", "")): gs for gs in self._game_servers.by_index(index)
        }
        servers = servers_of(self._pods.by_index(index), game_servers)
        replicas = int(views.spec(gss).get("replicas") or 0)
        return autoscale.observe(replicas, servers)

    def _refuse_hub_managed(self, key: Key, gss: bodies.Json) -> None:
        if self._hub_managed is None or not self._hub_managed(gss):
            return
        hub = f"the gamefleet hub at {self._hub}" if self._hub else "the gamefleet hub"
        raise Refused(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"GameServerSet {key[0]}/{key[1]} is managed by {hub}: its replicas come from the "
            "hub's Fleet and the hub puts any other count back; scale it on the hub (gamefleet "
            "scale fleet, or a FleetAutoscaler: docs/autoscaling.md), not with KEDA",
        )

    def _is_active(self, key: Key, config: autoscale.ScalerConfig) -> bool:
        observed = self._observe(key)
        return autoscale.is_active(config, observed.total, observed.wait_to_be_deleted)


def _parse(
    ref: externalscaler_pb2.ScaledObjectRef, prefix: str
) -> tuple[Key, autoscale.ScalerConfig]:
    """The set's key and the scaler settings; INVALID_ARGUMENT naming the field or key."""
    for field, value in (("name", ref.name), ("namespace", ref.namespace)):
        if not value:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"{prefix}{field}: required")
    config = autoscale.ScalerConfig.from_metadata(ref.scalerMetadata)
    try:
        autoscale.validate(config)
    except autoscale.ScalerConfigError as exc:
        raise Refused(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{prefix}scalerMetadata.{exc.key}: {exc.message}",
        ) from None
    return (ref.namespace, ref.name), config
