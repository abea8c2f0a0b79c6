"""Validation of FleetAutoscalers: every problem, each naming its field as the YAML spells it."""

from __future__ import annotations

import dataclasses
import ssl
import urllib.parse
from collections.abc import Sequence

from gamefleet.v1 import autoscaler_pb2
from google.protobuf import duration_pb2, struct_pb2

from hub.core import errors, names, paths, template_validation, values
from hub.core.limits import MAX_FLEET_REPLICAS
from hub.core.validation import meta_map_problems, name_problems
from okg import capacity

from . import counter as counted
from . import cron
from .durations import DurationError, parse_duration
from .policy import BUFFER, CHAIN, COUNTER, LEAF_TYPES, LIST, POLICY_TYPES, SCHEDULE, WEBHOOK

SYNC_EVENTS = "Events"
SYNC_FIXED_INTERVAL = "FixedInterval"
SYNC_TYPES = (SYNC_EVENTS, SYNC_FIXED_INTERVAL)
MAX_WINDOW_S = 3600.0
WEBHOOK_TIMEOUT_S = (0.1, 60.0)
RESYNC_PERIOD_S = (1.0, 3600.0)
MIN_INTERVAL_S = (0.01, 60.0)
FIXED_INTERVAL_S = (1.0, 3600.0)
MAX_SCHEDULE_DURATION_S = 366 * 86400.0
MAX_CHAIN_ENTRIES = 16
MAX_FLEET_CAPACITY = capacity.MAX_COUNTER_CAPACITY * MAX_FLEET_REPLICAS
MAX_FLEET_LIST_CAPACITY = capacity.MAX_LIST_CAPACITY * MAX_FLEET_REPLICAS

Problems = list[errors.FieldError]


def validate(autoscaler: autoscaler_pb2.FleetAutoscaler) -> Problems:
    """Every problem with a FleetAutoscaler's metadata and spec; [] when valid."""
    meta = autoscaler.metadata
    problems = name_problems(meta.name, "metadata.name")
    problems += name_problems(meta.namespace, "metadata.namespace")
    problems += meta_map_problems(meta)
    spec = autoscaler.spec
    problems += name_problems(spec.fleet_name, "spec.fleetName")
    problems += _policy(spec.policy, "spec.policy", nested=False)
    problems += _rules(spec.behavior.scale_up, "spec.behavior.scaleUp")
    problems += _rules(spec.behavior.scale_down, "spec.behavior.scaleDown")
    problems += _sync(spec.sync, "spec.sync")
    return problems


def _seconds(
    duration: duration_pb2.Duration, path: str, bounds: tuple[float, float], zero: bool = False
) -> Problems:
    seconds = duration.ToTimedelta().total_seconds()
    if zero and seconds == 0:
        return []
    low, high = bounds
    if not low <= seconds <= high:
        allowed = f"0s or from {low:g}s to {high:g}s" if zero else f"from {low:g}s to {high:g}s"
        return [errors.FieldError(path, f"must be {allowed}")]
    return []


def _policy(policy: autoscaler_pb2.AutoscalerPolicy, path: str, nested: bool) -> Problems:
    allowed = LEAF_TYPES if nested else POLICY_TYPES
    type_path = paths.child(path, "type")
    if not policy.type:
        return [errors.FieldError(type_path, f"is required: one of {', '.join(allowed)}")]
    if policy.type not in allowed:
        return template_validation.choice_problems(policy.type, allowed, type_path)
    present = {
        BUFFER: policy.HasField("buffer"),
        COUNTER: policy.HasField("counter"),
        LIST: policy.HasField("list"),
        WEBHOOK: policy.HasField("webhook"),
        SCHEDULE: policy.HasField("schedule"),
        CHAIN: bool(policy.chain),
    }
    problems = _others(present, policy.type, path)
    if policy.type == CHAIN:
        return problems + _chain(policy.chain, paths.child(path, "chain"))
    return problems + _one(policy.type, policy, path)


def _others(present: dict[str, bool], kind: str, path: str) -> Problems:
    problems = []
    for other, here in present.items():
        if here and other != kind:
            field = paths.child(path, other.lower())
            problems.append(errors.FieldError(field, f"is set, but type is {kind}"))
    return problems


