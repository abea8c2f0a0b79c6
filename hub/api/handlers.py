"""What the hub's interceptors share: grpc's stub-only generics, re-wrapping a handler, and
the status a call ends with."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

import grpc

if TYPE_CHECKING:
    # grpc's classes are generic only in their stubs.
    Context = grpc.aio.ServicerContext[Any, Any]
    Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    Context = grpc.aio.ServicerContext
    Interceptor = grpc.aio.ServerInterceptor

Behavior = Callable[[Any, Context], Any]
Wrap = Callable[[Behavior], Behavior]


def _as_generator(behavior: Behavior) -> Behavior:
    """A streaming behavior as an async generator, so every wrapper can iterate it.

    grpc.aio also takes a coroutine that answers with ``context.write`` (the health
    servicer's Watch does); as a generator it yields nothing and its writes go out as before.
    """
    if not inspect.iscoroutinefunction(behavior):
        return behavior

    async def responses(request: Any, context: Context) -> AsyncIterator[Any]:
        await behavior(request, context)
        return
        yield  # an async generator that yields nothing: the behavior wrote its answers

    return responses


def rewrap(
    handler: grpc.RpcMethodHandler[Any, Any],
    unary: Wrap,
    streaming: Wrap,
    *,
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> grpc.RpcMethodHandler[Any, Any]:
    """The same handler with its behavior wrapped: ``unary`` for methods answering one
    message, ``streaming`` for those answering a stream (always given an async generator);
    with ``request_deserializer``, that one reads requests instead of the handler's."""
    serializers: dict[str, Any] = {
        "request_deserializer": request_deserializer or handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        behavior = unary(cast(Behavior, handler.unary_unary))
        return grpc.unary_unary_rpc_method_handler(behavior, **serializers)
    if handler.stream_unary is not None:
        behavior = unary(cast(Behavior, handler.stream_unary))
        return grpc.stream_unary_rpc_method_handler(behavior, **serializers)
    if handler.unary_stream is not None:
        behavior = streaming(_as_generator(cast(Behavior, handler.unary_stream)))
        return grpc.unary_stream_rpc_method_handler(behavior, **serializers)
    if handler.stream_stream is not None:
        behavior = streaming(_as_generator(cast(Behavior, handler.stream_stream)))
        return grpc.stream_stream_rpc_method_handler(behavior, **serializers)
    return handler


@dataclasses.dataclass
class Outcome:
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN


@contextlib.contextmanager
def outcome(context: Context) -> Iterator[Outcome]:
    """The status of the call whose behavior runs in the block, set when the block ends: the
    one set on ``context`` (by abort or set_code), else OK; CANCELLED when the caller went
    away; UNKNOWN for a failure nothing mapped."""
    ended = Outcome()
    try:
        yield ended
        ended.code = _status(context, grpc.StatusCode.OK)
    except grpc.aio.AbortError:
        ended.code = _status(context, grpc.StatusCode.UNKNOWN)
        raise
    except (asyncio.CancelledError, GeneratorExit):
        ended.code = grpc.StatusCode.CANCELLED
        raise


def _status(context: Context, default: grpc.StatusCode) -> grpc.StatusCode:
    code: grpc.StatusCode | None = context.code()
    return code if code is not None else default
