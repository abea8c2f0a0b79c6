"""The hub process: one gRPC server with the API services, health and reflection.

Every replica campaigns for leadership; the leader runs the federation (agent streams,
placement, status) and serves the API, followers answer UNAVAILABLE naming the leader.
The SQLite store has one replica, which always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from pathlib import Path

import grpc
from gamefleet.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    allocation_pb2,
    allocation_pb2_grpc,
    autoscaler_pb2,
    autoscaler_pb2_grpc,
    cluster_pb2,
    cluster_pb2_grpc,
    event_pb2,
    event_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    gameserver_pb2,
    gameserver_pb2_grpc,
)
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from hub import store as store_factory
from hub.core.health import HealthPolicy
from hub.core.limits import DEFAULT_LIMITS, AgentLimits
from hub.federation.allocator import Allocator
from hub.federation.autoscaler import Autoscaling
from hub.federation.federation import Federation
from hub.federation.stats import LiveCounts
from hub.registry.allocations import AllocationRegistry
from hub.registry.assignments import AssignmentRegistry
from hub.registry.autoscalers import AutoscalerRegistry
from hub.registry.clusters import ClusterRegistry
from hub.registry.fleets import FleetRegistry
from hub.store import interface as store_api

from . import auth, handlers, metrics
from .agents import AgentServicer, no_identity
from .allocations import AllocationServicer
from .autoscalers import FleetAutoscalerServicer
from .clusters import ClusterServicer
from .errors import ErrorInterceptor
from .events import EventServicer
from .fleets import FleetServicer
from .gameservers import GameServerServicer
from .leadership import LeaderGate

log = logging.getLogger(__name__)

AGENT_SERVICE = agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name
SERVICE_NAMES = (
    fleet_pb2.DESCRIPTOR.services_by_name["FleetService"].full_name,
    cluster_pb2.DESCRIPTOR.services_by_name["ClusterService"].full_name,
    gameserver_pb2.DESCRIPTOR.services_by_name["GameServerService"].full_name,
    allocation_pb2.DESCRIPTOR.services_by_name["AllocationService"].full_name,
    event_pb2.DESCRIPTOR.services_by_name["EventService"].full_name,
    autoscaler_pb2.DESCRIPTOR.services_by_name["FleetAutoscalerService"].full_name,
    AGENT_SERVICE,
)
# Health of this name is SERVING on the leader only (readiness probes use it).
LEADER_SERVICE = AGENT_SERVICE


@dataclasses.dataclass(frozen=True)
class HubConfig:
    store_url: str
    listen: str = "127.0.0.1:7400"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # With a client CA, agents connect with certificates it signed on ``agent_listen``.
    client_ca: Path | None = None
    agent_listen: str | None = None
    # With a token file, user calls need "authorization: Bearer <token>".
    token_file: Path | None = None
    # The address other replicas and clients reach this hub at; default: the bound address.
    advertise: str | None = None
    # HOST:PORT of a plain-HTTP /metrics endpoint (Prometheus); None serves no metrics.
    metrics_listen: str | None = None
    health: HealthPolicy = dataclasses.field(default_factory=HealthPolicy)
    # What one agent may send (docs/limits.md); tests lower the per-cluster counts.
    agent_limits: AgentLimits = DEFAULT_LIMITS


class Hub:
    """Owns the store, the registries, the federation and the gRPC server of one hub."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.store: store_api.Store | None = None
        self.server: grpc.aio.Server | None = None
        self.port = 0
        self.agent_port: int | None = None
        self.health = health_aio.HealthServicer()
        self.gate = LeaderGate()
        self.clusters: ClusterRegistry | None = None
        self.fleets: FleetRegistry | None = None
        self.elector: store_factory.LeaderElector | None = None
        self._leadership_task: asyncio.Task[None] | None = None
        self._leading = asyncio.Event()
        self.metrics: metrics.HubMetrics | None = None
        self.metrics_port: int | None = None

    async def start(self) -> None:
        interceptors: list[handlers.Interceptor] = []
        if self.config.metrics_listen is not None:
            self.metrics = metrics.HubMetrics(self._live_counts)
            self.metrics_port = self.metrics.serve(self.config.metrics_listen)
            interceptors.append(self.metrics.interceptor())
        self.store = await store_factory.open_store(
            self.config.store_url, metrics=self.metrics.store if self.metrics else None
        )
        clusters = self.clusters = ClusterRegistry(self.store)
        fleets = self.fleets = FleetRegistry(self.store)
        config = self.config
        interceptors += [auth.interceptor(config.token_file, config.client_ca), ErrorInterceptor()]
        server = grpc.aio.server(interceptors=interceptors)
        fleet_pb2_grpc.add_FleetServiceServicer_to_server(FleetServicer(fleets, self.gate), server)
        cluster_pb2_grpc.add_ClusterServiceServicer_to_server(
            ClusterServicer(clusters, self.gate), server
        )
        gameserver_pb2_grpc.add_GameServerServiceServicer_to_server(
            GameServerServicer(self.gate), server
        )
        allocation_pb2_grpc.add_AllocationServiceServicer_to_server(
            AllocationServicer(self.gate), server
        )
        event_pb2_grpc.add_EventServiceServicer_to_server(EventServicer(self.gate), server)
        autoscaler_pb2_grpc.add_FleetAutoscalerServiceServicer_to_server(
            FleetAutoscalerServicer(AutoscalerRegistry(self.store), self.gate), server
        )
        identity_of = auth.cluster_identity if config.client_ca is not None else no_identity
        agent_pb2_grpc.add_AgentServiceServicer_to_server(
            AgentServicer(self.gate, identity_of), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        ports = auth.add_ports(
            server,
            config.listen,
            tls_cert=config.tls_cert,
            tls_key=config.tls_key,
            client_ca=config.client_ca,
            agent_listen=config.agent_listen,
        )
        self.port, self.agent_port = ports.user, ports.agent
        await server.start()
        self.server = server
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self._set_serving(False)
        identity = self.config.advertise or f"{self.config.listen.rpartition(':')[0]}:{self.port}"
        self.elector = await store_factory.open_elector(self.config.store_url, identity)
        self._leadership_task = asyncio.create_task(self._follow_leadership(self.elector))
        log.info("hub serving on port %d, store %s", self.port, self.config.store_url)

    async def _live_counts(self) -> LiveCounts | None:
        federation = self.gate.federation
        if federation is None:
            return None
        counts = await federation.live_counts()
        autoscaling = self.gate.autoscaling
        if autoscaling is None:
            return counts
        return dataclasses.replace(counts, autoscaling=autoscaling.stats.copy())

    async def wait_until_leading(self, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            await self._leading.wait()

    async def _set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in SERVICE_NAMES:
            await self.health.set(name, status)

    async def _follow_leadership(self, elector: store_factory.LeaderElector) -> None:
        assert self.fleets is not None and self.clusters is not None
        async for state in elector.changes():
            self.gate.leader = state.leader
            log.info("leadership: leader=%s (this hub %s)", state.leader, elector.identity)
            if state.is_leader and self.gate.federation is None:
                assert self.store is not None
                federation = Federation(
                    self.fleets,
                    self.clusters,
                    self.config.health,
                    assignments=AssignmentRegistry(self.store),
                    agent_limits=self.config.agent_limits,
                )
                await federation.start()
                allocations = Allocator(federation, AllocationRegistry(self.store))
                allocations.start()
                self.gate.allocator = allocations
                autoscaling = Autoscaling(federation, AutoscalerRegistry(self.store))
                await autoscaling.start()
                self.gate.autoscaling = autoscaling
                self.gate.federation = federation
                self._leading.set()
                await self._set_serving(True)
            elif not state.is_leader and self.gate.federation is not None:
                federation, self.gate.federation = self.gate.federation, None
                self._leading.clear()
                await self._set_serving(False)
                await self._stop_allocator()
                await self._stop_autoscaling()
                await federation.stop()

    async def _stop_allocator(self) -> None:
        allocations, self.gate.allocator = self.gate.allocator, None
        if allocations is not None:
            await allocations.stop()

    async def _stop_autoscaling(self) -> None:
        autoscaling, self.gate.autoscaling = self.gate.autoscaling, None
        if autoscaling is not None:
            await autoscaling.stop()

    async def wait(self) -> None:
        if self.server is not None:
            await self.server.wait_for_termination()

    async def stop(self, grace: float = 2.0) -> None:
        if self.elector is not None:
            await self.elector.close()
            self.elector = None
        if self._leadership_task is not None:
            self._leadership_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._leadership_task
        await self._stop_allocator()
        await self._stop_autoscaling()
        if self.gate.federation is not None:
            federation, self.gate.federation = self.gate.federation, None
            await federation.stop()
        if self.server is not None:
            await self.health.enter_graceful_shutdown()
            await self.server.stop(grace)
            self.server = None
        if self.store is not None:
            await self.store.close()
            self.store = None
        if self.metrics is not None:
            await self.metrics.close()
            self.metrics = None
