"""What an agent may send the hub: its limits, and the checks that apply them.

An agent is trusted for its own cluster only. Each check returns None when the message (or
entry) is within the limits, else a :class:`Refusal` naming the field. Which refusals end the
agent's stream and which only drop one entry is decided by the caller (see docs/limits.md).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from gamefleet import capacity_wire
from gamefleet.v1 import agent_pb2, cluster_pb2, gameserver_pb2

from okg import capacity as cap
from okg import vocabulary

from . import allocation, names, paths
from .limits import (
    DNS1123_SUBDOMAIN_MAX_LENGTH,
    INT32_MAX,
    MAX_CLUSTER_LABELS,
    MAX_REQUEST_ID_LENGTH,
)

# States and opsStates of OKG's GameServer; in metrics, any other string an agent sends counts as
# OTHER_STATE (a label value per string would let one agent add series without end).
GAME_SERVER_STATES = frozenset(("", *vocabulary.GameServerState))
OPS_STATES = frozenset(("", *vocabulary.OpsState))
OTHER_STATE = "Other"


@dataclasses.dataclass(frozen=True)
class AgentLimits:
    """Limits on what one agent may send; the defaults are the hub's."""

    # -- hello and heartbeats --
    cluster_labels: int = MAX_CLUSTER_LABELS
    agent_version_chars: int = 64
    network_plugins: int = 32
    # A network plugin's name (Kubernetes-HostPort, AlibabaCloud-NLB, ...).
    plugin_name_chars: int = 63
    # capacity.cpu and capacity.memory are Kubernetes quantities: short strings.
    quantity_chars: int = 64
    hash_chars: int = 128
    # -- per cluster --
    # Sets an agent holds (hello.held_sets) and set statuses the hub keeps for its cluster.
    sets_per_cluster: int = 20_000
    game_servers_per_cluster: int = 100_000
    # Serialized game servers the hub keeps for one cluster, in bytes.
    game_server_bytes_per_cluster: int = 256 * 2**20
    # -- per message --
    # Set statuses plus game servers in one status delta (the agent batches 500).
    status_batch: int = 5_000
    # One serialized game server (labels, network status, quality conditions included).
    game_server_bytes: int = 16 * 2**10
    # Each count of a set status, held_back and desired_replicas.
    set_count: int = 1_000_000
    game_server_labels: int = 256
    # fleet, state, opsState; node (a DNS subdomain).
    word_chars: int = 63
    node_chars: int = 253
    operation_id_chars: int = 64
    # Names in one operation result (updated + conflicts + errors).
    operation_result_names: int = 5_000
    # Longer error texts from an agent are cut to this many characters.
    operation_error_chars: int = 1024


DEFAULT_LIMITS = AgentLimits()


@dataclasses.dataclass(frozen=True)
class Refusal:
    """One limit an agent's message broke.

    ``field`` is the field's path without indexes (a bounded set: the metric's label); ``path``
    says where, indexes included; ``exhausted`` marks a count or size over its limit
    (RESOURCE_EXHAUSTED) rather than a malformed value (INVALID_ARGUMENT).
    """

    field: str
    path: str
    message: str
    exhausted: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _at(field: str, index: int, name: str) -> tuple[str, str]:
    """(field, path) of ``name`` inside element ``index`` of the list ``field``."""
    return paths.child(field, name), paths.child(paths.item(field, index), name)


def _too_many(field: str, path: str, count: int, limit: int, what: str) -> Refusal | None:
    if count <= limit:
        return None
    return Refusal(field, path, f"{count:,} {what}; at most {limit:,}", exhausted=True)


def _too_long(field: str, path: str, text: str, limit: int) -> Refusal | None:
    if len(text) <= limit:
        return None
    return Refusal(field, path, f"{len(text):,} characters; at most {limit:,}", exhausted=True)


def _out_of_range(field: str, path: str, value: int, high: int) -> Refusal | None:
    if 0 <= value <= high:
        return None
    return Refusal(field, path, f"{value} must be between 0 and {high:,}")


def _name(field: str, path: str, text: str, subdomain: bool = False) -> Refusal | None:
    if not text:
        return Refusal(field, path, "is required")
    check = names.dns1123_subdomain_problem if subdomain else names.dns1123_label_problem
    problem = check(text)
    return None if problem is None else Refusal(field, path, problem)


def labels_refusal(labels: Mapping[str, str], field: str, limit: int) -> Refusal | None:
    """Kubernetes label rules for each key and value, and at most ``limit`` labels."""
    found = _too_many(field, field, len(labels), limit, "labels")
    if found is not None:
        return found
    for index, (key, value) in enumerate(sorted(labels.items())):
        problem = names.qualified_name_problem(key)
        if problem is not None:
            return Refusal(field, field, f"key {index + 1} of {len(labels)}: {problem}")
        problem = names.label_value_problem(value)
        if problem is not None:
            return Refusal(field, field, f"value of key {key!r}: {problem}")
    return None


