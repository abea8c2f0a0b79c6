"""Tracing is off unless an endpoint is given, and off it costs nothing: no span objects."""

from __future__ import annotations

import argparse

from gamefleet import telemetry
from opentelemetry import trace

from agent import run as agent_run
from cli import main as cli_main


def test_off_without_a_flag_or_the_standard_variable() -> None:
    assert telemetry.settings(None, "gamefleet-hub", environ={}) is None
    assert telemetry.settings("", "gamefleet-hub", environ={}) is None


def test_the_flag_wins_over_the_variable_and_the_service_name_comes_from_its_variable() -> None:
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4317",
        "OTEL_SERVICE_NAME": "hub-eu",
    }
    assert telemetry.settings("http://flag:4317", "gamefleet-hub", environ) == (
        telemetry.TracingConfig("http://flag:4317", "hub-eu")
    )
    assert telemetry.settings(
        None, "gamefleet-agent", environ={**environ, "OTEL_SERVICE_NAME": ""}
    ) == (telemetry.TracingConfig("http://env:4317", "gamefleet-agent"))


def test_off_a_span_is_one_shared_no_op_and_nothing_travels() -> None:
    assert not telemetry.enabled()
    first = telemetry.span(
        "a", {"k": "v"}, parent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    )
    assert first is telemetry.span("b")
    assert first is telemetry.child_span("c")
    with first as span:
        assert span is trace.INVALID_SPAN
        assert telemetry.traceparent() == ""
        assert telemetry.trace_id() == ""


def test_hub_serve_and_agent_run_take_the_otlp_endpoint_flag() -> None:
    hub = cli_main.build_parser()
    agent = argparse.ArgumentParser()
    agent_run.add_agent_flags(agent)
    for parser, command in ((hub, ["hub", "serve"]), (agent, [])):
        args = parser.parse_args([*command, "--otlp-endpoint", "http://collector:4317"])
        assert args.otlp_endpoint == "http://collector:4317"
        assert parser.parse_args(command).otlp_endpoint is None
