"""Service quality: probe outcomes, OKG's action-firing rules, and v1.1 value templates.

Pure functions over frozen dataclasses. The prober (`agent.quality.prober`) turns probe runs into
outcomes with `Threshold`; the leader's reconciler turns outcomes plus the record of what it last
acted on (`Record`, kept on the GameServer) into one patch with `decide`.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

DEFAULT_TIMEOUT = 5
DEFAULT_INITIAL_DELAY = 10
DEFAULT_PERIOD = 3
DEFAULT_SUCCESS = 1
DEFAULT_FAILURE = 3


class ProbeKind(enum.Enum):
    EXEC = "exec"
    HTTP = "httpGet"
    TCP = "tcpSocket"
    GRPC = "grpc"


HANDLERS = tuple(kind.value for kind in ProbeKind)
"""A probe's handler fields, as Kubernetes names them; a probe sets exactly one."""
MAX_PORT = 65535
GRPC_SERVING = "SERVING"
GRPC_SERVICE_UNKNOWN = "SERVICE_UNKNOWN"


@dataclasses.dataclass(frozen=True)
class Probe:
    """A Kubernetes probe handler and its timing, with OKG's defaults."""

    kind: ProbeKind
    command: tuple[str, ...] = ()
    path: str = "/"
    port: int | str = 0
    host: str = ""
    scheme: str = "HTTP"
    headers: tuple[tuple[str, str], ...] = ()
    service: str = ""
    timeout: float = DEFAULT_TIMEOUT
    initial_delay: float = DEFAULT_INITIAL_DELAY
    period: float = DEFAULT_PERIOD
    success_threshold: int = DEFAULT_SUCCESS
    failure_threshold: int = DEFAULT_FAILURE


@dataclasses.dataclass(frozen=True)
class Action:
    """One `serviceQualityAction`: when `state` (and `result`, if set) match, apply the rest."""

    state: bool
    result: str = ""
    ops_state: str | None = None
    update_priority: int | str | None = None
    deletion_priority: int | str | None = None
    network_disabled: bool | None = None
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class ServiceQuality:
    name: str
    probe: Probe
    container: str = ""
    permanent: bool = False
    actions: tuple[Action, ...] = ()


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A probe's reported outcome: success, and its stdout (`|` and newlines stripped)."""

    status: bool
    result: str = ""

    @property
    def status_text(self) -> str:
        return "True" if self.status else "False"


@dataclasses.dataclass(frozen=True)
class Record:
    """What the writer last acted on for one quality: the outcome, and when an action fired."""

    outcome: Outcome
    acted_at: str = ""


@dataclasses.dataclass(frozen=True)
class Decision:
    """The patch for one GameServer: spec fields, labels, annotations; new records; errors."""

    spec: Mapping[str, object]
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    records: Mapping[str, Record]
    fired: tuple[str, ...]
    errors: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.spec or self.labels or self.annotations or self.fired)


class QualitySpecError(ValueError):
    """A `serviceQualities` entry the agent cannot probe."""


def normalize_result(output: str) -> str:
    """OKG's result: the probe's output with `|` and newlines removed."""
    return output.replace("|", "").replace("\n", "").replace("\r", "")


def parse_qualities(items: Sequence[Mapping[str, Any]] | None) -> tuple[ServiceQuality, ...]:
    """Read `spec.serviceQualities`; an entry without exactly one supported handler raises."""
    parsed = []
    for item in items or ():
        name = str(item.get("name") or "")
        if not name:
            raise QualitySpecError("serviceQualities: an entry has no name")
        parsed.append(
            ServiceQuality(
                name=name,
                probe=_probe(name, item),
                container=str(item.get("containerName") or ""),
                permanent=bool(item.get("permanent")),
                actions=tuple(_action(a) for a in item.get("serviceQualityAction") or ()),
            )
        )
    return tuple(parsed)


def _num(item: Mapping[str, Any], key: str, default: float) -> float:
    value = item.get(key)
    return float(value) if isinstance(value, (int, float)) and value > 0 else default


