"""A span per API call: method, status code, and the caller's trace when it sent one.

Installed only when tracing is on (``gamefleet.telemetry``); put first, as the metrics
interceptor is, so it sees the status every other interceptor gives. The agents' stream
(AgentService.Connect) lives as long as the agent stays connected: no span of its own, its
operations carry the trace of the call they serve.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from gamefleet import telemetry

from . import handlers
from .handlers import Behavior, Context


def _traceparent(details: grpc.HandlerCallDetails) -> str:
    for key, value in details.invocation_metadata or ():
        if key == telemetry.TRACEPARENT and isinstance(value, str):
            return value
    return ""


class _Call:
    """The span of one method, and the wrappers that open it around a call."""

    def __init__(self, full_name: str, parent: str) -> None:
        self._name = full_name.lstrip("/")
        service, _, method = self._name.partition("/")
        self._attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
        self._parent = parent

    def wrap_unary(self, behavior: Behavior) -> Behavior:
        async def handle(request: Any, context: Context) -> Any:
            with telemetry.span(self._name, self._attributes, self._parent) as span:
                ended = handlers.Outcome()
                try:
                    with handlers.outcome(context) as ended:
                        return await behavior(request, context)
                finally:
                    _record(span, ended.code)

        return handle

    def wrap_stream(self, behavior: Behavior) -> Behavior:
        async def handle(request: Any, context: Context) -> AsyncIterator[Any]:
            with telemetry.span(self._name, self._attributes, self._parent) as span:
                ended = handlers.Outcome()
                try:
                    with handlers.outcome(context) as ended:
                        async for item in behavior(request, context):
                            yield item
                finally:
                    _record(span, ended.code)

        return handle


def _record(span: telemetry.Span, code: grpc.StatusCode) -> None:
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    span.set_attribute("rpc.grpc.status", code.name)


class TracingInterceptor(handlers.Interceptor):
    def __init__(self, untraced: frozenset[str]) -> None:
        """``untraced``: full service names whose calls get no span."""
        self._untraced = untraced

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        name = handler_call_details.method
        if handler is None or name.lstrip("/").partition("/")[0] in self._untraced:
            return handler
        call = _Call(name, _traceparent(handler_call_details))
        return handlers.rewrap(handler, call.wrap_unary, call.wrap_stream)
