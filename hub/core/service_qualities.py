"""Checks of a GameServerSet's service qualities: probes and the actions their outcomes fire."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from typing import Any

from gamefleet.v1 import gameserverset_pb2

from . import documents, errors, paths, pod_template, values

MAX_PORT = 65535

PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
"""A Kubernetes probe's handlers, by their JSON names; a probe sets exactly one."""
_GRPC_FIELDS = ("port", "service")


def service_qualities_problems(
    qualities: Iterable[gameserverset_pb2.ServiceQuality],
    path: str,
    containers: Set[str] | None,
) -> list[errors.FieldError]:
    """Check every service quality; `containers` are the pod template's container names.

    With `containers` None (the pod template is itself invalid) container names go unchecked.
    """
    problems: list[errors.FieldError] = []
    seen: set[str] = set()
    for index, quality in enumerate(qualities):
        quality_path = paths.item(path, index)
        name_path = paths.child(quality_path, "name")
        if not quality.name:
            problems.append(errors.FieldError(name_path, "is required"))
        elif quality.name in seen:
            problems.append(errors.FieldError(name_path, f'"{quality.name}" is used twice'))
        seen.add(quality.name)
        known = containers is None or quality.container_name in containers
        if quality.container_name and not known:
            problems.append(
                errors.FieldError(
                    paths.child(quality_path, "containerName"),
                    f'"{quality.container_name}" is not a container of gameServerTemplate',
                )
            )
        problems += _probe_problems(quality, quality_path)
        actions_path = paths.child(quality_path, "serviceQualityAction")
        for action_index, action in enumerate(quality.service_quality_action):
            problems += _action_problems(action, paths.item(actions_path, action_index))
    return problems


def _probe_problems(
    quality: gameserverset_pb2.ServiceQuality, path: str
) -> list[errors.FieldError]:
    problems: list[errors.FieldError] = []
    set_fields = {field.json_name: value for field, value in quality.ListFields()}
    handlers = [name for name in PROBE_HANDLERS if name in set_fields]
    if len(handlers) != 1:
        found = ", ".join(handlers) if handlers else "none"
        problems.append(
            errors.FieldError(
                path, f"must set exactly one of {', '.join(PROBE_HANDLERS)} (found {found})"
            )
        )
    for name in handlers:
        handler = documents.to_document(set_fields[name])
        handler_path = paths.child(path, name)
        if name == "exec":
            problems += _exec_problems(handler, handler_path)
        elif name == "grpc":
            problems += grpc_problems(handler, handler_path)
        else:
            problems += _port_problems(handler, handler_path)
    numbers = (
        (
            "initialDelaySeconds",
            quality.HasField("initial_delay_seconds"),
            quality.initial_delay_seconds,
            0,
        ),
        ("timeoutSeconds", quality.HasField("timeout_seconds"), quality.timeout_seconds, 0),
        ("periodSeconds", quality.HasField("period_seconds"), quality.period_seconds, 1),
        ("successThreshold", quality.HasField("success_threshold"), quality.success_threshold, 1),
        ("failureThreshold", quality.HasField("failure_threshold"), quality.failure_threshold, 1),
    )
    for json_name, present, value, minimum in numbers:
        if present and value < minimum:
            problems.append(
                errors.FieldError(
                    paths.child(path, json_name), f"{value} must be at least {minimum}"
                )
            )
    return problems


def _exec_problems(handler: dict[str, Any], path: str) -> list[errors.FieldError]:
    command = handler.get("command")
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(part, str) for part in command)
    ):
        return [
            errors.FieldError(paths.child(path, "command"), "must be a non-empty list of strings")
        ]
    return []


def _port_problems(handler: dict[str, Any], path: str) -> list[errors.FieldError]:
    port = handler.get("port")
    port_path = paths.child(path, "port")
    if isinstance(port, int) and not isinstance(port, bool):
        if 1 <= port <= MAX_PORT:
            return []
        return [errors.FieldError(port_path, f"{port} must be between 1 and {MAX_PORT}")]
    if isinstance(port, str) and port:
        return []
    return [errors.FieldError(port_path, "must be a port number or a container port name")]


def grpc_problems(handler: Mapping[str, Any], path: str) -> list[errors.FieldError]:
    """Check a `grpc` probe handler: `port` (a number, required) and `service` (optional)."""
    problems = [
        errors.FieldError(paths.key(path, key), "unknown field")
        for key in handler
        if key not in _GRPC_FIELDS
    ]
    port = handler.get("port")
    port_path = paths.child(path, "port")
    if port is None:
        problems.append(errors.FieldError(port_path, "is required"))
    elif isinstance(port, bool) or not isinstance(port, int):
        problems.append(
            errors.FieldError(port_path, "must be a port number (a gRPC probe takes no port name)")
        )
    elif not 1 <= port <= MAX_PORT:
        problems.append(errors.FieldError(port_path, f"{port} must be between 1 and {MAX_PORT}"))
    service = handler.get("service")
    if service is not None and not isinstance(service, str):
        problems.append(errors.FieldError(paths.child(path, "service"), "must be a string"))
    return problems


def _action_problems(
    action: gameserverset_pb2.ServiceQualityAction, path: str
) -> list[errors.FieldError]:
    problems: list[errors.FieldError] = []
    if not action.HasField("state"):
        problems.append(errors.FieldError(paths.child(path, "state"), "is required"))
    priorities = (
        ("updatePriority", action.HasField("update_priority"), action.update_priority),
        ("deletionPriority", action.HasField("deletion_priority"), action.deletion_priority),
    )
    for json_name, present, value in priorities:
        if not present:
            continue
        problem = values.priority_problem(value)
        if problem is not None:
            problems.append(errors.FieldError(paths.child(path, json_name), problem))
    problems += pod_template.string_map_problems(
        dict(action.labels), paths.child(path, "labels"), label_values=True, allow_templates=True
    )
    problems += pod_template.string_map_problems(
        dict(action.annotations), paths.child(path, "annotations"), label_values=False
    )
    return problems
