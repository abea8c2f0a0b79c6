"""The hub process: one gRPC server with the API services, health and reflection.

Every replica campaigns for leadership; the leader runs the federation (agent streams,
placement, status) and serves the API, followers answer UNAVAILABLE naming the leader.
The SQLite store has one replica, which always leads: it is ready before it accepts a call.

Health tells what is true: the overall status ("") is SERVING while the store takes writes
(``store_health``), each API service's while this hub also leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import ssl
from pathlib import Path

import grpc
from agones.allocation import allocation_pb2 as agones_pb2
from agones.allocation import allocation_pb2_grpc as agones_pb2_grpc
from gamefleet import telemetry
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
from hub.core.agent_limits import DEFAULT_LIMITS, AgentLimits
from hub.core.health import HealthPolicy
from hub.federation.allocator import Allocator
from hub.federation.autoscaler import Autoscaling
from hub.federation.federation import Federation
from hub.federation.group_allocator import GroupAllocator
from hub.federation.stats import LiveCounts
from hub.registry.allocation_groups import GroupRegistry
from hub.registry.allocations import AllocationRegistry
from hub.registry.assignments import AssignmentRegistry
from hub.registry.autoscalers import AutoscalerRegistry
from hub.registry.clusters import ClusterRegistry
from hub.registry.fleets import FleetRegistry
from hub.registry.rollouts import RolloutRegistry
from hub.store import interface as store_api

from . import auth, handlers, metrics, startup, tracing
from .agents import AgentServicer, no_identity
from .agones import AgonesAllocationServicer
from .agones_rest import AgonesRest
from .allocation_groups import GroupAllocationServicer
from .autoscalers import FleetAutoscalerServicer
from .clusters import ClusterServicer
from .errors import ErrorInterceptor
from .events import EventServicer
from .fleets import FleetServicer
from .gameservers import GameServerServicer
from .leadership import LeaderGate
from .rollouts import RolloutServicer
from .store_health import StoreCheckPolicy, StoreLiveness

log = logging.getLogger(__name__)

AGENT_SERVICE = agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name
SERVICE_NAMES = (
    fleet_pb2.DESCRIPTOR.services_by_name["FleetService"].full_name,
    fleet_pb2.DESCRIPTOR.services_by_name["RolloutService"].full_name,
    cluster_pb2.DESCRIPTOR.services_by_name["ClusterService"].full_name,
    gameserver_pb2.DESCRIPTOR.services_by_name["GameServerService"].full_name,
    allocation_pb2.DESCRIPTOR.services_by_name["AllocationService"].full_name,
    event_pb2.DESCRIPTOR.services_by_name["EventService"].full_name,
    autoscaler_pb2.DESCRIPTOR.services_by_name["FleetAutoscalerService"].full_name,
    # Agones' allocator API (package allocation), for matchmakers written against Agones.
    agones_pb2.DESCRIPTOR.services_by_name["AllocationService"].full_name,
    AGENT_SERVICE,
)
# Health of this name is SERVING on the leader only (readiness probes use it).
LEADER_SERVICE = AGENT_SERVICE
# Calls that get no span: the agents' long-lived stream, probes and reflection.
UNTRACED = frozenset({AGENT_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME})


@dataclasses.dataclass(frozen=True)
class HubConfig:
    store_url: str
    listen: str = "127.0.0.1:7400"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # With a client CA, agents connect with certificates it signed on ``agent_listen``.
    client_ca: Path | None = None
    agent_listen: str | None = None
    # With a token file, user calls need "authorization: Bearer <token>". Tokens travel only
    # over TLS, unless ``insecure`` accepts them in clear text (development only).
    token_file: Path | None = None
    insecure: bool = False
    # The address other replicas and clients reach this hub at; default: the bound address.
    advertise: str | None = None
    # HOST:PORT of a plain-HTTP /metrics endpoint (Prometheus); None serves no metrics.
    metrics_listen: str | None = None
    # HOST:PORT of Agones' REST allocation (POST /gameserverallocation); None serves none.
    # HTTPS with tls_cert, the same bearer tokens.
    agones_rest_listen: str | None = None
    health: HealthPolicy = dataclasses.field(default_factory=HealthPolicy)
    # What one agent may send (docs/limits.md); tests lower the per-cluster counts.
    agent_limits: AgentLimits = DEFAULT_LIMITS
    store_check: StoreCheckPolicy = dataclasses.field(default_factory=StoreCheckPolicy)


def check_config(config: HubConfig) -> None:
    """StartError for settings that do not go together, before anything is opened."""
    if config.token_file is not None and config.tls_cert is None and not config.insecure:
        raise startup.StartError(
            "token_file",
            "bearer tokens need TLS (tls_cert and tls_key); without TLS anyone on the network "
            "can read them. Set insecure to accept them in clear text (development only)",
        )


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
        self._liveness: StoreLiveness | None = None
        self._liveness_task: asyncio.Task[None] | None = None
        self.agones_rest: AgonesRest | None = None
        self.agones_rest_port: int | None = None
        # Who may call: the console checks its users with the same tokens.
        self.auth: auth.AuthInterceptor | None = None

    async def start(self) -> None:
        """Open the store, bind the ports and, on a hub that leads at once, start leading;
        then accept calls. StartError names the setting at fault."""
        try:
            await self._start()
        except BaseException:
            await self.stop(grace=0)
            raise

    async def _start(self) -> None:
        config = self.config
        check_config(config)
        if config.token_file is not None and config.tls_cert is None:
            log.warning("insecure: bearer tokens are accepted in clear text")
        interceptors: list[handlers.Interceptor] = []
        if telemetry.enabled():
            interceptors.append(tracing.TracingInterceptor(UNTRACED))
        if config.metrics_listen is not None:
            self.metrics = metrics.HubMetrics(self._live_counts)
            try:
                self.metrics_port = self.metrics.serve(config.metrics_listen)
            except ValueError as exc:
                raise startup.StartError("metrics_listen", str(exc)) from exc
            interceptors.append(self.metrics.interceptor())
        self.store = await _open_store(config.store_url, self.metrics)
        clusters = self.clusters = ClusterRegistry(self.store)
        fleets = self.fleets = FleetRegistry(self.store)
        self.auth = auth.interceptor(config.token_file, config.client_ca)
        interceptors += [self.auth, ErrorInterceptor()]
        # Without reuseport a second hub on a port in use fails to start instead of sharing it.
        server = self.server = grpc.aio.server(
            interceptors=interceptors, options=[("grpc.so_reuseport", 0)]
        )
        fleet_pb2_grpc.add_FleetServiceServicer_to_server(FleetServicer(fleets, self.gate), server)
        fleet_pb2_grpc.add_RolloutServiceServicer_to_server(
            RolloutServicer(RolloutRegistry(self.store), self.gate), server
        )
        cluster_pb2_grpc.add_ClusterServiceServicer_to_server(
            ClusterServicer(clusters, self.gate), server
        )
        gameserver_pb2_grpc.add_GameServerServiceServicer_to_server(
            GameServerServicer(self.gate), server
        )
        allocation_pb2_grpc.add_AllocationServiceServicer_to_server(
            GroupAllocationServicer(self.gate), server
        )
        agones = AgonesAllocationServicer(self.gate)
        agones_pb2_grpc.add_AllocationServiceServicer_to_server(agones, server)
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
        await self._publish_health()
        identity = config.advertise or f"{config.listen.rpartition(':')[0]}:{self.port}"
        self.gate.identity = identity
        self.elector = await store_factory.open_elector(config.store_url, identity)
        self._leadership_task = asyncio.create_task(self._follow_leadership(self.elector))
        if self.elector.state.is_leader:
            # A hub that knows it leads (SQLite: always) serves its first call as the leader.
            await self.wait_until_leading()
        self._liveness = StoreLiveness(self.store, config.store_check, self._on_store_live)
        self._liveness_task = asyncio.create_task(self._liveness.run())
        await server.start()
        if config.agones_rest_listen is not None:
            self.agones_rest = AgonesRest(agones.allocate, self.auth.tokens)
            self.agones_rest_port = await _serve_agones_rest(self.agones_rest, config)
        log.info("hub serving on port %d, store %s", self.port, config.store_url)

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

    async def _on_store_live(self, live: bool) -> None:
        await self._publish_health()

    async def _publish_health(self) -> None:
        """The overall status SERVING while the store takes writes; each API service's while
        the store takes writes and this hub leads."""
        store_live = self._liveness is None or self._liveness.live
        leading = self.gate.federation is not None
        await self.health.set("", _status(store_live))
        for name in SERVICE_NAMES:
            await self.health.set(name, _status(store_live and leading))

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
                    rollouts=RolloutRegistry(self.store),
                )
                await federation.start()
                allocations = Allocator(federation, AllocationRegistry(self.store))
                allocations.start()
                self.gate.allocator = allocations
                self.gate.groups = GroupAllocator(allocations, GroupRegistry(self.store))
                self.gate.groups.start()
                autoscaling = Autoscaling(federation, AutoscalerRegistry(self.store))
                await autoscaling.start()
                self.gate.autoscaling = autoscaling
                self.gate.federation = federation
                self._leading.set()
                await self._publish_health()
            elif not state.is_leader and self.gate.federation is not None:
                federation, self.gate.federation = self.gate.federation, None
                self._leading.clear()
                await self._publish_health()
                await self._stop_allocator()
                await self._stop_autoscaling()
                await federation.stop()

    async def _stop_allocator(self) -> None:
        groups, self.gate.groups = self.gate.groups, None
        allocations, self.gate.allocator = self.gate.allocator, None
        # The allocator first: it cancels its in-flight allocations before it awaits anything,
        # so none records an answer after the stop began.
        if allocations is not None:
            await allocations.stop()
        if groups is not None:
            await groups.stop()

    async def _stop_autoscaling(self) -> None:
        autoscaling, self.gate.autoscaling = self.gate.autoscaling, None
        if autoscaling is not None:
            await autoscaling.stop()

    async def wait(self) -> None:
        if self.server is not None:
            await self.server.wait_for_termination()

    async def stop(self, grace: float = 2.0) -> None:
        if self._liveness_task is not None:
            self._liveness_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._liveness_task
            self._liveness_task = None
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
        if self.agones_rest is not None:
            await self.agones_rest.stop()
            self.agones_rest = None
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


def _status(serving: bool) -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
    if serving:
        return health_pb2.HealthCheckResponse.SERVING
    return health_pb2.HealthCheckResponse.NOT_SERVING


async def _serve_agones_rest(rest: AgonesRest, config: HubConfig) -> int:
    """The bound port, or StartError naming ``agones_rest_listen``."""
    assert config.agones_rest_listen is not None
    tls = None
    if config.tls_cert is not None and config.tls_key is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(config.tls_cert, config.tls_key)
    try:
        return await rest.start(config.agones_rest_listen, tls)
    except (ValueError, OSError) as exc:
        raise startup.StartError(
            "agones_rest_listen", f"cannot listen on {config.agones_rest_listen}: {exc}"
        ) from exc


async def _open_store(store_url: str, hub_metrics: metrics.HubMetrics | None) -> store_api.Store:
    """The store, or StartError naming ``store_url`` (the operator sees the path here)."""
    try:
        return await store_factory.open_store(
            store_url, metrics=hub_metrics.store if hub_metrics else None
        )
    except ValueError as exc:
        raise startup.StartError("store_url", str(exc)) from exc
    except (store_api.StoreError, OSError) as exc:
        raise startup.StartError("store_url", f"cannot open the store: {exc}") from exc
