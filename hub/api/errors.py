"""One place that turns domain failures into gRPC statuses: a server interceptor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from hub.core import errors as core_errors
from hub.core import paging, selectors
from hub.registry import errors as registry_errors
from hub.store import interface as store_api

from . import handlers


class AbortError(Exception):
    """Raised by a servicer to end the call with ``code``."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def invalid(path: str, message: str) -> AbortError:
    return AbortError(grpc.StatusCode.INVALID_ARGUMENT, f"{path}: {message}")


def status_for(exc: Exception) -> tuple[grpc.StatusCode, str] | None:
    """The status a domain exception maps to, or None for an unexpected failure."""
    if isinstance(exc, AbortError):
        return exc.code, exc.details
    if isinstance(exc, core_errors.ValidationError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, selectors.SelectorError):
        return grpc.StatusCode.INVALID_ARGUMENT, f"label_selector: {exc}"
    if isinstance(exc, paging.PageSizeError):
        return grpc.StatusCode.INVALID_ARGUMENT, f"page_size: {exc}"
    if isinstance(exc, paging.PageTokenError):
        return grpc.StatusCode.INVALID_ARGUMENT, f"page_token: {exc}"
    if isinstance(exc, registry_errors.NotFoundError):
        return grpc.StatusCode.NOT_FOUND, str(exc)
    if isinstance(exc, registry_errors.DeletingError | registry_errors.PreconditionError):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if isinstance(exc, registry_errors.RevisionMismatchError):
        return grpc.StatusCode.ABORTED, str(exc)
    if isinstance(exc, registry_errors.HistoryCompactedError):
        return grpc.StatusCode.OUT_OF_RANGE, f"{exc}; list again"
    if isinstance(exc, store_api.StoreUnavailableError):
        return grpc.StatusCode.UNAVAILABLE, f"store unavailable: {exc}"
    return None


Context = handlers.Context
Behavior = handlers.Behavior


def _wrap_unary(behavior: Behavior) -> Behavior:
    async def handle(request: Any, context: Context) -> Any:
        try:
            return await behavior(request, context)
        except Exception as exc:
            mapped = status_for(exc)
            if mapped is None:
                raise
            await context.abort(*mapped)

    return handle


def _wrap_stream(behavior: Behavior) -> Behavior:
    async def handle(request: Any, context: Context) -> AsyncIterator[Any]:
        try:
            async for item in behavior(request, context):
                yield item
        except Exception as exc:
            mapped = status_for(exc)
            if mapped is None:
                raise
            await context.abort(*mapped)

    return handle


class ErrorInterceptor(handlers.Interceptor):
    """Maps the domain's exceptions to gRPC statuses for every method of every servicer."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return handlers.rewrap(handler, _wrap_unary, _wrap_stream)
