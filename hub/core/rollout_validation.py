"""Checks of a Fleet's spec.rollout, each problem naming its field."""

from __future__ import annotations

from gamefleet.v1 import fleet_pb2, meta_pb2
from google.protobuf import duration_pb2

from . import errors, limits, names, paths, rollout, selectors

PATH = "spec.rollout"
# A soak or deadline longer than a week is a typo, not a plan.
MAX_ROLLOUT_SECONDS = 7 * 86_400.0


def rollout_problems(spec: fleet_pb2.FleetSpec) -> list[errors.FieldError]:
    """Every problem with ``spec.rollout``; [] when it is unset or valid."""
    if not spec.HasField("rollout"):
        return []
    plan = spec.rollout
    problems: list[errors.FieldError] = []
    if spec.update_policy.type == rollout.SEQUENTIAL:
        problems.append(
            errors.FieldError(PATH, "cannot be combined with spec.updatePolicy.type Sequential")
        )
    problems += _waves_problems(plan)
    if plan.HasField("by_label"):
        problems += _label_problems(plan.by_label, paths.child(PATH, "byLabel"))
    if plan.HasField("max_concurrency") and plan.max_concurrency < 1:
        problems.append(errors.FieldError(paths.child(PATH, "maxConcurrency"), "must be ≥ 1"))
    if plan.HasField("max_failures") and plan.max_failures < 0:
        problems.append(errors.FieldError(paths.child(PATH, "maxFailures"), "must be ≥ 0"))
    if plan.HasField("min_success_time"):
        problems += _duration_problems(plan.min_success_time, "minSuccessTime", low=0.0)
    if plan.HasField("progress_deadline"):
        problems += _duration_problems(plan.progress_deadline, "progressDeadline", low=None)
    known = {quality.name for quality in spec.template.service_qualities}
    for index, name in enumerate(plan.qualities):
        if name not in known:
            problems.append(
                errors.FieldError(
                    paths.item(paths.child(PATH, "qualities"), index),
                    f'"{name}" is not a service quality of spec.template.serviceQualities',
                )
            )
    return problems


def _waves_problems(plan: fleet_pb2.Rollout) -> list[errors.FieldError]:
    problems: list[errors.FieldError] = []
    seen: dict[str, int] = {}
    for index, wave in enumerate(plan.waves):
        wave_path = paths.item(paths.child(PATH, "waves"), index)
        if not wave.clusters and not wave.match_labels and not wave.HasField("percent"):
            problems.append(
                errors.FieldError(wave_path, "must set clusters, matchLabels or percent")
            )
        clusters_path = paths.child(wave_path, "clusters")
        for position, cluster in enumerate(wave.clusters):
            cluster_path = paths.item(clusters_path, position)
            problem = names.dns1123_subdomain_problem(cluster) if cluster else "is required"
            if problem is not None:
                problems.append(errors.FieldError(cluster_path, problem))
            elif cluster in seen:
                problems.append(
                    errors.FieldError(cluster_path, f'"{cluster}" is in wave {seen[cluster]}')
                )
            seen.setdefault(cluster, index)
        problems += selectors.label_selector_problems(
            meta_pb2.LabelSelector(match_labels=wave.match_labels), wave_path
        )
        if wave.HasField("percent") and not 1 <= wave.percent <= 100:
            problems.append(
                errors.FieldError(paths.child(wave_path, "percent"), "must be between 1 and 100")
            )
        if wave.HasField("max_concurrency") and wave.max_concurrency < 1:
            problems.append(
                errors.FieldError(paths.child(wave_path, "maxConcurrency"), "must be ≥ 1")
            )
    return problems


def _label_problems(waves: fleet_pb2.LabelWaves, path: str) -> list[errors.FieldError]:
    problems: list[errors.FieldError] = []
    key_problem = names.qualified_name_problem(waves.key) if waves.key else "is required"
    if key_problem is not None:
        problems.append(errors.FieldError(paths.child(path, "key"), key_problem))
    values_path = paths.child(path, "values")
    if not waves.values:
        problems.append(errors.FieldError(values_path, "must list at least one value"))
    seen: set[str] = set()
    for index, value in enumerate(waves.values):
        problem = names.label_value_problem(value)
        if problem is None and value in seen:
            problem = f'"{value}" is listed twice'
        if problem is not None:
            problems.append(errors.FieldError(paths.item(values_path, index), problem))
        seen.add(value)
    return problems


def _duration_problems(
    value: duration_pb2.Duration, name: str, *, low: float | None
) -> list[errors.FieldError]:
    length = seconds(value)
    fine = (length >= low if low is not None else length > 0) and length <= MAX_ROLLOUT_SECONDS
    if fine:
        return []
    floor = f"at least {low:g}s" if low is not None else "above 0s"
    message = f"must be {floor} and at most {MAX_ROLLOUT_SECONDS:g}s"
    return [errors.FieldError(paths.child(PATH, name), message)]


def seconds(value: duration_pb2.Duration) -> float:
    """A Duration in seconds."""
    return value.seconds + value.nanos / limits.NANOS_PER_SECOND
