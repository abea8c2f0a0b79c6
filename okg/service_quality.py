"""A GameServerSet's `serviceQualities`: read once, checked once, for the hub and the agent.

`parse` turns the manifest's list (plain JSON values, as the agent reads them from the API
server and the hub renders them from its typed message) into frozen values with OKG's
defaults, and reports every problem with its field path: the hub refuses a template with
problems at apply; the agent probes none of a list that has any (it logs why).
`template_problems` finds the action values whose template can never render: the hub refuses
them too, so a Fleet never carries one to an agent.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Mapping, Set
from typing import Any, TypeGuard

from . import paths, templates
from .errors import FieldError

DEFAULT_TIMEOUT = 5
DEFAULT_INITIAL_DELAY = 10
DEFAULT_PERIOD = 3
DEFAULT_SUCCESS = 1
DEFAULT_FAILURE = 3
MAX_PORT = 65535


class ProbeKind(enum.Enum):
    EXEC = "exec"
    HTTP = "httpGet"
    TCP = "tcpSocket"
    GRPC = "grpc"


HANDLERS = tuple(kind.value for kind in ProbeKind)
"""A probe's handler fields, as Kubernetes names them; a probe sets exactly one."""
_GRPC_FIELDS = ("port", "service")
_TEMPLATED_FIELDS = ("opsState", "updatePriority", "deletionPriority")
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")
# (field, minimum): OKG's probe timing; 0 (or absent) in a field whose minimum is 0 and which
# is not initialDelaySeconds means the default, as in a Kubernetes probe.
_TIMING = (
    ("initialDelaySeconds", 0),
    ("timeoutSeconds", 0),
    ("periodSeconds", 1),
    ("successThreshold", 1),
    ("failureThreshold", 1),
)


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


def parse(
    items: object, path: str = "serviceQualities", containers: Set[str] | None = None
) -> tuple[tuple[ServiceQuality, ...], list[FieldError]]:
    """The qualities and every problem; with any problem, no qualities.

    `containers` are the pod template's container names; None leaves `containerName`
    unchecked (the agent, or a pod template that is itself invalid)."""
    if items is None:
        return (), []
    if not isinstance(items, list):
        return (), [FieldError(path, "must be a list")]
    problems: list[FieldError] = []
    parsed: list[ServiceQuality] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        item_path = paths.item(path, index)
        if not isinstance(item, Mapping):
            problems.append(FieldError(item_path, "must be an object"))
            continue
        found = _quality_problems(item, item_path, containers, seen)
        problems += found
        if not found:
            parsed.append(_quality(item))
    return (tuple(parsed) if not problems else ()), problems


def template_problems(items: object, path: str = "serviceQualities") -> list[FieldError]:
    """Action values (opsState, priorities, labels, annotations) whose template can never
    render. The hub refuses them at apply; the agent, like OKG, meets them when an action
    fires: it skips that action and warns on the GameServer (a set written with kubectl)."""
    problems: list[FieldError] = []
    for index, item in enumerate(items if isinstance(items, list) else ()):
        actions = item.get("serviceQualityAction") if isinstance(item, Mapping) else None
        actions_path = paths.child(paths.item(path, index), "serviceQualityAction")
        for action_index, action in enumerate(actions if isinstance(actions, list) else ()):
            if isinstance(action, Mapping):
                problems += _action_template_problems(
                    action, paths.item(actions_path, action_index)
                )
    return problems


def _action_template_problems(action: Mapping[str, Any], path: str) -> list[FieldError]:
    values = [(paths.child(path, f), action.get(f)) for f in _TEMPLATED_FIELDS]
    for field in ("labels", "annotations"):
        mapping = action.get(field)
        if isinstance(mapping, Mapping):
            values += [(paths.entry(paths.child(path, field), k), v) for k, v in mapping.items()]
    problems: list[FieldError] = []
    for value_path, value in values:
        problem = templates.problem(value) if isinstance(value, str) else None
        if problem is not None:
            problems.append(FieldError(value_path, problem))
    return problems


def grpc_problems(handler: Mapping[str, Any], path: str) -> list[FieldError]:
    """Check a `grpc` probe handler: `port` (a number, required) and `service` (optional)."""
    problems = [
        FieldError(paths.key(path, key), "unknown field")
        for key in handler
        if key not in _GRPC_FIELDS
    ]
    port = handler.get("port")
    port_path = paths.child(path, "port")
    if port is None:
        problems.append(FieldError(port_path, "is required"))
    elif not _is_int(port):
        problems.append(
            FieldError(port_path, "must be a port number (a gRPC probe takes no port name)")
        )
    elif not 1 <= port <= MAX_PORT:
        problems.append(FieldError(port_path, f"{port} must be between 1 and {MAX_PORT}"))
    service = handler.get("service")
    if service is not None and not isinstance(service, str):
        problems.append(FieldError(paths.child(path, "service"), "must be a string"))
    return problems