def _probe(name: str, item: Mapping[str, Any]) -> Probe:
    timing: dict[str, Any] = {
        "timeout": _num(item, "timeoutSeconds", DEFAULT_TIMEOUT),
        "initial_delay": float(item["initialDelaySeconds"])
        if isinstance(item.get("initialDelaySeconds"), int)
        else float(DEFAULT_INITIAL_DELAY),
        "period": _num(item, "periodSeconds", DEFAULT_PERIOD),
        "success_threshold": int(_num(item, "successThreshold", DEFAULT_SUCCESS)),
        "failure_threshold": int(_num(item, "failureThreshold", DEFAULT_FAILURE)),
    }
    handlers = [key for key in HANDLERS if isinstance(item.get(key), dict)]
    if len(handlers) != 1:
        found = ", ".join(handlers) or "none"
        raise QualitySpecError(
            f"serviceQualities {name}: set exactly one of {', '.join(HANDLERS)} (found {found})"
        )
    kind = ProbeKind(handlers[0])
    handler: Mapping[str, Any] = item[kind.value]
    if kind is ProbeKind.EXEC:
        command = tuple(str(c) for c in handler.get("command") or ())
        if not command:
            raise QualitySpecError(f"serviceQualities {name}: exec has no command")
        return Probe(kind, command=command, **timing)
    if kind is ProbeKind.HTTP:
        headers = tuple(
            (str(h.get("name")), str(h.get("value"))) for h in handler.get("httpHeaders") or ()
        )
        return Probe(
            kind,
            path=str(handler.get("path") or "/"),
            port=_port(name, handler.get("port")),
            host=str(handler.get("host") or ""),
            scheme=str(handler.get("scheme") or "HTTP").upper(),
            headers=headers,
            **timing,
        )
    if kind is ProbeKind.TCP:
        return Probe(
            kind, port=_port(name, handler.get("port")), host=str(handler.get("host") or ""),
            **timing,
        )  # fmt: skip
    port = handler.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= MAX_PORT:
        raise QualitySpecError(
            f"serviceQualities {name}: grpc.port must be a number from 1 to {MAX_PORT}"
        )
    return Probe(kind, port=port, service=str(handler.get("service") or ""), **timing)


def _port(name: str, value: object) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value:
        return int(value) if value.isdigit() else value
    raise QualitySpecError(f"serviceQualities {name}: the probe has no port")


def _action(item: Mapping[str, Any]) -> Action:
    def priority(key: str) -> int | str | None:
        value = item.get(key)
        return value if isinstance(value, (int, str)) and not isinstance(value, bool) else None

    net = item.get("networkDisabled")
    return Action(
        state=bool(item.get("state")),
        result=str(item.get("result") or ""),
        ops_state=str(item["opsState"]) if item.get("opsState") else None,
        update_priority=priority("updatePriority"),
        deletion_priority=priority("deletionPriority"),
        network_disabled=net if isinstance(net, bool) else None,
        labels=tuple(sorted((str(k), str(v)) for k, v in (item.get("labels") or {}).items())),
        annotations=tuple(
            sorted((str(k), str(v)) for k, v in (item.get("annotations") or {}).items())
        ),
    )


# Thresholds: probe runs -> reported outcome.


@dataclasses.dataclass(frozen=True)
class Threshold:
    """Consecutive-run counting as the kubelet's prober does it: the status turns to success
    after `success_threshold` successes in a row and to failure after `failure_threshold`
    failures; once reached, every further run reports its output."""

    last: bool | None = None
    run: int = 0

    def observe(self, probe: Probe, ok: bool, output: str) -> tuple[Threshold, Outcome | None]:
        run = self.run + 1 if self.last is ok else 1
        following = Threshold(ok, run)
        needed = probe.success_threshold if ok else probe.failure_threshold
        if run < max(1, needed):
            return following, None
        return following, Outcome(ok, normalize_result(output))


def grpc_outcome(code: str, serving: str = "") -> tuple[bool, str]:
    """One gRPC health check (`grpc.health.v1.Health/Check`) as (success, output).

    `code` is the call's status code name, `serving` the answer's serving status name. An
    answered call succeeds when it says SERVING, and its output is the status name. A call
    refused with NOT_FOUND (the server does not know the service) reads SERVICE_UNKNOWN, the
    name the protocol gives that case. Any other failed call (no connection, timeout, no
    health service) is a failure with empty output, as HTTP and TCP errors are."""
    if code == "OK":
        return serving == GRPC_SERVING, serving
    if code == "NOT_FOUND":
        return False, GRPC_SERVICE_UNKNOWN
    return False, ""


