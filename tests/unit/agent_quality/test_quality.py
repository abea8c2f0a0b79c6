"""Service quality: outcome thresholds, OKG's firing rules and v1.1 templates, state in/out."""

from __future__ import annotations

import re

import pytest

from agent.core import quality as q
from okg import service_quality as spec
from okg import templates

NOW = "2026-01-01T00:00:00Z"
LATER = "2026-01-01T00:01:00Z"


def sq(*actions: spec.Action, permanent: bool = False, name: str = "idle") -> spec.ServiceQuality:
    return spec.ServiceQuality(
        name, spec.Probe(spec.ProbeKind.EXEC, ("true",)), "", permanent, actions
    )


IDLE = spec.Action(True, "idle", ops_state="WaitToBeDeleted")
PLAYING = spec.Action(True, "playing", ops_state="None")
PRIO = spec.Action(True, update_priority=20)


@pytest.mark.parametrize(
    ("qualities", "outcomes", "records", "spec", "fired"),
    [
        pytest.param([sq(PRIO)], {"idle": q.Outcome(True)}, {}, {"updatePriority": 20},
                     ("idle",), id="first-seen-fires"),
        pytest.param([sq(PRIO)], {"idle": q.Outcome(False)}, {}, {}, (), id="state-mismatch"),
        pytest.param([sq(PRIO)], {}, {}, {}, (), id="no-outcome-yet"),
        pytest.param([sq(PRIO)], {"idle": q.Outcome(True)},
                     {"idle": q.Record(q.Outcome(True), NOW)}, {}, (), id="unchanged-no-fire"),
        pytest.param([sq(IDLE, PLAYING)], {"idle": q.Outcome(True, "idle")}, {},
                     {"opsState": "WaitToBeDeleted"}, ("idle",), id="result-match"),
        pytest.param([sq(IDLE, PLAYING)], {"idle": q.Outcome(True, "playing")},
                     {"idle": q.Record(q.Outcome(True, "idle"), NOW)},
                     {"opsState": "None"}, ("idle",), id="result-changed"),
        pytest.param([sq(IDLE)], {"idle": q.Outcome(True, "other")}, {}, {}, (),
                     id="result-differs"),
        pytest.param([sq(PRIO, permanent=True)], {"idle": q.Outcome(True, "b")},
                     {"idle": q.Record(q.Outcome(True, "a"), NOW)}, {}, (),
                     id="permanent-fired-once"),
        pytest.param([sq(PRIO, permanent=True)], {"idle": q.Outcome(True, "b")},
                     {"idle": q.Record(q.Outcome(False, "a"), "")}, {"updatePriority": 20},
                     ("idle",), id="permanent-not-yet-fired"),
        pytest.param([sq(spec.Action(True, deletion_priority=1),
                         spec.Action(True, deletion_priority=9))],
                     {"idle": q.Outcome(True)}, {}, {"deletionPriority": 9}, ("idle",),
                     id="later-action-wins"),
        pytest.param([sq(spec.Action(False, network_disabled=True))], {"idle": q.Outcome(False)},
                     {}, {"networkDisabled": True}, ("idle",), id="failure-action"),
    ],
)  # fmt: skip
def test_decide(
    qualities: list[spec.ServiceQuality],
    outcomes: dict[str, q.Outcome],
    records: dict[str, q.Record],
    spec: dict[str, object],
    fired: tuple[str, ...],
) -> None:
    decision = q.decide(qualities, outcomes, records, LATER)
    assert dict(decision.spec) == spec
    assert decision.fired == fired
    assert not decision.errors
    if "idle" in outcomes:
        record = decision.records["idle"]
        assert record.outcome == outcomes["idle"]
        assert record.acted_at == (
            LATER if fired else (records["idle"].acted_at if "idle" in records else "")
        )


def test_labels_annotations_and_template() -> None:
    action = spec.Action(
        True,
        labels=(("gs-sync/delete-block", "false"),),
        annotations=(("players", "{{.Result}}"),),
        update_priority="{{if gt .Result 50}}5{{else}}1{{end}}",
    )
    decision = q.decide([sq(action)], {"idle": q.Outcome(True, "75")}, {}, NOW)
    assert dict(decision.labels) == {"gs-sync/delete-block": "false"}
    assert dict(decision.annotations) == {"players": "75"}
    assert dict(decision.spec) == {"updatePriority": 5}


def test_invalid_template_is_an_error_not_a_crash() -> None:
    action = spec.Action(True, ops_state="{{if .Nope}}x{{end}}", update_priority=3)
    decision = q.decide([sq(action)], {"idle": q.Outcome(True, "1")}, {}, NOW)
    assert decision.errors and "idle" in decision.errors[0]
    assert dict(decision.spec) == {}  # nothing of the action applies
    assert decision.fired == ()


@pytest.mark.parametrize(
    ("template", "result", "expected"),
    [
        ("plain", "x", "plain"),
        ("{{.Result}}", "abc", "abc"),
        ("n-{{ .Result }}", "7", "n-7"),
        ('{{if eq .Result "idle"}}WaitToBeDeleted{{else}}None{{end}}', "idle", "WaitToBeDeleted"),
        ('{{if eq .Result "idle"}}WaitToBeDeleted{{else}}None{{end}}', "busy", "None"),
        ("{{if lt .Result 10}}a{{else if lt .Result 100}}b{{else}}c{{end}}", "50", "b"),
        ("{{if ge .Result 9}}y{{end}}", "10", "y"),  # numeric, not lexical
        ('{{if ne .Result ""}}set{{end}}', "", ""),
        ("{{if le .Result 2.5}}low{{end}}", "2.5", "low"),
        ('{{eq .Result "a"}}', "a", "true"),
    ],
)
def test_render(template: str, result: str, expected: str) -> None:
    assert templates.render(template, result) == expected