def _one(
    kind: str, policy: autoscaler_pb2.AutoscalerPolicy | autoscaler_pb2.ChainEntry, path: str
) -> Problems:
    if kind == BUFFER:
        return _buffer(policy.buffer, paths.child(path, "buffer"))
    if kind == COUNTER:
        return _counter(policy.counter, paths.child(path, "counter"))
    if kind == LIST:
        return _counter(policy.list, paths.child(path, "list"))
    if kind == WEBHOOK:
        return _webhook(policy.webhook, paths.child(path, "webhook"))
    return _schedule(policy.schedule, paths.child(path, "schedule"))


def _buffer(buffer: autoscaler_pb2.BufferPolicy, path: str) -> Problems:
    size_path = paths.child(path, "bufferSize")
    problems, count, percent = _buffer_size(buffer.buffer_size, size_path)
    bounds = _Bounds(buffer.min_replicas, buffer.max_replicas, MAX_FLEET_REPLICAS)
    problems += bounds.problems(path, "minReplicas", "maxReplicas", count, percent)
    label = buffer.per_cluster_label
    if label and (problem := names.qualified_name_problem(label)):
        problems.append(errors.FieldError(paths.child(path, "perClusterLabel"), problem))
    return problems


def _counter(counter: counted.CapacityPolicy, path: str) -> Problems:
    """Agones' checks of a Counter or List policy; whether the fleet declares the key is
    checked against the fleet (``counter_key_problems``)."""
    problems: Problems = []
    key_path = paths.child(path, "key")
    kind = counted.kind_of(counter)
    if not counter.key:
        problems.append(errors.FieldError(key_path, f"is required: a {kind} of the template"))
    elif problem := capacity.name_problem(counter.key):
        problems.append(errors.FieldError(key_path, f'"{counter.key}": {problem}'))
    size_problems, count, percent = _buffer_size(
        counter.buffer_size, paths.child(path, "bufferSize")
    )
    problems += size_problems
    low = counter.min_capacity
    limit = MAX_FLEET_LIST_CAPACITY if kind == counted.LIST else MAX_FLEET_CAPACITY
    bounds = _Bounds(low, counter.max_capacity, limit)
    problems += bounds.problems(path, "minCapacity", "maxCapacity", count, percent)
    if count is not None and 0 < low < count:
        problems.append(
            errors.FieldError(
                paths.child(path, "minCapacity"), f"{low} is below bufferSize ({count}); 0 for none"
            )
        )
    return problems


@dataclasses.dataclass(frozen=True)
class _Bounds:
    """A policy's minimum and maximum (replicas, or a counter's capacity)."""

    low: int
    high: int
    limit: int

    def problems(
        self, path: str, low_name: str, high_name: str, count: int | None, percent: bool
    ) -> Problems:
        low, high = self.low, self.high
        low_path, high_path = paths.child(path, low_name), paths.child(path, high_name)
        found: Problems = []
        if low < 0:
            found.append(errors.FieldError(low_path, f"{low} is negative"))
        if not 1 <= high <= self.limit:
            found.append(errors.FieldError(high_path, f"{high} must be between 1 and {self.limit}"))
        elif high < low:
            found.append(errors.FieldError(high_path, f"{high} is below {low_name} ({low})"))
        elif count is not None and count > high:
            found.append(errors.FieldError(high_path, f"{high} is below bufferSize ({count})"))
        if percent and low < 1:
            why = "must be at least 1 with a percentage bufferSize (a percentage of none is none)"
            found.append(errors.FieldError(low_path, why))
        return found


