"""Prometheus metrics of the agent: reconciles, their latency, API writes, cache sizes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import prometheus_client
import prometheus_client.core
from gamefleet.listen import parse_listen

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from prometheus_client.registry import Collector

    from agent.tls import ServerTLS

REGISTRY = prometheus_client.CollectorRegistry()

RECONCILES = prometheus_client.Counter(
    "gamefleet_agent_reconciles",
    "GameServerSet reconciles, by result.",
    ["result"],
    registry=REGISTRY,
)
RECONCILE_SCOPE = prometheus_client.Counter(
    "gamefleet_agent_reconcile_scope",
    "GameServerSet reconciles by what they planned: the whole set, or some of its servers.",
    ["scope"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = prometheus_client.Histogram(
    "gamefleet_agent_reconcile_seconds",
    "Time to reconcile one GameServerSet.",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
ALLOCATIONS = prometheus_client.Counter(
    "gamefleet_agent_allocations",
    "Allocations answered, by path (ledger, direct, capacity) and answer"
    " (taken, held, conflict, error).",
    ["path", "answer"],
    registry=REGISTRY,
)
GAME_SERVER_ALLOCATIONS = prometheus_client.Counter(
    "gamefleet_agent_game_server_allocations",
    "GameServerAllocation requests answered in the cluster, by answer (allocated, again, "
    "unallocated, invalid).",
    ["answer"],
    registry=REGISTRY,
)
ALLOCATION_CATCH_UPS = prometheus_client.Counter(
    "gamefleet_agent_allocation_catch_ups",
    "GameServer writes that caught a server up with its allocation ledger entry.",
    registry=REGISTRY,
)
ALLOCATION_LEDGER_WRITES = prometheus_client.Counter(
    "gamefleet_agent_allocation_ledger_writes",
    "Writes of allocation ledgers (each carries every change since the one before).",
    registry=REGISTRY,
)
ALLOCATION_LAG_SECONDS = prometheus_client.Histogram(
    "gamefleet_agent_allocation_lag_seconds",
    "From an allocation's ledger entry to its GameServer saying Allocated (the agent's cache).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
LEADER = prometheus_client.Gauge(
    "gamefleet_agent_leader", "1 while this replica leads.", registry=REGISTRY
)


class _Callback:
    """Expose values read at scrape time (write counts, cache sizes)."""

    def __init__(self, name: str, doc: str, read: Callable[[], dict[str, float]], label: str):
        self._name, self._doc, self._read, self._label = name, doc, read, label

    def collect(self) -> Iterator[prometheus_client.Metric]:
        family = prometheus_client.core.GaugeMetricFamily(
            self._name, self._doc, labels=[self._label]
        )
        for key, value in self._read().items():
            family.add_metric([key], value)
        yield family


def register_callback(
    name: str, doc: str, read: Callable[[], dict[str, float]], label: str
) -> None:
    collector: Collector = _Callback(name, doc, read, label)
    REGISTRY.register(collector)


def serve(listen: str, server_tls: ServerTLS | None = None) -> int:
    """Serve /metrics on `listen` (HOST:PORT; port 0 picks one); return the bound port. With
    `server_tls`, over HTTPS (and requiring client certificates when it has a client CA).

    ValueError for a malformed address, OSError when it cannot be bound.
    """
    host, port = parse_listen(listen)
    if server_tls is None:
        server, _ = prometheus_client.start_http_server(port, addr=host, registry=REGISTRY)
    else:
        ca = server_tls.client_ca
        server, _ = prometheus_client.start_http_server(
            port,
            addr=host,
            registry=REGISTRY,
            certfile=str(server_tls.cert),
            keyfile=str(server_tls.key),
            client_cafile=str(ca) if ca is not None else None,
            client_auth_required=ca is not None,
        )
    return int(server.server_port)