def capacity_refusal(
    capacity: cluster_pb2.ClusterCapacity, field: str, limits: AgentLimits
) -> Refusal | None:
    for name in ("cpu", "memory"):
        found = _too_long(
            f"{field}.{name}", f"{field}.{name}", getattr(capacity, name), limits.quantity_chars
        )
        if found is not None:
            return found
    if capacity.nodes < 0:
        return Refusal(f"{field}.nodes", f"{field}.nodes", f"{capacity.nodes} is negative")
    if capacity.pods < 0:
        return Refusal(f"{field}.pods", f"{field}.pods", f"{capacity.pods} is negative")
    return None


def cluster_name_refusal(name: str) -> Refusal | None:
    """A hello's cluster name must be a DNS-1123 label (checked before the agent's identity)."""
    return _name("hello.cluster", "hello.cluster", name)


def hello_refusal(hello: agent_pb2.AgentHello, limits: AgentLimits) -> Refusal | None:
    """The first limit ``hello`` breaks besides its cluster name, or None."""
    version = "hello.agent_version"
    return (
        labels_refusal(hello.labels, "hello.labels", limits.cluster_labels)
        or _too_long(version, version, hello.agent_version, limits.agent_version_chars)
        or _plugins_refusal(hello.network_plugins, limits)
        or capacity_refusal(hello.capacity, "hello.capacity", limits)
        or _held_sets_refusal(hello.held_sets, limits)
    )


def _plugins_refusal(plugins: Sequence[str], limits: AgentLimits) -> Refusal | None:
    field = "hello.network_plugins"
    found = _too_many(field, field, len(plugins), limits.network_plugins, "plugins")
    for index, plugin in enumerate(plugins):
        if found is not None:
            return found
        found = _too_long(field, paths.item(field, index), plugin, limits.plugin_name_chars)
    return found


def _held_sets_refusal(held: Sequence[agent_pb2.SetVersion], limits: AgentLimits) -> Refusal | None:
    field = "hello.held_sets"
    found = _too_many(field, field, len(held), limits.sets_per_cluster, "sets")
    if found is not None:
        return found
    for index, entry in enumerate(held):
        checks = (
            _name(*_at(field, index, "namespace"), entry.namespace),
            _name(*_at(field, index, "name"), entry.name),
            _too_long(*_at(field, index, "hash"), entry.hash, limits.hash_chars),
            _out_of_range(*_at(field, index, "replicas"), entry.replicas, limits.set_count),
        )
        for found in checks:
            if found is not None:
                return found
    return None


def heartbeat_refusal(beat: agent_pb2.Heartbeat, limits: AgentLimits) -> Refusal | None:
    return capacity_refusal(beat.capacity, "heartbeat.capacity", limits)


def status_refusal(delta: agent_pb2.StatusDelta, limits: AgentLimits) -> Refusal | None:
    """A status delta with more entries than one message may carry (each entry is checked
    apart, by :func:`set_status_refusal` and :func:`game_server_refusal`)."""
    count = len(delta.sets) + len(delta.game_servers)
    return _too_many(
        "status", "status", count, limits.status_batch, "set statuses and game servers"
    )


_COUNT_FIELDS = tuple(f.name for f in gameserver_pb2.GameServerCounts.DESCRIPTOR.fields)


def set_status_refusal(
    status: agent_pb2.GameServerSetStatus, index: int, limits: AgentLimits
) -> Refusal | None:
    field = "status.sets"
    found = _name(*_at(field, index, "namespace"), status.namespace) or _name(
        *_at(field, index, "name"), status.name
    )
    if found is not None or status.deleted:
        return found
    found = _too_long(*_at(field, index, "applied_hash"), status.applied_hash, limits.hash_chars)
    for name in ("held_back", "desired_replicas"):
        found = found or _out_of_range(
            *_at(field, index, name), getattr(status, name), limits.set_count
        )
    for name in _COUNT_FIELDS:
        found = found or _out_of_range(
            *_at(field, index, f"counts.{name}"), getattr(status.counts, name), limits.set_count
        )
    return found


class ReportedServer(Protocol):
    """A game server as the hub holds it (hub.federation.live_servers.LiveServer)."""

    namespace: str
    fleet: str
    allocation_request_id: str
    view: allocation.Server
    wire: bytes


