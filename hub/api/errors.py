"""One place that turns failures into gRPC statuses: a server interceptor.

It also bounds what a status says. Details quote input (a name, a key, a value); quoted text is
cut to ``limits.MAX_QUOTED_CHARACTERS`` and the whole to ``limits.MAX_DETAILS_BYTES``, so no input
comes back unbounded and no answer passes gRPC's metadata limit. A request that does not decode
ends INVALID_ARGUMENT (``request: ...``), and a failure the hub did not expect ends INTERNAL
without its text: the hub logs it. Store errors reach the client without the store's location.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import message

from hub.core import errors as core_errors
from hub.core import limits, paging, selectors
from hub.registry import errors as registry_errors
from hub.store import interface as store_api

from . import handlers

log = logging.getLogger(__name__)

STORE_UNAVAILABLE = "store unavailable; retry later (the hub logged the cause)"
INTERNAL = "internal error; the hub logged it"


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
    if isinstance(exc, store_api.StoreError):
        # The message names the store (a file path, endpoints): for the hub's log only.
        log.warning("store error: %s", exc)
        return grpc.StatusCode.UNAVAILABLE, STORE_UNAVAILABLE
    return None


_QUOTES = re.compile(r"[\"']")
_REST_OF_QUOTE = {
    '"': re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL),
    "'": re.compile(r"(?:[^'\\]|\\.)*'", re.DOTALL),
}


def _shorten_quoted(details: str) -> str:
    """Cut every quoted run longer than MAX_QUOTED_CHARACTERS; linear in ``details``."""
    parts: list[str] = []
    copied = position = 0
    unclosed: set[str] = set()
    while (opening := _QUOTES.search(details, position)) is not None:
        quote, start = opening.group(), opening.start()
        closing = None if quote in unclosed else _REST_OF_QUOTE[quote].match(details, start + 1)
        if closing is None:
            # No closing quote after this one, so none after any later one either.
            unclosed.add(quote)
            position = start + 1
            continue
        end = closing.end()
        inner = details[start + 1 : end - 1]
        if len(inner) > limits.MAX_QUOTED_CHARACTERS:
            parts.append(details[copied:start])
            cut = inner[: limits.MAX_QUOTED_CHARACTERS]
            parts.append(f"{quote}{cut}… ({len(inner):,} characters){quote}")
            copied = end
        position = end
    parts.append(details[copied:])
    return "".join(parts)


def bounded(details: str) -> str:
    """``details`` with quoted input cut short, and at most MAX_DETAILS_BYTES of UTF-8."""
    details = _shorten_quoted(details)
    encoded = details.encode()
    if len(encoded) <= limits.MAX_DETAILS_BYTES:
        return details
    kept = encoded[: limits.MAX_DETAILS_BYTES - 16].decode(errors="ignore")
    return f"{kept}… (cut)"


class Undecodable:
    """What the hub's deserializer returns for bytes that are not the method's request."""

    def __init__(self, type_name: str, error: Exception) -> None:
        self.type_name = type_name
        self.error = error

    def status(self) -> tuple[grpc.StatusCode, str]:
        return (
            grpc.StatusCode.INVALID_ARGUMENT,
            f"request: is not a valid {self.type_name} message ({self.error})",
        )


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """A deserializer that answers Undecodable instead of raising: grpc would say UNKNOWN."""
    if deserializer is None:
        return None
    owner = getattr(deserializer, "__self__", None)
    type_name = (
        owner.DESCRIPTOR.full_name
        if isinstance(owner, type) and issubclass(owner, message.Message)
        else "request"
    )

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:  # any decoding failure is the caller's bytes
            return Undecodable(type_name, exc)

    return deserialize


Context = handlers.Context
Behavior = handlers.Behavior


async def _end(context: Context, exc: Exception, method: str) -> None:
    if isinstance(exc, grpc.aio.AbortError):
        raise exc  # the behavior ended the call itself
    mapped = status_for(exc)
    if mapped is None:
        log.error("unexpected failure in %s", method, exc_info=exc)
        mapped = grpc.StatusCode.INTERNAL, INTERNAL
    code, details = mapped
    await context.abort(code, bounded(details))


async def _checked_requests(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, Undecodable):
            raise AbortError(*request.status())
        yield request


def _checked(request: Any) -> Any:
    if isinstance(request, Undecodable):
        raise AbortError(*request.status())
    if hasattr(request, "__aiter__"):
        return _checked_requests(request)
    return request


def _wrap_unary(behavior: Behavior, method: str) -> Behavior:
    async def handle(request: Any, context: Context) -> Any:
        try:
            return await behavior(_checked(request), context)
        except Exception as exc:
            await _end(context, exc, method)

    return handle


def _wrap_stream(behavior: Behavior, method: str) -> Behavior:
    async def handle(request: Any, context: Context) -> AsyncIterator[Any]:
        try:
            async for item in behavior(_checked(request), context):
                yield item
        except Exception as exc:
            await _end(context, exc, method)

    return handle


class ErrorInterceptor(handlers.Interceptor):
    """Maps exceptions to gRPC statuses for every method of every servicer."""

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
        method = handler_call_details.method
        return handlers.rewrap(
            handler,
            functools.partial(_wrap_unary, method=method),
            functools.partial(_wrap_stream, method=method),
            request_deserializer=_tolerant(handler.request_deserializer),
        )