@pytest.mark.parametrize(
    "template",
    ["{{.Other}}", "{{if eq .Result}}x{{end}}", "{{if eq .Result 1}}x", "{{end}}",
     "{{lt .Result true}}x", "{{ .Result", "{{foo 1 2}}"],
)  # fmt: skip
def test_render_errors(template: str) -> None:
    with pytest.raises(templates.TemplateError):
        templates.render(template, "abc")


def test_threshold_like_the_kubelet() -> None:
    probe = spec.Probe(spec.ProbeKind.TCP, port=1, success_threshold=2, failure_threshold=3)
    t = q.Threshold()
    seen = []
    for ok, out in [
        (True, "a"),
        (True, "b|\n"),
        (False, ""),
        (False, ""),
        (False, "x"),
        (True, ""),
    ]:
        t, outcome = t.observe(probe, ok, out)
        seen.append(outcome)
    assert seen == [None, q.Outcome(True, "b"), None, None, q.Outcome(False, "x"), None]


def test_parse_defaults_and_handlers() -> None:
    items = [
        {"name": "e", "exec": {"command": ["cat", "/f"]}, "permanent": True,
         "serviceQualityAction": [{"state": True, "result": "idle", "opsState": "None",
                                   "labels": {"k": "v"}}]},
        {"name": "h", "httpGet": {"path": "/q", "port": "http"}, "periodSeconds": 1,
         "initialDelaySeconds": 0},
        {"name": "t", "tcpSocket": {"port": 7000}, "failureThreshold": 1},
    ]  # fmt: skip
    e, h, t = q.parse_qualities(items)
    assert e.probe == spec.Probe(spec.ProbeKind.EXEC, command=("cat", "/f"))
    assert (e.probe.timeout, e.probe.initial_delay, e.probe.period) == (5, 10, 3)
    assert (e.probe.success_threshold, e.probe.failure_threshold) == (1, 3)
    assert e.permanent and e.actions[0].labels == (("k", "v"),)
    assert (h.probe.kind, h.probe.port, h.probe.period, h.probe.initial_delay) == (
        spec.ProbeKind.HTTP, "http", 1, 0,
    )  # fmt: skip
    assert (t.probe.kind, t.probe.port, t.probe.failure_threshold) == (spec.ProbeKind.TCP, 7000, 1)


def test_parse_grpc() -> None:
    g, overall = q.parse_qualities([
        {"name": "g", "grpc": {"port": 9090, "service": "game"}, "timeoutSeconds": 2},
        {"name": "o", "grpc": {"port": 9090}},
    ])  # fmt: skip
    assert g.probe == spec.Probe(spec.ProbeKind.GRPC, port=9090, service="game", timeout=2)
    assert (overall.probe.kind, overall.probe.service, overall.probe.timeout) == (
        spec.ProbeKind.GRPC, "", 5,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("item", "message"),
    [
        pytest.param({"grpc": {}}, "grpc.port", id="grpc-no-port"),
        pytest.param({"grpc": {"port": 0}}, "grpc.port", id="grpc-port-0"),
        pytest.param({"grpc": {"port": 65536}}, "grpc.port", id="grpc-port-too-big"),
        pytest.param({"grpc": {"port": "health"}}, "grpc.port", id="grpc-named-port"),
        pytest.param({"grpc": {"port": True}}, "grpc.port", id="grpc-port-bool"),
        pytest.param({}, "(found none)", id="no-handler"),
        pytest.param({"exec": {"command": ["true"]}, "grpc": {"port": 1}},
                     "(found exec, grpc)", id="two-handlers"),
        pytest.param({"httpGet": {"port": 80}, "tcpSocket": {"port": 80}},
                     "(found httpGet, tcpSocket)", id="http-and-tcp"),
    ],
)  # fmt: skip
def test_parse_rejects(item: dict[str, object], message: str) -> None:
    with pytest.raises(q.QualitySpecError, match=re.escape(message)):
        q.parse_qualities([{"name": "bad", **item}])


@pytest.mark.parametrize(
    ("code", "serving", "expected"),
    [
        pytest.param("OK", "SERVING", (True, "SERVING"), id="serving"),
        pytest.param("OK", "NOT_SERVING", (False, "NOT_SERVING"), id="not-serving"),
        pytest.param("OK", "UNKNOWN", (False, "UNKNOWN"), id="unknown"),
        pytest.param("OK", "SERVICE_UNKNOWN", (False, "SERVICE_UNKNOWN"), id="service-unknown"),
        pytest.param("NOT_FOUND", "", (False, "SERVICE_UNKNOWN"), id="check-not-found"),
        pytest.param("UNAVAILABLE", "", (False, ""), id="no-connection"),
        pytest.param("DEADLINE_EXCEEDED", "", (False, ""), id="timeout"),
        pytest.param("UNIMPLEMENTED", "", (False, ""), id="no-health-service"),
    ],
)
def test_grpc_outcome(code: str, serving: str, expected: tuple[bool, str]) -> None:
    assert q.grpc_outcome(code, serving) == expected


def test_records_round_trip() -> None:
    records = {"a": q.Record(q.Outcome(True, "x"), NOW), "b": q.Record(q.Outcome(False))}
    assert q.decode_records(q.encode_records(records)) == records
    assert q.decode_records("not json") == {}
    conditions = [{"name": "a", "status": "True", "result": "x"}, {"name": "b"}]
    assert q.outcomes_from_conditions(conditions) == {"a": q.Outcome(True, "x")}
