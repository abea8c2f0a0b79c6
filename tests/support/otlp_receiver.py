"""A real OTLP/gRPC trace receiver for tests: OpenTelemetry's TraceService on a loopback port,
keeping every span it is sent.

It runs on its own threads (a synchronous gRPC server), so an exporter flushing from the test's
event loop thread is answered while that loop waits.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2


@dataclasses.dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    service: str
    attributes: dict[str, object]


def _value(value: common_pb2.AnyValue) -> object:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _attributes(pairs: list[common_pb2.KeyValue]) -> dict[str, object]:
    return {pair.key: _value(pair.value) for pair in pairs}


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: object
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        received = []
        for resource_spans in request.resource_spans:
            service = str(_attributes(list(resource_spans.resource.attributes))["service.name"])
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            service=service,
                            attributes=_attributes(list(span.attributes)),
                        )
                    )
        with self._receiver.lock:
            self._receiver.spans.extend(received)
        return trace_service_pb2.ExportTraceServiceResponse()


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        add = trace_service_pb2_grpc.add_TraceServiceServicer_to_server  # untyped in its stubs
        add(_TraceService(self), self._server)  # type: ignore[no-untyped-call]
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OtlpReceiver:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)

    def named(self, name: str) -> list[ReceivedSpan]:
        with self.lock:
            return [span for span in self.spans if span.name == name]

    def one(self, name: str, trace_id: str | None = None) -> ReceivedSpan:
        """The one span called ``name`` (in trace ``trace_id`` when given)."""
        found = [s for s in self.named(name) if trace_id is None or s.trace_id == trace_id]
        assert len(found) == 1, f"{len(found)} spans named {name}: {self.names()}"
        return found[0]

    def names(self) -> list[str]:
        with self.lock:
            return [span.name for span in self.spans]


if __name__ == "__main__":
    # A receiver in its own process (benchmarks: its decoding is not charged to the exporter):
    # prints its port, and serves until stdin closes.
    import sys

    receiver = OtlpReceiver().start()
    print(receiver.port, flush=True)
    sys.stdin.read()
    receiver.stop()
