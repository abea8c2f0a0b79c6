"""The live index: every game server the agents reported, by cluster, by fleet (the pools that
allocation chooses from) and by the allocation request_id it carries.

Soft state (principle 2): rebuilt from the agents' reports after a hub restart.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from hub.core import agent_limits, allocation
from hub.core.desired_sets import SetKey

from .live_servers import LiveServer, ServerFilter

ALLOCATED = allocation.ALLOCATED

# (namespace, fleet, request_id) → (cluster, name)
RequestKey = tuple[str, str, str]


class LiveIndex:
    """Reported game servers and the indexes over them; every change goes through ``hold``,
    ``forget`` or ``drop_cluster`` so the indexes never disagree."""

    def __init__(self) -> None:
        # cluster → (namespace, name) → server
        self._servers: dict[str, dict[SetKey, LiveServer]] = {}
        # cluster → serialized size of its servers, held within the per-cluster limit.
        self._bytes: dict[str, int] = {}
        # Each fleet's servers indexed for allocation choices.
        self._pools: dict[SetKey, allocation.Pool] = {}
        # The server an allocation with that request_id wrote, as the agents report it: found
        # again when the hub's record is missing.
        self._by_request: dict[RequestKey, tuple[str, str]] = {}

    # -- changes ---------------------------------------------------------------------------

    def hold(self, server: LiveServer, since: float) -> None:
        """Keep ``server`` as its cluster's latest report of it; ``since`` is when it entered
        its state."""
        servers = self._servers.setdefault(server.cluster, {})
        key = (server.namespace, server.name)
        before = servers.get(key)
        if before is not None and before.fleet != server.fleet:
            self._pool(before).remove(before.view.key)
        grown = len(server.wire) - (len(before.wire) if before is not None else 0)
        self._bytes[server.cluster] = self._bytes.get(server.cluster, 0) + grown
        servers[key] = server
        self._pool(server).put(server.view, since)
        self._track_request(before, server)

    def forget(self, cluster: str, key: SetKey) -> LiveServer | None:
        """Drop the server ``key`` (namespace, name) of ``cluster``; the server it was."""
        gone = self._servers.get(cluster, {}).pop(key, None)
        if gone is not None:
            self._bytes[cluster] -= len(gone.wire)
            self._pool(gone).remove((gone.cluster, gone.name))
            self._track_request(gone, None)
        return gone

    def drop_cluster(self, cluster: str) -> list[SetKey]:
        """Forget every server of ``cluster``; their (namespace, name)s."""
        gone = self._servers.pop(cluster, {})
        self._bytes.pop(cluster, None)
        for pool in self._pools.values():
            pool.drop_cluster(cluster)
        self._by_request = {k: v for k, v in self._by_request.items() if v[0] != cluster}
        return list(gone)

    def room_refusal(
        self, server: LiveServer, index: int, limits: agent_limits.AgentLimits
    ) -> agent_limits.Refusal | None:
        """A new server beyond what the hub keeps per cluster (a known one may change)."""
        servers = self._servers.get(server.cluster, {})
        before = servers.get((server.namespace, server.name))
        field = "status.game_servers"
        held = len(servers) + (before is None)
        grown = (
            self._bytes.get(server.cluster, 0)
            + len(server.wire)
            - (len(before.wire) if before else 0)
        )
        if (
            held <= limits.game_servers_per_cluster
            and grown <= limits.game_server_bytes_per_cluster
        ):
            return None
        return agent_limits.per_cluster_refusal(
            field, index, held, limits.game_servers_per_cluster, "game servers"
        ) or agent_limits.per_cluster_refusal(
            field, index, grown, limits.game_server_bytes_per_cluster, "bytes of game servers"
        )

    # -- reads -----------------------------------------------------------------------------

    def get(self, cluster: str, namespace: str, name: str) -> LiveServer | None:
        servers = self._servers.get(cluster)
        return servers.get((namespace, name)) if servers is not None else None

    def of_cluster(self, cluster: str) -> Mapping[SetKey, LiveServer]:
        return self._servers.get(cluster, {})

    def clusters(self) -> list[str]:
        return list(self._servers)

    def pool(self, key: SetKey) -> allocation.Pool | None:
        """The allocation pool of fleet ``key`` (namespace, name), if it has servers."""
        return self._pools.get(key)

    def pools(self) -> Iterator[tuple[SetKey, allocation.Pool]]:
        return iter(self._pools.items())

    def matching(
        self,
        wanted: ServerFilter,
        after: tuple[str, ...] | None = None,
        limit: int | None = None,
    ) -> list[LiveServer]:
        """The servers that match, ordered by (cluster, namespace, name): those after
        ``after`` in that order, at most ``limit`` of them."""
        found = []
        for name in sorted(self._servers):
            if (wanted.cluster and name != wanted.cluster) or (
                after is not None and name < after[0]
            ):
                continue
            servers = self._servers[name]
            for key in sorted(servers):
                if after is not None and (name, *key) <= after:
                    continue
                server = servers[key]
                if not wanted.matches(server):
                    continue
                found.append(server)
                if limit is not None and len(found) >= limit:
                    return found
        return found

    def named(self, namespace: str, name: str) -> list[LiveServer]:
        """The servers called ``name`` in ``namespace``, one per cluster that has one."""
        found = []
        for servers in self._servers.values():
            server = servers.get((namespace, name))
            if server is not None:
                found.append(server)
        return found

    def of_fleet(self, namespace: str, fleet: str) -> list[LiveServer]:
        """Every server of one fleet, in every cluster."""
        return [
            server
            for servers in self._servers.values()
            for server in servers.values()
            if server.fleet == fleet and server.namespace == namespace
        ]

    def of_fleet_in(self, cluster: str, namespace: str, fleet: str) -> Iterator[LiveServer]:
        """The servers of one fleet in one cluster (walks the fleet, not the cluster)."""
        pool = self._pools.get((namespace, fleet))
        servers = self._servers.get(cluster, {})
        for name in pool.names_in(cluster) if pool is not None else ():
            server = servers.get((namespace, name))
            if server is not None:
                yield server

    def allocated_for(self, namespace: str, fleet: str, request_id: str) -> LiveServer | None:
        """The server an allocation with ``request_id`` set Allocated, if it still is."""
        found = self._by_request.get((namespace, fleet, request_id))
        if found is None:
            return None
        server = self.get(found[0], namespace, found[1])
        if server is None or server.ops_state != ALLOCATED:
            return None
        return server if server.allocation_request_id == request_id else None

    # -- internals -------------------------------------------------------------------------

    def _pool(self, server: LiveServer) -> allocation.Pool:
        pool = self._pools.get((server.namespace, server.fleet))
        if pool is None:  # not setdefault: a Pool per call costs a quarter of an ingest
            pool = self._pools[(server.namespace, server.fleet)] = allocation.Pool()
        return pool

    def _track_request(self, before: LiveServer | None, after: LiveServer | None) -> None:
        old = before.allocation_request_id if before is not None else ""
        new = after.allocation_request_id if after is not None else ""
        if before is not None and old and old != new:
            key = (before.namespace, before.fleet, old)
            if self._by_request.get(key) == (before.cluster, before.name):
                del self._by_request[key]
        if after is not None and new:
            key = (after.namespace, after.fleet, new)
            owner = self._by_request.get(key)
            if owner is not None and owner[0] != after.cluster and self._carries(owner, key):
                # Another cluster's server carries this request_id: an agent cannot take over
                # the answer to an allocation it did not make.
                return
            self._by_request[key] = (after.cluster, after.name)

    def _carries(self, owner: tuple[str, str], key: RequestKey) -> bool:
        """True when ``owner`` (cluster, name) still reports the request_id of ``key``."""
        server = self.get(owner[0], key[0], owner[1])
        return server is not None and server.allocation_request_id == key[2]
