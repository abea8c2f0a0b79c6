"""One reading of `serviceQualities` for the hub and the agent: the hub refuses at apply
exactly the lists the agent could not probe or act on."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agent.core import quality
from hub.core import validation
from okg import service_quality
from tests.unit.hub.core.fleets import MINIMAL_FLEET, fleet, set_at

SQ = "spec.template.serviceQualities"
PROBE = {"exec": {"command": ["cat", "/idle"]}}

STRUCTURE_CASES = [
    pytest.param({"name": "q", **PROBE}, None, id="plain"),
    pytest.param({"name": "q", **PROBE, "timeoutSeconds": 0}, None, id="timeout-0-is-default"),
    pytest.param({"name": "q", **PROBE, "periodSeconds": 0}, "periodSeconds", id="period-0"),
    pytest.param({"name": "q", **PROBE, "initialDelaySeconds": -1}, "initialDelaySeconds",
                 id="negative-delay"),
    pytest.param({"name": "q", **PROBE, "serviceQualityAction": [{"opsState": "x"}]},
                 "serviceQualityAction[0].state", id="action-without-state"),
    pytest.param({"name": "q", **PROBE, "serviceQualityAction": [
        {"state": True, "updatePriority": "{{if gt .Result 5}}10{{else}}1{{end}}"}]},
        None, id="priority-template"),
    pytest.param({"name": "q", "httpGet": {"port": 70000}}, "httpGet.port", id="port-range"),
    pytest.param({"name": "q", "grpc": {"port": 9090, "host": "x"}}, "grpc.host",
                 id="grpc-unknown-field"),
]  # fmt: skip

TEMPLATE_CASES = [
    pytest.param({"phase": "{{if .Result}}x"}, {}, 'labels["phase"]', id="label-without-end"),
    pytest.param({}, {"opsState": "{{ lt .Result true }}"}, "opsState", id="orders-a-boolean"),
    pytest.param({}, {"updatePriority": "{{ .Nope }}"}, "updatePriority", id="unknown-field"),
]  # fmt: skip


@pytest.mark.parametrize(("item", "bad_field"), STRUCTURE_CASES)
def test_the_hub_refuses_what_the_agent_cannot_probe(
    item: dict[str, Any], bad_field: str | None
) -> None:
    hub_problems = validation.validate_fleet(fleet(set_at(MINIMAL_FLEET, SQ, [item])))
    if bad_field is None:
        assert hub_problems == []
        assert quality.parse_qualities([item])
        return
    assert [p.path for p in hub_problems] == [f"{SQ}[0].{bad_field}"], [
        str(p) for p in hub_problems
    ]
    with pytest.raises(quality.QualitySpecError, match=re.escape(f"[0].{bad_field}")):
        quality.parse_qualities([item])


@pytest.mark.parametrize(("labels", "fields", "bad_field"), TEMPLATE_CASES)
def test_the_hub_refuses_a_template_the_agent_could_never_render(
    labels: dict[str, str], fields: dict[str, str], bad_field: str
) -> None:
    action = {"state": True, "labels": labels, **fields}
    item = {"name": "q", **PROBE, "serviceQualityAction": [action]}
    hub_problems = validation.validate_fleet(fleet(set_at(MINIMAL_FLEET, SQ, [item])))
    assert [p.path for p in hub_problems] == [f"{SQ}[0].serviceQualityAction[0].{bad_field}"]
    # The agent (a set written with kubectl) meets it when the action fires: skipped, warned.
    qualities = quality.parse_qualities([item])
    decision = quality.decide(qualities, {"q": quality.Outcome(True, "1")}, {}, "now")
    assert decision.errors and not decision.changed


def test_defaults_follow_okg() -> None:
    ((parsed,), problems) = service_quality.parse([{"name": "q", **PROBE, "timeoutSeconds": 0}])
    assert problems == []
    assert (parsed.probe.timeout, parsed.probe.initial_delay, parsed.probe.period) == (5, 10, 3)


def test_a_list_with_a_problem_gives_no_qualities() -> None:
    good = {"name": "good", **PROBE}
    qualities, problems = service_quality.parse([good, {"name": "good", **PROBE}])
    assert qualities == ()
    assert [str(p) for p in problems] == ['serviceQualities[1].name: "good" is used twice']
