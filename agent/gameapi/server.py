"""The game's HTTP endpoint (``--game-api-listen``): a game server changes its counters and
lists, and the agent writes them to its GameServer (the ``gamefleet.io/counters-lists-status``
annotation), from where they reach the hub like any other change.

- ``GET /gameservers/{namespace}/{name}``: its counters and lists.
- ``POST /gameservers/{namespace}/{name}/counters/{counter}``: ``{"delta": n}`` or
  ``{"count": n}``, with an optional ``"capacity"``.
- ``POST /gameservers/{namespace}/{name}/lists/{list}``: ``{"add": [...], "remove": [...]}``,
  with an optional ``"capacity"``.

Answers 200 with the server's counters and lists after the change, 400 naming a bad field or a
change that does not fit (the count stays within 0..capacity), 404 for an unknown server or an
undeclared name. Each write is guarded by the resourceVersion it read (a concurrent allocation
or another change makes it read again and retry), so no change is lost and no capacity
overfilled. No authentication: listen where only the game servers reach it (docs).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web
from gamefleet.listen import parse_listen

from agent.core import bodies
from agent.kube import client as kclient
from agent.kube import resources
from okg import capacity as cap

if TYPE_CHECKING:
    from collections.abc import Sequence

    from agent.kube.cache import WatchCache

_log = logging.getLogger(__name__)
ATTEMPTS = 5
MAX_BODY = 256 * 1024


class GameApi:
    def __init__(
        self,
        kube: kclient.KubeClient,
        game_servers: WatchCache,
        namespaces: Sequence[str] = (),
    ) -> None:
        self._kube = kube
        self._gs = game_servers
        self._namespaces = tuple(namespaces)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_get("/gameservers/{namespace}/{name}", self._get)
        app.router.add_post("/gameservers/{namespace}/{name}/{kind}/{item}", self._change)
        return app

    async def start(self, listen: str) -> int:
        """Serve on ``listen`` (HOST:PORT); the bound port. OSError when it cannot be bound."""
        host, port = parse_listen(listen)
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- handlers ----------------------------------------------------------------------------

    async def _get(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        obj = self._served(namespace, name)
        if obj is None:
            return _error(404, f"gameservers/{namespace}/{name}", "no such game server")
        return web.json_response(_document(cap.current(bodies.annotations_of(obj))))

    async def _change(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        kind, item = request.match_info["kind"], request.match_info["item"]
        if kind not in ("counters", "lists"):
            return _error(404, kind, "is neither counters nor lists")
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError as exc:
            return _error(400, "body", f"is not JSON: {exc}")
        obj = self._served(namespace, name)
        if obj is None:
            return _error(404, f"gameservers/{namespace}/{name}", "no such game server")
        for _ in range(ATTEMPTS):
            try:
                after = cap.edit(cap.current(bodies.annotations_of(obj)), kind, item, body)
            except cap.NotDeclaredError as exc:
                return _error(404, exc.path, exc.message)
            except cap.CapacityError as exc:
                return _error(400, exc.path, exc.message)
            patch = {
                "metadata": {
                    "annotations": {cap.STATUS: cap.status_text(after)},
                    "resourceVersion": str(bodies.meta(obj).get("resourceVersion", "")),
                }
            }
            try:
                await self._kube.patch(resources.GAME_SERVER, namespace, name, patch)
            except kclient.ApiError as exc:
                if exc.not_found:
                    return _error(404, f"gameservers/{namespace}/{name}", "no such game server")
                if not exc.conflict:
                    _log.warning("writing %s/%s: %s", namespace, name, exc)
                    return _error(503, f"gameservers/{namespace}/{name}", str(exc))
                obj = await self._kube.get(resources.GAME_SERVER, namespace, name)
                continue
            return web.json_response(_document(after))
        return _error(409, f"gameservers/{namespace}/{name}", "changed while being written; retry")

    def _served(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self._namespaces and namespace not in self._namespaces:
            return None
        return self._gs.get((namespace, name))


def _document(found: cap.Capacity | None) -> dict[str, Any]:
    if found is None:
        return {"counters": {}, "lists": {}}
    return {
        "counters": {
            n: {"count": c.count, "capacity": c.capacity} for n, c in found.counters.items()
        },
        "lists": {
            n: {"capacity": lst.capacity, "values": list(lst.values)}
            for n, lst in found.lists.items()
        },
    }


def _error(status: int, path: str, message: str) -> web.Response:
    return web.json_response({"error": f"{path}: {message}"}, status=status)
