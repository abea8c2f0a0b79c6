"""Agones' REST allocation: ``POST /gameserverallocation`` with Agones' JSON body.

The same call as Agones' gRPC ``AllocationService.Allocate`` (:mod:`hub.api.agones`), on a port
of its own (``agones_rest_listen``, off by default), as Agones' allocator serves it through
grpc-gateway: the body is ``AllocationRequest`` in protobuf's JSON mapping (camelCase or the
proto names, enums by name or number), the answer ``AllocationResponse``. Failures answer
grpc-gateway's error document ``{"code", "message", "details"}`` with the HTTP status it maps the
gRPC code to (INVALID_ARGUMENT 400, RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, ...). It takes the
same bearer tokens as the gRPC API and, with the hub's TLS certificate, serves HTTPS.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Final

import grpc
from agones.allocation import allocation_pb2
from aiohttp import web
from gamefleet.listen import parse_listen
from google.protobuf import json_format

from hub.security import tokens as security_tokens

from . import auth, errors

log = logging.getLogger(__name__)

PATH: Final = "/gameserverallocation"
MAX_BODY_BYTES: Final = 1 << 20
# grpc-gateway's mapping of gRPC codes to HTTP statuses (runtime.HTTPStatusFromCode).
HTTP_STATUS: Final = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}

Allocate = Callable[
    [allocation_pb2.AllocationRequest], Awaitable[allocation_pb2.AllocationResponse]
]


class AgonesRest:
    """An HTTP server with one route; ``tokens`` None leaves it open (like the gRPC API)."""

    def __init__(self, allocate: Allocate, tokens: security_tokens.TokenFile | None) -> None:
        self._allocate = allocate
        self._tokens = tokens
        self._runner: web.AppRunner | None = None

    async def start(self, listen: str, tls: ssl.SSLContext | None) -> int:
        """Serve on ``listen`` (HOST:PORT); the bound port. ValueError for a malformed address,
        OSError when it cannot be bound."""
        host, port = parse_listen(listen)
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post(PATH, self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, ssl_context=tls)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        return int(runner.addresses[0][1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            self._authenticate(request.headers.get(auth.AUTHORIZATION))
            message = await _decoded(request)
            answer = await self._allocate(message)
        except Exception as exc:
            return _failure(exc)
        return web.Response(text=json_format.MessageToJson(answer), content_type="application/json")

    def _authenticate(self, authorization: str | None) -> None:
        if self._tokens is None:
            return
        token = security_tokens.bearer_token(authorization) if authorization else None
        if token is None:
            raise errors.AbortError(grpc.StatusCode.UNAUTHENTICATED, auth.MISSING_TOKEN)
        if self._tokens.authenticate(token) is None:
            raise errors.AbortError(grpc.StatusCode.UNAUTHENTICATED, auth.INVALID_TOKEN)


async def _decoded(request: web.Request) -> allocation_pb2.AllocationRequest:
    try:
        body = await request.text()
    except web.HTTPRequestEntityTooLarge:
        raise errors.invalid("request", f"is larger than {MAX_BODY_BYTES:,} bytes") from None
    try:
        return json_format.Parse(body or "{}", allocation_pb2.AllocationRequest())
    except json_format.ParseError as exc:
        raise errors.invalid(
            "request", f"is not a valid allocation.AllocationRequest JSON document ({exc})"
        ) from None


def _failure(exc: Exception) -> web.Response:
    mapped = errors.status_for(exc)
    if mapped is None:
        log.error("unexpected failure in POST %s", PATH, exc_info=exc)
        mapped = grpc.StatusCode.INTERNAL, errors.INTERNAL
    code, details = mapped
    document = {"code": code.value[0], "message": errors.bounded(details), "details": []}
    return web.Response(
        status=HTTP_STATUS.get(code, 500),
        text=json.dumps(document),
        content_type="application/json",
    )