def game_server_refusal(server: ReportedServer, index: int, limits: AgentLimits) -> Refusal | None:
    """Limits of one reported game server; its serialized size bounds every field not checked
    one by one (zone, pod UID, images, network status, quality conditions).

    Runs for every server an agent reports (a million after a hub restart): the common case is
    a few comparisons on what the hub already decoded, and paths are built only for a refusal.
    """
    field = "status.game_servers"
    namespace, view = server.namespace, server.view
    if namespace not in _good_namespaces:
        found = _name(*_at(field, index, "namespace"), namespace)
        if found is not None:
            return found
        if len(_good_namespaces) < _GOOD_NAMESPACES_KEPT:
            _good_namespaces.add(namespace)
    name = view.name
    if not (len(name) <= DNS1123_SUBDOMAIN_MAX_LENGTH and _SUBDOMAIN.fullmatch(name)):
        return _name(*_at(field, index, "name"), name, subdomain=True)
    size = len(server.wire)
    if size > limits.game_server_bytes:
        return Refusal(
            field,
            paths.item(field, index),
            f"{size:,} bytes; at most {limits.game_server_bytes:,} per game server",
            exhausted=True,
        )
    word = limits.word_chars
    if (
        len(server.fleet) > word
        or len(view.state) > word
        or len(view.ops_state) > word
        or len(view.node) > limits.node_chars
        or len(server.allocation_request_id) > MAX_REQUEST_ID_LENGTH
        or len(view.labels) > limits.game_server_labels
    ):
        return _game_server_field_refusal(server, index, limits)
    if view.capacity is not None:
        return _capacity_refusal(view.capacity, field, paths.item(field, index))
    return None


def _capacity_refusal(capacity: cap.Capacity, field: str, path: str) -> Refusal | None:
    """Counters and lists beyond what a game server may hold: the autoscaler and allocations
    add them up across clusters, so one agent's must stay within the model's bounds."""
    problem = cap.bounds_problem(capacity)
    if problem is None:
        return None
    kind = "counters" if problem.path.startswith("counters") else "lists"
    return Refusal(paths.child(field, kind), f"{path}.{problem.path}", problem.message)


_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# Namespaces already found valid: a few per hub, checked once each.
_good_namespaces: set[str] = set()
_GOOD_NAMESPACES_KEPT = 10_000


def _game_server_field_refusal(
    server: ReportedServer, index: int, limits: AgentLimits
) -> Refusal | None:
    field, view = "status.game_servers", server.view
    words = (
        ("fleet", server.fleet, limits.word_chars),
        ("state", view.state, limits.word_chars),
        ("ops_state", view.ops_state, limits.word_chars),
        ("node", view.node, limits.node_chars),
        ("allocation_request_id", server.allocation_request_id, MAX_REQUEST_ID_LENGTH),
    )
    for name, text, limit in words:
        found = _too_long(*_at(field, index, name), text, limit)
        if found is not None:
            return found
    labels = _at(field, index, "labels")
    return _too_many(*labels, len(view.labels), limits.game_server_labels, "labels")


def operation_result_refusal(
    result: agent_pb2.OperationResult, limits: AgentLimits
) -> Refusal | None:
    field = "operation_result"
    count = len(result.updated) + len(result.conflicts) + len(result.errors) + len(result.refused)
    found = _too_long(f"{field}.id", f"{field}.id", result.id, limits.operation_id_chars) or (
        _too_many(field, field, count, limits.operation_result_names, "game server names")
    )
    return found or _written_refusal(result.written, limits)


def _written_refusal(
    written: Mapping[str, gameserver_pb2.GameServer], limits: AgentLimits
) -> Refusal | None:
    field = "operation_result.written"
    for name, server in written.items():
        path = f'{field}["{name}"]'
        size = server.ByteSize()
        if size > limits.game_server_bytes:
            return Refusal(
                field,
                path,
                f"{size:,} bytes; at most {limits.game_server_bytes:,} per game server",
                exhausted=True,
            )
        capacity = capacity_wire.of(server.counters, server.lists)
        found = capacity and _capacity_refusal(capacity, field, path)
        if found:
            return found
    return None


def within_operation(
    result: agent_pb2.OperationResult, names: Collection[str], limits: AgentLimits
) -> agent_pb2.OperationResult:
    """``result`` about the servers ``names`` only, each error text cut to the limit: what
    an agent answers reaches the user's response."""
    chars = limits.operation_error_chars
    return agent_pb2.OperationResult(
        id=result.id,
        updated=[name for name in result.updated if name in names],
        conflicts=[name for name in result.conflicts if name in names],
        errors={name: text[:chars] for name, text in result.errors.items() if name in names},
        refused={name: text[:chars] for name, text in result.refused.items() if name in names},
        written={name: gs for name, gs in result.written.items() if name in names},
    )


def per_cluster_refusal(
    field: str, index: int, count: int, limit: int, what: str
) -> Refusal | None:
    """An entry that would bring its cluster to ``count`` of ``what``, over ``limit``."""
    if count <= limit:
        return None
    return Refusal(
        field,
        paths.item(field, index),
        f"would make {count:,} {what} for this cluster; at most {limit:,}",
        exhausted=True,
    )


def saturating_sum(left: int, right: int, high: int = INT32_MAX) -> int:
    """``left + right`` held within [0, high]: a sum of counts never overflows its field."""
    return max(0, min(high, left + right))
