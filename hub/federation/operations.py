"""Operations on game servers in their clusters: a patch routed to each owning agent, an
allocation and its release, each answered by the agent that owns the server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from gamefleet import capacity_wire, protocol
from gamefleet.v1 import agent_pb2, allocation_pb2, gameserver_pb2

from . import live_servers, recording
from .events import EventRecorder
from .links import AgentLinks
from .live_index import LiveIndex
from .live_servers import LiveServer
from .watchers import ServerBroadcast, StatusBroadcast

ALLOCATED = protocol.ALLOCATED


class ServerOperations:
    """Sends operations to the agents and records what they answered."""

    def __init__(
        self,
        links: AgentLinks,
        index: LiveIndex,
        events: EventRecorder,
        broadcast: StatusBroadcast,
        server_broadcast: ServerBroadcast,
    ) -> None:
        self._links = links
        self._index = index
        self._events = events
        self._broadcast = broadcast
        self._server_broadcast = server_broadcast

    async def update_game_servers(
        self,
        servers: Iterable[gameserver_pb2.GameServer],
        patch: gameserver_pb2.GameServerPatch,
        timeout: float = 10.0,
        *,
        allow_unallocate: bool = False,
        allow_custom_ops_state: bool = False,
        actor: str = "the API",
    ) -> tuple[list[str], dict[str, str]]:
        """Route the patch to each owning agent; return updated "cluster/name"s and per-server
        errors. Without ``allow_unallocate`` an opsState change of a server Allocated in the
        hub's view is refused here, and the agent refuses one Allocated when it writes."""
        by_target: dict[tuple[str, str], list[gameserver_pb2.GameServer]] = {}
        updated: list[str] = []
        errors: dict[str, str] = {}
        for server in servers:
            refusal = (
                protocol.unallocation_refusal(server.ops_state, patch.ops_state)
                if patch.HasField("ops_state") and not allow_unallocate
                else None
            )
            if refusal is not None:
                errors[f"{server.cluster}/{server.name}"] = refusal
                recording.server_refused(self._events, server, refusal, actor, "the hub")
            else:
                by_target.setdefault((server.cluster, server.namespace), []).append(server)

        def failed(server: gameserver_pb2.GameServer, why: str) -> None:
            errors[f"{server.cluster}/{server.name}"] = why
            recording.server_update_failed(self._events, server, why, actor)

        async def one(cluster: str, namespace: str, group: list[gameserver_pb2.GameServer]) -> None:
            session = self._links.sessions.get(cluster)
            if session is None:
                for server in group:
                    failed(server, f"cluster {cluster} is not connected")
                return
            operation = agent_pb2.TargetedOperation(
                namespace=namespace,
                game_servers=[server.name for server in group],
                patch=patch,
                allow_unallocate=allow_unallocate,
                allow_custom_ops_state=allow_custom_ops_state,
            )
            try:
                result = await session.operate(operation, timeout)
            except (TimeoutError, ConnectionError) as exc:
                for server in group:
                    failed(server, str(exc) or "timed out")
                return
            by_name = {server.name: server for server in group}
            for name in result.updated:
                updated.append(f"{cluster}/{name}")
                if name in by_name:
                    recording.server_updated(self._events, by_name[name], patch, actor)
            for name, why in result.refused.items():
                errors[f"{cluster}/{name}"] = why
                if name in by_name:
                    by = f"the agent of {cluster}"
                    recording.server_refused(self._events, by_name[name], why, actor, by)
            for name, why in result.errors.items():
                if name in by_name:
                    failed(by_name[name], why)

        await asyncio.gather(*(one(c, ns, group) for (c, ns), group in by_target.items()))
        return sorted(updated), errors

    async def allocate_on(
        self,
        server: gameserver_pb2.GameServer,
        request_id: str,
        labels: dict[str, str],
        annotations: dict[str, str],
        timeout: float = 10.0,
        need: allocation_pb2.AllocationNeed | None = None,
    ) -> gameserver_pb2.GameServer | None:
        """Have the owning agent set ``server`` Allocated, stamped with ``request_id``, if it is
        still Ready with opsState None; return the server as allocated, or None on a conflict.
        With ``need`` (an allocation by capacity) the agent checks the need's state and bounds
        instead, and applies its actions in the same write.

        Raises ConnectionError or TimeoutError when the agent does not answer, RuntimeError
        when it reports an error.
        """
        session = self._links.connected(server.cluster)
        operation = agent_pb2.TargetedOperation(
            namespace=server.namespace,
            game_servers=[server.name],
            patch=gameserver_pb2.GameServerPatch(ops_state=ALLOCATED),
            require_ready_unallocated=True,
            labels=labels,
            annotations={**annotations, protocol.ALLOCATION_REQUEST_ANNOTATION: request_id},
            need=need,
        )
        result = await session.operate(operation, timeout)
        if server.name in result.conflicts:
            return None
        if server.name not in result.updated:
            raise RuntimeError(result.errors.get(server.name, "the agent did not update it"))
        allocated = gameserver_pb2.GameServer()
        allocated.CopyFrom(server)
        if server.name in result.written:
            # The counters and lists as the agent wrote them with the allocation.
            written = result.written[server.name]
            capacity_wire.put(capacity_wire.of(written.counters, written.lists), allocated)
        allocated.ops_state = ALLOCATED
        allocated.labels.update(labels)
        allocated.allocation_request_id = request_id
        # The agent's next status report says the same; until then, the hub already knows.
        if self._index.get(server.cluster, server.namespace, server.name) is not None:
            self._index.hold(
                LiveServer.of(allocated, server.cluster), live_servers.updating_since(allocated)
            )
            if self._server_broadcast.watched:
                self._server_broadcast.notify((server.cluster, server.namespace, server.name))
            # The fleet's autoscaler follows allocations as they happen.
            self._broadcast.notify((server.namespace, server.fleet))
        recording.server_allocated(self._events, server, request_id)
        return allocated

    async def release_allocation(
        self, server: gameserver_pb2.GameServer, timeout: float = 10.0
    ) -> bool:
        """Have the owning agent set ``server`` back to opsState None if it is still Allocated
        for ``server.allocation_request_id``; True when it did, False when it was not (then
        nothing was changed).

        Raises ConnectionError or TimeoutError when the agent does not answer, RuntimeError
        when it reports an error.
        """
        session = self._links.connected(server.cluster)
        operation = agent_pb2.TargetedOperation(
            namespace=server.namespace,
            game_servers=[server.name],
            patch=gameserver_pb2.GameServerPatch(ops_state="None"),
            release_request_id=server.allocation_request_id,
        )
        result = await session.operate(operation, timeout)
        if server.name in result.updated:
            return True
        if server.name in result.conflicts:
            return False
        raise RuntimeError(result.errors.get(server.name, "the agent did not answer for it"))
