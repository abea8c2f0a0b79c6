"""GameServerService: list, get and watch game servers in every cluster; targeted operations
routed to agents, under the operation guard (docs/federation.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from gamefleet import protocol
from gamefleet.v1 import gameserver_pb2, gameserver_pb2_grpc

from hub.core import limits, paging, paths, request_fields, server_refs
from hub.federation.federation import Federation
from hub.federation.live_servers import LiveServer, ServerFilter

from . import auth
from .errors import AbortError, Context, invalid
from .leadership import LeaderGate

OPERATION_TIMEOUT_S = 10.0


def _check_patch(patch: gameserver_pb2.GameServerPatch, allow_custom_ops_state: bool) -> None:
    fields = [f.name for f, _ in patch.ListFields()]
    if not fields:
        raise invalid("patch", "sets nothing: give opsState, a priority, networkDisabled or images")
    if patch.HasField("ops_state"):
        if not patch.ops_state.strip():
            raise invalid("patch.opsState", "must not be empty")
        request_fields.bounded(patch.ops_state, "patch.opsState", limits.MAX_OPS_STATE_LENGTH)
        unknown = protocol.unknown_ops_state(patch.ops_state)
        if unknown is not None and not allow_custom_ops_state:
            raise invalid("patch.opsState", unknown)
    for container, image in patch.images.items():
        path = paths.entry("patch.images", container)
        if not container or not image.strip():
            raise invalid(path, "needs a container name and an image")
        request_fields.name(container, path)
        request_fields.bounded(image, path, limits.MAX_IMAGE_LENGTH)


def _filters(
    request: gameserver_pb2.ListGameServersRequest | gameserver_pb2.WatchGameServersRequest,
) -> None:
    for field in ("namespace", "fleet", "cluster"):
        request_fields.name(getattr(request, field), field, required=False)
    for field in ("state", "ops_state"):
        request_fields.bounded(getattr(request, field), field, limits.MAX_OPS_STATE_LENGTH)


def _filter(
    request: gameserver_pb2.ListGameServersRequest | gameserver_pb2.WatchGameServersRequest,
) -> ServerFilter:
    return ServerFilter(
        namespace=request.namespace,
        fleet=request.fleet,
        cluster=request.cluster,
        state=request.state,
        ops_state=request.ops_state,
        selector=request_fields.selector(request.label_selector),
    )


def _check_server_ref(text: str, path: str) -> None:
    """A game server as NAME or CLUSTER/NAME."""
    cluster, name = server_refs.split(text)
    if cluster:
        request_fields.name(cluster, path)
    request_fields.subdomain(name, path)


def _actor() -> str:
    user = auth.current_user()
    return f"user {user}" if user else "the API"


def _named(
    federation: Federation,
    names: list[str],
    cluster: str,
    wanted: ServerFilter,
    field: str,
    indexed: bool,
) -> list[LiveServer]:
    """The servers ``names`` address among those ``wanted``; INVALID_ARGUMENT for an ambiguous
    name, NOT_FOUND naming the first name no server has."""
    present: dict[tuple[str, str], LiveServer] = {}
    for text in names:
        for server in federation.servers_named(wanted.namespace, server_refs.split(text)[1]):
            if wanted.matches(server):
                present[(server.cluster, server.name)] = server
    resolution = server_refs.resolve(names, cluster, present, field, indexed)
    if resolution.missing:
        path, name = resolution.missing[0]
        more = f" (and {len(resolution.missing) - 1} more)" if len(resolution.missing) > 1 else ""
        raise AbortError(
            grpc.StatusCode.NOT_FOUND,
            f"{path}: game server {name} not found in namespace {wanted.namespace}{more}",
        )
    return [present[found] for found in dict.fromkeys(resolution.found)]


class GameServerServicer(gameserver_pb2_grpc.GameServerServiceServicer):
    def __init__(self, gate: LeaderGate) -> None:
        self._gate = gate

    async def ListGameServers(
        self, request: gameserver_pb2.ListGameServersRequest, context: Context
    ) -> gameserver_pb2.ListGameServersResponse:
        federation = self._gate.require()
        _filters(request)
        size = paging.page_size(
            request.page_size,
            default=limits.GAME_SERVERS_DEFAULT_PAGE_SIZE,
            maximum=limits.MAX_PAGE_SIZE,
        )
        after = paging.decode_token(request.page_token, 3)
        found = federation.matching_servers(_filter(request), after=after, limit=size + 1)
        servers = [server.decode() for server in found]
        page = servers[
            : paging.fitting((s.ByteSize() for s in servers[:size]), limits.LIST_PAGE_BYTES)
        ]
        token = ""
        if len(servers) > len(page):
            last = page[-1]
            token = paging.encode_token((last.cluster, last.namespace, last.name))
        return gameserver_pb2.ListGameServersResponse(game_servers=page, next_page_token=token)

    async def GetGameServer(
        self, request: gameserver_pb2.GetGameServerRequest, context: Context
    ) -> gameserver_pb2.GameServer:
        federation = self._gate.require()
        request_fields.name(request.namespace, "namespace")
        request_fields.name(request.cluster, "cluster", required=False)
        if not request.name:
            raise invalid("name", "is required")
        _check_server_ref(request.name, "name")
        wanted = ServerFilter(namespace=request.namespace, cluster=request.cluster)
        (server,) = _named(federation, [request.name], request.cluster, wanted, "name", False)
        return server.decode()

    async def UpdateGameServers(
        self, request: gameserver_pb2.UpdateGameServersRequest, context: Context
    ) -> gameserver_pb2.UpdateGameServersResponse:
        federation = self._gate.require()
        if not (request.names or request.label_selector.strip() or request.fleet):
            raise invalid("names", "select servers by names, a label_selector or a fleet")
        request_fields.name(request.namespace, "namespace")
        request_fields.name(request.fleet, "fleet", required=False)
        request_fields.name(request.cluster, "cluster", required=False)
        request_fields.count(len(request.names), "names", limits.MAX_GAME_SERVER_NAMES)
        for index, text in enumerate(request.names):
            _check_server_ref(text, paths.item("names", index))
        _check_patch(request.patch, request.allow_custom_ops_state)
        wanted = ServerFilter(
            namespace=request.namespace,
            fleet=request.fleet,
            cluster=request.cluster,
            selector=request_fields.selector(request.label_selector),
        )
        if request.names:
            chosen = _named(federation, list(request.names), request.cluster, wanted, "names", True)
        else:
            chosen = federation.matching_servers(wanted)
        updated, errors = await federation.update_game_servers(
            [server.decode() for server in chosen],
            request.patch,
            OPERATION_TIMEOUT_S,
            allow_unallocate=request.allow_unallocate,
            allow_custom_ops_state=request.allow_custom_ops_state,
            actor=_actor(),
        )
        return gameserver_pb2.UpdateGameServersResponse(updated=updated, errors=errors)

    async def WatchGameServers(
        self, request: gameserver_pb2.WatchGameServersRequest, context: Context
    ) -> AsyncIterator[gameserver_pb2.GameServerEvent]:
        """The matching servers as ADDED, then each change the agents report."""
        federation = self._gate.require()
        _filters(request)
        wanted = _filter(request)
        # Subscribed before listing, so no change falls between the list and the watch.
        watcher = federation.subscribe_servers()
        # What this stream last showed of each server (a report is a new object, never changed).
        shown: dict[tuple[str, str, str], LiveServer] = {}
        try:
            for server in federation.matching_servers(wanted):
                shown[(server.cluster, server.namespace, server.name)] = server
                yield gameserver_pb2.GameServerEvent(type="ADDED", game_server=server.decode())
            async for key in watcher.changes():
                live = federation.game_server(*key)
                before = shown.get(key)
                if live is not None and wanted.matches(live):
                    if live is before:
                        continue
                    shown[key] = live
                    kind = "ADDED" if before is None else "MODIFIED"
                    yield gameserver_pb2.GameServerEvent(type=kind, game_server=live.decode())
                elif before is not None:
                    del shown[key]
                    yield gameserver_pb2.GameServerEvent(
                        type="DELETED", game_server=before.decode()
                    )
        finally:
            federation.unsubscribe_servers(watcher)