def _quality_problems(
    item: Mapping[str, Any], path: str, containers: Set[str] | None, seen: set[str]
) -> list[FieldError]:
    problems: list[FieldError] = []
    name = item.get("name")
    name_path = paths.child(path, "name")
    if not isinstance(name, str) or not name:
        problems.append(FieldError(name_path, "is required"))
    elif name in seen:
        problems.append(FieldError(name_path, f'"{name}" is used twice'))
    else:
        seen.add(name)
    container = item.get("containerName")
    if container and containers is not None and container not in containers:
        problems.append(
            FieldError(
                paths.child(path, "containerName"),
                f'"{container}" is not a container of gameServerTemplate',
            )
        )
    problems += _handler_problems(item, path)
    for field, minimum in _TIMING:
        value = item.get(field)
        if value is None:
            continue
        if not _is_int(value):
            problems.append(FieldError(paths.child(path, field), "must be an integer"))
        elif value < minimum:
            problems.append(
                FieldError(paths.child(path, field), f"{value} must be at least {minimum}")
            )
    actions = item.get("serviceQualityAction")
    actions_path = paths.child(path, "serviceQualityAction")
    if actions is not None and not isinstance(actions, list):
        problems.append(FieldError(actions_path, "must be a list"))
    for index, action in enumerate(actions if isinstance(actions, list) else ()):
        problems += _action_problems(action, paths.item(actions_path, index))
    return problems


def _handler_problems(item: Mapping[str, Any], path: str) -> list[FieldError]:
    handlers = [name for name in HANDLERS if item.get(name) is not None]
    if len(handlers) != 1:
        found = ", ".join(handlers) if handlers else "none"
        return [FieldError(path, f"must set exactly one of {', '.join(HANDLERS)} (found {found})")]
    name = handlers[0]
    handler = item[name]
    handler_path = paths.child(path, name)
    if not isinstance(handler, Mapping):
        return [FieldError(handler_path, "must be an object")]
    if name == ProbeKind.EXEC.value:
        command = handler.get("command")
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(c, str) for c in command)
        ):
            return [
                FieldError(
                    paths.child(handler_path, "command"), "must be a non-empty list of strings"
                )
            ]
        return []
    if name == ProbeKind.GRPC.value:
        return grpc_problems(handler, handler_path)
    port = handler.get("port")
    port_path = paths.child(handler_path, "port")
    if _is_int(port):
        if 1 <= port <= MAX_PORT:
            return []
        return [FieldError(port_path, f"{port} must be between 1 and {MAX_PORT}")]
    if isinstance(port, str) and port:
        return []
    return [FieldError(port_path, "must be a port number or a container port name")]


def _action_problems(action: object, path: str) -> list[FieldError]:
    if not isinstance(action, Mapping):
        return [FieldError(path, "must be an object")]
    problems: list[FieldError] = []
    state = action.get("state")
    if state is None:
        problems.append(FieldError(paths.child(path, "state"), "is required"))
    elif not isinstance(state, bool):
        problems.append(FieldError(paths.child(path, "state"), "must be true or false"))
    for field in ("updatePriority", "deletionPriority"):
        value = action.get(field)
        if value is not None:
            problem = _priority_problem(value)
            if problem is not None:
                problems.append(FieldError(paths.child(path, field), problem))
    ops_state = action.get("opsState")
    if ops_state is not None and not isinstance(ops_state, str):
        problems.append(FieldError(paths.child(path, "opsState"), "must be a string"))
    return problems


def _priority_problem(value: object) -> str | None:
    """An integer, an integer string, or a template that parses (OKG v1.1)."""
    if _is_int(value):
        return None
    if isinstance(value, str):
        if _INTEGER_TEXT.fullmatch(value):
            return None
        if templates.TEMPLATE_MARKER in value:
            return None
    shown = json.dumps(value, separators=(",", ":"))
    return f"{shown} must be an integer, an integer string or a template"


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _quality(item: Mapping[str, Any]) -> ServiceQuality:
    return ServiceQuality(
        name=str(item["name"]),
        probe=_probe(item),
        container=str(item.get("containerName") or ""),
        permanent=bool(item.get("permanent")),
        actions=tuple(_action(a) for a in item.get("serviceQualityAction") or ()),
    )


def _positive(item: Mapping[str, Any], key: str, default: float) -> float:
    value = item.get(key)
    return float(value) if _is_int(value) and value > 0 else default


def _probe(item: Mapping[str, Any]) -> Probe:
    delay = item.get("initialDelaySeconds")
    timing: dict[str, Any] = {
        "timeout": _positive(item, "timeoutSeconds", DEFAULT_TIMEOUT),
        "initial_delay": float(delay) if _is_int(delay) else float(DEFAULT_INITIAL_DELAY),
        "period": _positive(item, "periodSeconds", DEFAULT_PERIOD),
        "success_threshold": int(_positive(item, "successThreshold", DEFAULT_SUCCESS)),
        "failure_threshold": int(_positive(item, "failureThreshold", DEFAULT_FAILURE)),
    }
    kind = next(ProbeKind(name) for name in HANDLERS if item.get(name) is not None)
    handler: Mapping[str, Any] = item[kind.value]
    if kind is ProbeKind.EXEC:
        return Probe(kind, command=tuple(handler["command"]), **timing)
    if kind is ProbeKind.HTTP:
        headers = tuple(
            (str(h.get("name")), str(h.get("value"))) for h in handler.get("httpHeaders") or ()
        )
        return Probe(
            kind,
            path=str(handler.get("path") or "/"),
            port=_port(handler["port"]),
            host=str(handler.get("host") or ""),
            scheme=str(handler.get("scheme") or "HTTP").upper(),
            headers=headers,
            **timing,
        )
    if kind is ProbeKind.TCP:
        return Probe(
            kind, port=_port(handler["port"]), host=str(handler.get("host") or ""), **timing
        )
    return Probe(kind, port=handler["port"], service=str(handler.get("service") or ""), **timing)


def _port(value: int | str) -> int | str:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


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