# Records kept on the GameServer (annotation `gamefleet.io/service-quality-actions`).


def encode_records(records: Mapping[str, Record]) -> str:
    body = {
        name: {"status": r.outcome.status, "result": r.outcome.result, "actedAt": r.acted_at}
        for name, r in sorted(records.items())
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def decode_records(text: str | None) -> dict[str, Record]:
    """Read the annotation; anything unreadable counts as no record."""
    if not text:
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    records = {}
    for name, item in body.items():
        if isinstance(item, dict) and isinstance(item.get("status"), bool):
            records[str(name)] = Record(
                Outcome(item["status"], str(item.get("result") or "")),
                str(item.get("actedAt") or ""),
            )
    return records


def outcomes_from_conditions(conditions: Sequence[Mapping[str, Any]] | None) -> dict[str, Outcome]:
    """`status.serviceQualitiesConditions` as outcomes (entries without a status are skipped)."""
    found = {}
    for cond in conditions or ():
        status = cond.get("status")
        if status in ("True", "False") and cond.get("name"):
            found[str(cond["name"])] = Outcome(status == "True", str(cond.get("result") or ""))
    return found


# The firing rule.


def decide(
    qualities: Sequence[ServiceQuality],
    outcomes: Mapping[str, Outcome],
    records: Mapping[str, Record],
    now: str,
) -> Decision:
    """OKG's rule: an outcome seen for the first time or changed runs the matching actions
    (in order, later ones overriding earlier ones), and a `permanent` quality only until one
    action has fired. Records of qualities that are gone are dropped."""
    spec: dict[str, object] = {}
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    new_records: dict[str, Record] = {}
    fired: list[str] = []
    errors: list[str] = []
    for quality in qualities:
        outcome = outcomes.get(quality.name)
        old = records.get(quality.name)
        if outcome is None:
            if old is not None:
                new_records[quality.name] = old
            continue
        fresh = old is None or old.outcome != outcome
        if not fresh or (quality.permanent and old is not None and old.acted_at):
            new_records[quality.name] = Record(outcome, old.acted_at if old else "")
            continue
        acted_at = old.acted_at if old else ""
        for action in quality.actions:
            if action.state is not outcome.status or action.result not in ("", outcome.result):
                continue
            try:
                _apply(action, outcome, spec, labels, annotations)
            except TemplateError as exc:
                errors.append(f"serviceQualities {quality.name}: {exc}")
                continue
            acted_at = now
            if quality.name not in fired:
                fired.append(quality.name)
        new_records[quality.name] = Record(outcome, acted_at)
    return Decision(spec, labels, annotations, new_records, tuple(fired), tuple(errors))


def _apply(
    action: Action,
    outcome: Outcome,
    spec: dict[str, object],
    labels: dict[str, str],
    annotations: dict[str, str],
) -> None:
    """Render every value of the action first, so an invalid template changes nothing."""
    rendered: dict[str, object] = {}
    if action.ops_state is not None:
        rendered["opsState"] = render(action.ops_state, outcome.result)
    for key, value in (
        ("updatePriority", action.update_priority),
        ("deletionPriority", action.deletion_priority),
    ):
        if isinstance(value, int):
            rendered[key] = value
        elif value is not None:
            text = render(value, outcome.result).strip()
            rendered[key] = int(text) if re.fullmatch(r"[+-]?\d+", text) else text
    if action.network_disabled is not None:
        rendered["networkDisabled"] = action.network_disabled
    new_labels = {k: render(v, outcome.result) for k, v in action.labels}
    new_notes = {k: render(v, outcome.result) for k, v in action.annotations}
    spec.update(rendered)
    labels.update(new_labels)
    annotations.update(new_notes)


# v1.1 templates: a small, strict subset of Go's text/template.


class TemplateError(ValueError):
    """A value template that does not parse or evaluate."""


_TOKEN = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
_ARG = re.compile(r'\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\.Result|[+-]?\d+(?:\.\d+)?|\S+)')
_COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")


def render(template: str, result: str) -> str:
    """Render `{{.Result}}`, literals, `eq ne lt le gt ge` and `if / else if / else / end`.

    Comparisons are numeric when both sides read as numbers, else on strings; ordering a
    string against a boolean raises, as Go's text/template does for incomparable kinds."""
    if "{{" not in template:
        return template
    parts: list[tuple[str, str]] = []
    pos = 0
    for match in _TOKEN.finditer(template):
        parts.append(("text", template[pos : match.start()]))
        parts.append(("action", match.group(1)))
        pos = match.end()
    parts.append(("text", template[pos:]))
    if "{{" in "".join(t for k, t in parts if k == "text") or "}}" in "".join(
        t for k, t in parts if k == "text"
    ):
        raise TemplateError(f"template {template!r}: unbalanced braces")
    out, rest = _block(parts, 0, result, template, top=True)
    if rest != len(parts):
        raise TemplateError(f"template {template!r}: unexpected {parts[rest][1]!r}")
    return out


def _block(
    parts: list[tuple[str, str]], i: int, result: str, template: str, *, top: bool = False
) -> tuple[str, int]:
    """Render parts from i until an `else`/`end` at this level; returns (text, index)."""
    out: list[str] = []
    while i < len(parts):
        kind, body = parts[i]
        if kind == "text":
            out.append(body)
            i += 1
            continue
        word = body.split(None, 1)[0] if body else ""
        if word in ("else", "end"):
            if top:
                raise TemplateError(f"template {template!r}: {word} without if")
            return "".join(out), i
        if word == "if":
            text, i = _if(parts, i, result, template)
            out.append(text)
            continue
        out.append(_text(_eval(body, result, template)))
        i += 1
    if not top:
        raise TemplateError(f"template {template!r}: if without end")
    return "".join(out), i


def _if(parts: list[tuple[str, str]], i: int, result: str, template: str) -> tuple[str, int]:
    chosen: str | None = None
    condition = parts[i][1][2:].strip()
    while True:
        taken = chosen is None and _truthy(_eval(condition, result, template))
        text, i = _block(parts, i + 1, result, template)
        if taken:
            chosen = text
        body = parts[i][1]
        if body == "end":
            return chosen or "", i + 1
        rest = body[4:].strip()  # after "else"
        if rest.startswith("if "):
            condition = rest[3:].strip()
        elif not rest:
            text, i = _block(parts, i + 1, result, template)
            if chosen is None:
                chosen = text
            if parts[i][1] != "end":
                raise TemplateError(f"template {template!r}: else after else")
            return chosen, i + 1
        else:
            raise TemplateError(f"template {template!r}: cannot read {body!r}")


def _eval(expr: str, result: str, template: str) -> object:
    args = _ARG.findall(expr)
    if not args:
        raise TemplateError(f"template {template!r}: empty action")
    if args[0] in _COMPARE:
        if len(args) != 3:
            raise TemplateError(f"template {template!r}: {args[0]} takes two arguments")
        left, right = (_value(a, result, template) for a in args[1:])
        return _compare(args[0], left, right, template)
    if len(args) != 1:
        raise TemplateError(f"template {template!r}: cannot read {expr!r}")
    return _value(args[0], result, template)


def _value(token: str, result: str, template: str) -> object:
    if token == ".Result":
        return result
    if token.startswith('"'):
        try:
            return str(json.loads(token))
        except ValueError:
            raise TemplateError(f"template {template!r}: bad string {token}") from None
    if token.startswith("`"):
        return token[1:-1]
    if re.fullmatch(r"[+-]?\d+(?:\.\d+)?", token):
        return float(token) if "." in token else int(token)
    if token in ("true", "false"):
        return token == "true"
    raise TemplateError(f"template {template!r}: unknown {token!r}")


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+(?:\.\d+)?\s*", value):
        return float(value)
    return None


def _compare(op: str, left: object, right: object, template: str) -> bool:
    ln, rn = _number(left), _number(right)
    a: Any
    b: Any
    if ln is not None and rn is not None:
        a, b = ln, rn
    elif isinstance(left, str) and isinstance(right, str):
        a, b = left, right
    elif op in ("eq", "ne"):
        a, b = str(left), str(right)
    else:
        raise TemplateError(f"template {template!r}: cannot compare {left!r} and {right!r}")
    ops = {
        "eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b,
    }  # fmt: skip
    return bool(ops[op])


def _truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return bool(value)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
