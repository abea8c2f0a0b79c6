"""The scaler's gRPC server: KEDA's ExternalScaler, gRPC health and server reflection.

Health reports `externalscaler.ExternalScaler` SERVING once this replica's caches have listed,
so a readiness probe keeps KEDA's Service away from a replica that cannot answer yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import grpc
from externalscaler import externalscaler_pb2_grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from . import service

if TYPE_CHECKING:
    from collections.abc import Callable

    from agent.core import bodies

    from .service import Cache

_log = logging.getLogger(__name__)

DEFAULT_PORT = 6000
"""OKG's port for its external scaler."""


class ScalerServer:
    """Serve KEDA's external-scaler calls on one port until stopped."""

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
        self.scaler = service.Scaler(
            sets, game_servers, pods, namespace=namespace, hub_managed=hub_managed, hub=hub
        )
        self._caches = (sets, game_servers, pods)
        self.health = health_aio.HealthServicer()
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._ready: asyncio.Task[None] | None = None

    async def start(self, port: int, host: str = "[::]") -> int:
        """Listen on host:port (0 picks a free port); returns the port. Raises RuntimeError
        when the port cannot be bound."""
        # gRPC sets SO_REUSEPORT by default: a second agent on the same host would then share
        # the port silently and answer for another cluster. Binding must be exclusive.
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        externalscaler_pb2_grpc.add_ExternalScalerServicer_to_server(self.scaler, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (service.SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        self.port = server.add_insecure_port(f"{host}:{port}")
        await server.start()
        self._server = server
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(service.SERVICE_NAME, health_pb2.HealthCheckResponse.NOT_SERVING)
        self._ready = asyncio.create_task(self._serving_once_synced())
        _log.info("KEDA external scaler listening on port %d", self.port)
        return self.port

    async def _serving_once_synced(self) -> None:
        for cache in self._caches:
            await cache.synced.wait()
        await self.health.set(service.SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float = 1.0) -> None:
        if self._ready is not None:
            self._ready.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ready
            self._ready = None
        if self._server is not None:
            await self.health.enter_graceful_shutdown()
            await self._server.stop(grace)
            self._server = None
