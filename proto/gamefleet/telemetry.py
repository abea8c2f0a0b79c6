"""Opt-in OpenTelemetry tracing, shared by the hub and the agent.

Off unless an OTLP endpoint is given (``--otlp-endpoint`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``).
Off, ``span`` hands back one shared no-op context manager and ``traceparent`` an empty string:
no span objects, no context switches, no SDK imported. On, spans go to the endpoint in batches
over OTLP/gRPC, the W3C ``traceparent`` of the current span travels on the hub ↔ agent stream,
and every log record emitted inside a span ends with ``trace_id=<32 hex digits>``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace.propagation import tracecontext

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.util import types as otel_types

    Attributes = Mapping[str, otel_types.AttributeValue]
else:
    Attributes = Mapping[str, Any]

Span = trace.Span
ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
SERVICE_ENV = "OTEL_SERVICE_NAME"
TRACEPARENT = "traceparent"

_PROPAGATOR = tracecontext.TraceContextTextMapPropagator()
_OFF = contextlib.nullcontext(trace.INVALID_SPAN)

_tracer: trace.Tracer | None = None
_provider: TracerProvider | None = None
_plain_records: Callable[..., logging.LogRecord] | None = None


@dataclasses.dataclass(frozen=True)
class TracingConfig:
    endpoint: str
    service_name: str


def settings(
    endpoint: str | None, service_name: str, environ: Mapping[str, str] = os.environ
) -> TracingConfig | None:
    """The tracing to start: the flag's endpoint, else the standard variable's; None (off)
    without either. ``OTEL_SERVICE_NAME`` overrides ``service_name``."""
    chosen = endpoint or environ.get(ENDPOINT_ENV, "")
    if not chosen:
        return None
    return TracingConfig(chosen, environ.get(SERVICE_ENV) or service_name)


def add_flag(parser: argparse.ArgumentParser) -> None:
    """The ``--otlp-endpoint`` flag of the hub's and the agent's commands."""
    parser.add_argument(
        "--otlp-endpoint",
        metavar="URL",
        help=f"send traces over OTLP/gRPC to URL, e.g. http://collector:4317 (default: off; "
        f"env {ENDPOINT_ENV}; service name from {SERVICE_ENV})",
    )


def start(config: TracingConfig) -> None:
    """Export spans to ``config.endpoint`` and stamp trace ids on log records, until ``stop``."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk import resources
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    global _tracer, _provider
    stop()
    endpoint = config.endpoint
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=not endpoint.startswith("https://"))
    provider = TracerProvider(
        resource=resources.Resource.create({resources.SERVICE_NAME: config.service_name})
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _provider = provider
    _tracer = provider.get_tracer("gamefleet")
    _stamp_log_records()


def stop() -> None:
    """Send the spans still buffered and turn tracing off."""
    global _tracer, _provider
    _unstamp_log_records()
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


def flush(timeout_s: float = 10.0) -> bool:
    """Send the spans buffered so far; False when they did not all go within ``timeout_s``."""
    if _provider is None:
        return True
    return _provider.force_flush(int(timeout_s * 1000))


def enabled() -> bool:
    return _tracer is not None


def span(
    name: str, attributes: Attributes | None = None, parent: str = ""
) -> contextlib.AbstractContextManager[trace.Span]:
    """A span made current for the ``with`` block: a child of the current span, or of the span
    whose ``traceparent`` is ``parent`` when given."""
    if _tracer is None:
        return _OFF
    context = _PROPAGATOR.extract({TRACEPARENT: parent}) if parent else None
    return _tracer.start_as_current_span(name, context=context, attributes=attributes)


def child_span(
    name: str, attributes: Attributes | None = None
) -> contextlib.AbstractContextManager[trace.Span]:
    """A span only inside a recording one: work done for a traced call is traced, the same
    work done on its own (a reconcile's writes) makes no trace."""
    if _tracer is None or not trace.get_current_span().is_recording():
        return _OFF
    return _tracer.start_as_current_span(name, attributes=attributes)


def traceparent() -> str:
    """The W3C traceparent of the current span, or "" outside one (and when tracing is off)."""
    if _tracer is None:
        return ""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT, "")


def trace_id() -> str:
    """The current span's trace id in hex, or "" outside a span."""
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else ""


def _stamp_log_records() -> None:
    """Every record created inside a span carries ``trace_id`` and ends its message with it,
    whatever handler or format shows it."""
    global _plain_records
    if _plain_records is not None:
        return
    plain = _plain_records = logging.getLogRecordFactory()

    def stamped(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = plain(*args, **kwargs)
        found = trace_id()
        # As an attribute too, for a format or a handler that wants it on its own.
        record.__dict__["trace_id"] = found
        if found:
            record.msg = f"{record.getMessage()} trace_id={found}"
            record.args = None
        return record

    logging.setLogRecordFactory(stamped)


def _unstamp_log_records() -> None:
    global _plain_records
    if _plain_records is not None:
        logging.setLogRecordFactory(_plain_records)
        _plain_records = None