def _buffer_size(size: struct_pb2.Value, path: str) -> tuple[Problems, int | None, bool]:
    """The problems of a bufferSize, its count (None for a percentage or a bad one), and
    whether it is a percentage."""
    problems: Problems = []
    count = values.whole_number(size)
    percent = False
    if size.WhichOneof("kind") is None:
        problems.append(errors.FieldError(path, "is required: a count or a percentage"))
    elif count is not None:
        if count < 1:
            problems.append(errors.FieldError(path, f"{count} must be at least 1"))
    elif size.WhichOneof("kind") == "string_value" and size.string_value.endswith("%"):
        number = size.string_value[:-1]
        percent = True
        if not number.isdigit() or not 1 <= int(number) <= 99:
            problems.append(
                errors.FieldError(
                    path, f"{values.describe(size)} must be a percentage from 1% to 99%"
                )
            )
    else:
        problems.append(
            errors.FieldError(
                path, f"{values.describe(size)} must be a count (5) or a percentage (10%)"
            )
        )
    return problems, count, percent


def _webhook(webhook: autoscaler_pb2.WebhookPolicy, path: str) -> Problems:
    problems: Problems = []
    url_path = paths.child(path, "url")
    parsed = urllib.parse.urlsplit(webhook.url)
    if not webhook.url:
        problems.append(errors.FieldError(url_path, "is required"))
    elif parsed.scheme not in ("http", "https") or not parsed.hostname:
        problems.append(
            errors.FieldError(url_path, f'"{webhook.url}" is not an http:// or https:// URL')
        )
    if webhook.ca_bundle:
        bundle_path = paths.child(path, "caBundle")
        if parsed.scheme != "https":
            problems.append(errors.FieldError(bundle_path, "needs an https:// url"))
        try:
            ssl.create_default_context(cadata=webhook.ca_bundle.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError):
            problems.append(errors.FieldError(bundle_path, "holds no PEM certificate"))
    if webhook.HasField("timeout"):
        problems += _seconds(webhook.timeout, paths.child(path, "timeout"), WEBHOOK_TIMEOUT_S)
    if webhook.HasField("resync_period"):
        problems += _seconds(
            webhook.resync_period, paths.child(path, "resyncPeriod"), RESYNC_PERIOD_S, zero=True
        )
    return problems


def _schedule(schedule: autoscaler_pb2.SchedulePolicy, path: str) -> Problems:
    problems: Problems = []
    between = schedule.between
    both = between.HasField("start") and between.HasField("end")
    if both and between.end.ToNanoseconds() <= between.start.ToNanoseconds():
        problems.append(
            errors.FieldError(paths.child(path, "between.end"), "must be after between.start")
        )
    period = schedule.active_period
    period_path = paths.child(path, "activePeriod")
    try:
        cron.zone(period.timezone)
    except cron.CronError as exc:
        problems.append(errors.FieldError(paths.child(period_path, "timezone"), str(exc)))
    if period.start_cron.strip():
        try:
            cron.parse(period.start_cron)
        except cron.CronError as exc:
            problems.append(errors.FieldError(paths.child(period_path, "startCron"), str(exc)))
    if period.duration.strip():
        duration_path = paths.child(period_path, "duration")
        if not period.start_cron.strip():
            problems.append(errors.FieldError(duration_path, "needs a startCron"))
        try:
            seconds = parse_duration(period.duration)
        except DurationError as exc:
            problems.append(errors.FieldError(duration_path, str(exc)))
        else:
            if not 60 <= seconds <= MAX_SCHEDULE_DURATION_S:
                problems.append(errors.FieldError(duration_path, "must be from 1m to 366 days"))
    policy_path = paths.child(path, "policy")
    if not schedule.HasField("policy"):
        return [
            *problems,
            errors.FieldError(policy_path, "is required: a Buffer, a Counter, a List or a Webhook"),
        ]
    return problems + _policy(schedule.policy, policy_path, nested=True)


