"""GameServerService: list game servers in every cluster; targeted operations routed to agents."""

from __future__ import annotations

from gamefleet.v1 import gameserver_pb2, gameserver_pb2_grpc

from hub.core import paging

from .errors import Context, invalid
from .fleets import PAGE_BYTES, selector_or_none
from .leadership import LeaderGate

OPERATION_TIMEOUT_S = 10.0
# A page also ends before PAGE_BYTES: agents report servers of up to 16 KiB (hub.core.limits),
# so 1000 of them could pass the 4 MiB a client receives.
DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 5000


def _check_patch(patch: gameserver_pb2.GameServerPatch) -> None:
    fields = [f.name for f, _ in patch.ListFields()]
    if not fields:
        raise invalid("patch", "sets nothing: give opsState, a priority, networkDisabled or images")
    if patch.HasField("ops_state") and not patch.ops_state.strip():
        raise invalid("patch.opsState", "must not be empty")
    for container, image in patch.images.items():
        if not container or not image.strip():
            raise invalid(f"patch.images[{container!r}]", "needs a container name and an image")


class GameServerServicer(gameserver_pb2_grpc.GameServerServiceServicer):
    def __init__(self, gate: LeaderGate) -> None:
        self._gate = gate

    async def ListGameServers(
        self, request: gameserver_pb2.ListGameServersRequest, context: Context
    ) -> gameserver_pb2.ListGameServersResponse:
        size = paging.page_size(request.page_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
        after = paging.decode_token(request.page_token, 3)
        servers = self._gate.require().game_servers(
            namespace=request.namespace,
            fleet=request.fleet,
            cluster=request.cluster,
            state=request.state,
            ops_state=request.ops_state,
            selector=selector_or_none(request.label_selector),
            after=after,
            limit=size + 1,
        )
        page = servers[: paging.fitting((s.ByteSize() for s in servers[:size]), PAGE_BYTES)]
        token = ""
        if len(servers) > len(page):
            last = page[-1]
            token = paging.encode_token((last.cluster, last.namespace, last.name))
        return gameserver_pb2.ListGameServersResponse(game_servers=page, next_page_token=token)

    async def UpdateGameServers(
        self, request: gameserver_pb2.UpdateGameServersRequest, context: Context
    ) -> gameserver_pb2.UpdateGameServersResponse:
        federation = self._gate.require()
        if not (request.names or request.label_selector.strip() or request.fleet):
            raise invalid("names", "select servers by names, a label_selector or a fleet")
        if not request.namespace:
            raise invalid("namespace", "is required")
        _check_patch(request.patch)
        candidates = federation.game_servers(
            namespace=request.namespace,
            fleet=request.fleet,
            selector=selector_or_none(request.label_selector),
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
