"""The console's HTTP server (aiohttp): the page, its assets, the session and the live stream.

Read-only: no route changes anything in the hub. With a token file, every data route needs one
of its bearer tokens, as the gRPC API does: in an ``Authorization: Bearer`` header, or in the
cookie ``POST /api/session`` sets after checking one (a browser's EventSource cannot send
headers). The page and its assets hold no data and are served to anyone, so a browser without
a token gets the page's sign-in form. TLS is the API's: with the hub's certificate the console
serves HTTPS and its cookie is ``Secure``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
import ssl
from typing import TYPE_CHECKING

from aiohttp import web
from gamefleet.listen import parse_listen

from hub.api import errors
from hub.core import request_fields
from hub.core.errors import ValidationError
from hub.security import tokens as security_tokens

from .feed import Feed, FleetKey, Page

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from hub.api.server import Hub

log = logging.getLogger(__name__)

STATIC = pathlib.Path(__file__).with_name("static")
ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
COOKIE = "gamefleet_token"
# A comment line this often keeps proxies from closing an idle stream and finds gone browsers.
KEEPALIVE_S = 15.0
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_feed_key = web.AppKey("feed", Feed)
_tokens_key = web.AppKey("tokens", security_tokens.TokenFile)
_secure_key = web.AppKey("secure", bool)


class Unauthorized(Exception):
    pass


def _user(request: web.Request) -> str:
    """The user a request's token names ("" without a token file); Unauthorized if none."""
    tokens = request.app.get(_tokens_key)
    if tokens is None:
        return ""
    header = request.headers.get("Authorization", "")
    token = security_tokens.bearer_token(header) if header else request.cookies.get(COOKIE)
    if not token:
        raise Unauthorized("missing bearer token")
    user = tokens.authenticate(token)
    if user is None:
        raise Unauthorized("invalid bearer token")
    return user


def _refused(reason: str) -> web.Response:
    return web.json_response(
        {"error": reason}, status=401, headers={"WWW-Authenticate": 'Bearer realm="gamefleet"'}
    )


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def _asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    return web.FileResponse(
        STATIC / name, headers={"Content-Type": ASSETS[name], "Cache-Control": "no-cache"}
    )


async def _session(request: web.Request) -> web.Response:
    """Who the request's token names; whether the console needs one at all."""
    needed = request.app.get(_tokens_key) is not None
    try:
        user = _user(request)
    except Unauthorized as exc:
        return _refused(str(exc))
    return web.json_response({"auth": needed, "user": user})


async def _sign_in(request: web.Request) -> web.Response:
    """Check the bearer token of the Authorization header and keep it in a cookie."""
    if request.app.get(_tokens_key) is None:
        return web.json_response({"auth": False, "user": ""})
    if "Authorization" not in request.headers:
        return _refused("missing bearer token")
    try:
        user = _user(request)
    except Unauthorized as exc:
        return _refused(str(exc))
    token = security_tokens.bearer_token(request.headers["Authorization"]) or ""
    response = web.json_response({"auth": True, "user": user})
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="Strict", secure=request.app[_secure_key], path="/"
    )
    return response


async def _sign_out(request: web.Request) -> web.Response:
    response = web.json_response({})
    response.del_cookie(COOKIE, path="/")
    return response


def _fleet_param(request: web.Request) -> FleetKey | None:
    text = request.query.get("fleet", "")
    if not text:
        return None
    namespace, slash, name = text.partition("/")
    if not slash:
        raise errors.invalid("fleet", f"{text!r} is not NAMESPACE/NAME")
    return (
        request_fields.name(namespace, "fleet", required=False),
        request_fields.name(name, "fleet"),
    )


async def _stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: a snapshot of everything the page shows, then changes."""
    try:
        _user(request)
        fleet = _fleet_param(request)
    except Unauthorized as exc:
        return _refused(str(exc))
    except errors.AbortError as exc:
        return web.json_response({"error": exc.details}, status=400)
    except ValidationError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    feed = request.app[_feed_key]
    page = feed.open(fleet)
    try:
        await response.write(b"retry: 2000\n\n")
        await _send(page, response)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        await feed.close(page)
    return response


async def _send(page: Page, response: web.StreamResponse) -> None:
    while True:
        try:
            first = await asyncio.wait_for(page.frames.get(), KEEPALIVE_S)
        except TimeoutError:
            await response.write(b": keepalive\n\n")
            continue
        batch = [first]
        while not page.frames.empty():
            batch.append(page.frames.get_nowait())
        if None in batch:
            return
        await response.write(b"".join(f for f in batch if f is not None))


@web.middleware
async def _headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    if not response.prepared:
        response.headers.update(SECURITY_HEADERS)
    return response


def build_app(
    feed: Feed, tokens: security_tokens.TokenFile | None, secure: bool
) -> web.Application:
    app = web.Application(middlewares=[_headers])
    app[_feed_key] = feed
    if tokens is not None:
        app[_tokens_key] = tokens
    app[_secure_key] = secure
    app.router.add_get("/", _index)
    app.router.add_get("/static/{name}", _asset)
    app.router.add_get("/api/session", _session)
    app.router.add_post("/api/session", _sign_in)
    app.router.add_delete("/api/session", _sign_out)
    app.router.add_get("/api/stream", _stream)
    return app


class Console:
    """The console of one started hub, on its own port."""

    def __init__(self, hub: Hub, feed: Feed | None = None) -> None:
        self.hub = hub
        self.feed = feed or Feed(hub)
        self.port = 0
        self.scheme = "http"
        self._runner: web.AppRunner | None = None

    async def start(self, listen: str) -> int:
        """Listen on ``listen`` (HOST:PORT, port 0 picks one); returns the port. ValueError
        for a malformed address, OSError when it cannot be bound."""
        host, port = parse_listen(listen)
        config = self.hub.config
        context = None
        if config.tls_cert is not None and config.tls_key is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(config.tls_cert, config.tls_key)
            self.scheme = "https"
        tokens = self.hub.auth.tokens if self.hub.auth is not None else None
        app = build_app(self.feed, tokens, secure=context is not None)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=context, reuse_port=False)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("console on %s://%s:%d/", self.scheme, host, self.port)
        return self.port

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await runner.cleanup()
        await self.feed.stop()