def _chain(chain: Sequence[autoscaler_pb2.ChainEntry], path: str) -> Problems:
    problems: Problems = []
    if len(chain) > MAX_CHAIN_ENTRIES:
        problems.append(errors.FieldError(path, f"has more than {MAX_CHAIN_ENTRIES} entries"))
    seen: set[str] = set()
    for index, entry in enumerate(chain):
        entry_path = paths.item(path, index)
        id_path = paths.child(entry_path, "id")
        if not entry.id:
            problems.append(errors.FieldError(id_path, "is required"))
        elif problem := names.dns1123_label_problem(entry.id):
            problems.append(errors.FieldError(id_path, f'"{entry.id}": {problem}'))
        elif entry.id in seen:
            problems.append(errors.FieldError(id_path, f'"{entry.id}" is used twice'))
        seen.add(entry.id)
        allowed = (*LEAF_TYPES, SCHEDULE)
        type_path = paths.child(entry_path, "type")
        if entry.type not in allowed:
            problems.append(
                errors.FieldError(type_path, f'"{entry.type}" is not one of {", ".join(allowed)}')
            )
            continue
        present = {
            BUFFER: entry.HasField("buffer"),
            COUNTER: entry.HasField("counter"),
            LIST: entry.HasField("list"),
            WEBHOOK: entry.HasField("webhook"),
            SCHEDULE: entry.HasField("schedule"),
        }
        problems += _others(present, entry.type, entry_path)
        problems += _one(entry.type, entry, entry_path)
    return problems


def _rules(rules: autoscaler_pb2.AutoscalerScalingRules, path: str) -> Problems:
    problems: Problems = []
    if rules.HasField("stabilization_window"):
        problems += _seconds(
            rules.stabilization_window,
            paths.child(path, "stabilizationWindow"),
            (0.0, MAX_WINDOW_S),
        )
    if not 0 <= rules.max_step <= MAX_FLEET_REPLICAS:
        problems.append(
            errors.FieldError(
                paths.child(path, "maxStep"),
                f"{rules.max_step} must be between 0 and {MAX_FLEET_REPLICAS} (0: no limit)",
            )
        )
    return problems


def _sync(sync: autoscaler_pb2.AutoscalerSync, path: str) -> Problems:
    problems = template_validation.choice_problems(sync.type, SYNC_TYPES, paths.child(path, "type"))
    fixed = sync.type == SYNC_FIXED_INTERVAL
    if sync.HasField("min_interval"):
        field = paths.child(path, "minInterval")
        if fixed:
            problems.append(errors.FieldError(field, "applies to type Events only"))
        problems += _seconds(sync.min_interval, field, MIN_INTERVAL_S)
    if sync.HasField("interval"):
        field = paths.child(path, "interval")
        if not fixed:
            problems.append(errors.FieldError(field, "applies to type FixedInterval only"))
        problems += _seconds(sync.interval, field, FIXED_INTERVAL_S)
    return problems


def counter_key_problems(
    autoscaler: autoscaler_pb2.FleetAutoscaler, declared: capacity.Capacity | None
) -> Problems:
    """Each Counter (List) policy whose key is not a counter (list) the fleet's template
    declares (``declared``: its counters and lists, None when it declares none)."""
    problems = []
    for path, policy in counter_policies(autoscaler.spec.policy, "spec.policy"):
        kind = counted.kind_of(policy)
        if not policy.key or (
            declared is not None and counted.measured(declared, policy.key, kind) is not None
        ):
            continue
        known = ", ".join(counted.names_of(declared, kind)) if declared is not None else ""
        problems.append(
            errors.FieldError(
                paths.child(path, "key"),
                f'"{policy.key}" is not a {kind} of the template (its {kind}s: {known or "none"})',
            )
        )
    return problems


def counter_policies(
    policy: autoscaler_pb2.AutoscalerPolicy, path: str = "spec.policy"
) -> list[tuple[str, counted.CapacityPolicy]]:
    """Each Counter and List policy in ``policy`` (under Chains and Schedules), with its
    path."""
    found: list[tuple[str, counted.CapacityPolicy]] = []
    entries: list[tuple[str, autoscaler_pb2.AutoscalerPolicy | autoscaler_pb2.ChainEntry]] = [
        (path, policy)
    ]
    entries += [(paths.item(paths.child(path, "chain"), i), e) for i, e in enumerate(policy.chain)]
    for where, entry in entries:
        if entry.type == SCHEDULE:
            where, entry = paths.child(where, "schedule.policy"), entry.schedule.policy
        if entry.type == COUNTER:
            found.append((paths.child(where, "counter"), entry.counter))
        elif entry.type == LIST:
            found.append((paths.child(where, "list"), entry.list))
    return found
