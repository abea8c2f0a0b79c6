"""GameServerService: list game servers in every cluster; targeted operations routed to agents."""

from __future__ import annotations

from gamefleet.v1 import gameserver_pb2, gameserver_pb2_grpc

from hub.core import limits, paging, paths, request_fields

from .errors import Context, invalid
from .leadership import LeaderGate

OPERATION_TIMEOUT_S = 10.0


def _check_patch(patch: gameserver_pb2.GameServerPatch) -> None:
    fields = [f.name for f, _ in patch.ListFields()]
    if not fields:
        raise invalid("patch", "sets nothing: give opsState, a priority, networkDisabled or images")
    if patch.HasField("ops_state"):
        if not patch.ops_state.strip():
            raise invalid("patch.opsState", "must not be empty")
        request_fields.bounded(patch.ops_state, "patch.opsState", limits.MAX_OPS_STATE_LENGTH)
    for container, image in patch.images.items():
        path = paths.entry("patch.images", container)
        if not container or not image.strip():
            raise invalid(path, "needs a container name and an image")
        request_fields.name(container, path)
        request_fields.bounded(image, path, limits.MAX_IMAGE_LENGTH)


def _filters(request: gameserver_pb2.ListGameServersRequest) -> None:
    for field in ("namespace", "fleet", "cluster"):
        request_fields.name(getattr(request, field), field, required=False)
    for field in ("state", "ops_state"):
        request_fields.bounded(getattr(request, field), field, limits.MAX_OPS_STATE_LENGTH)


class GameServerServicer(gameserver_pb2_grpc.GameServerServiceServicer):
    def __init__(self, gate: LeaderGate) -> None:
        self._gate = gate

    async def ListGameServers(
        self, request: gameserver_pb2.ListGameServersRequest, context: Context
    ) -> gameserver_pb2.ListGameServersResponse:
        federation = self._gate.require()
        _filters(request)
        selector = request_fields.selector(request.label_selector)
        size = paging.page_size(
            request.page_size,
            default=limits.GAME_SERVERS_DEFAULT_PAGE_SIZE,
            maximum=limits.MAX_PAGE_SIZE,
        )
        after = paging.decode_token(request.page_token, 3)
        servers = federation.game_servers(
            namespace=request.namespace,
            fleet=request.fleet,
            cluster=request.cluster,
            state=request.state,
            ops_state=request.ops_state,
            selector=selector,
            after=after,
            limit=size + 1,
        )
        page = servers[:size]
        token = ""
        if len(servers) > size:
            last = page[-1]
            token = paging.encode_token((last.cluster, last.namespace, last.name))
        return gameserver_pb2.ListGameServersResponse(game_servers=page, next_page_token=token)

    async def UpdateGameServers(
        self, request: gameserver_pb2.UpdateGameServersRequest, context: Context
    ) -> gameserver_pb2.UpdateGameServersResponse:
        federation = self._gate.require()
        if not (request.names or request.label_selector.strip() or request.fleet):
            raise invalid("names", "select servers by names, a label_selector or a fleet")
        request_fields.name(request.namespace, "namespace")
        request_fields.name(request.fleet, "fleet", required=False)
        request_fields.count(len(request.names), "names", limits.MAX_GAME_SERVER_NAMES)
        for index, name in enumerate(request.names):
            request_fields.subdomain(name, paths.item("names", index))
        selector = request_fields.selector(request.label_selector)
        _check_patch(request.patch)
        candidates = federation.game_servers(
            namespace=request.namespace, fleet=request.fleet, selector=selector
        )
        if request.names:
            wanted = set(request.names)
            candidates = [s for s in candidates if s.name in wanted]
            missing = wanted - {s.name for s in candidates}
            if missing:
                raise invalid("names", f"no such game servers: {', '.join(sorted(missing))}")
        updated, errors = await federation.update_game_servers(
            candidates, request.patch, OPERATION_TIMEOUT_S
        )
        return gameserver_pb2.UpdateGameServersResponse(updated=updated, errors=errors)
