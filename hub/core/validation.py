"""Validation of the documents users submit: Fleets and cluster registrations.

Every check runs, so one pass reports every problem. The caller fills defaults first: a Fleet
without a namespace gets "default" before it is validated, and an empty namespace is an error.
"""

from __future__ import annotations

from typing import Any

from gamefleet.v1 import cluster_pb2, fleet_pb2, gameserverset_pb2, meta_pb2

from . import (
    documents,
    errors,
    limits,
    merge_patch,
    names,
    paths,
    pod_template,
    selectors,
    template_validation,
)

MAX_FLEET_REPLICAS = 100_000
"""Replicas beyond this are a typo rather than a plan."""

PLACEMENT_STRATEGIES = ("Weighted", "Priority", "Spread")
UPDATE_POLICY_TYPES = ("Parallel", "Sequential")


def validate_fleet(fleet: fleet_pb2.Fleet) -> list[errors.FieldError]:
    """Every problem with the user-set fields of a Fleet (metadata and spec); [] when valid."""
    problems = _name_problems(fleet.metadata.name, "metadata.name")
    problems += _name_problems(fleet.metadata.namespace, "metadata.namespace")
    problems += _meta_map_problems(fleet.metadata)
    spec = fleet.spec
    replicas_valid = 0 <= spec.replicas <= MAX_FLEET_REPLICAS
    if not replicas_valid:
        problems.append(
            errors.FieldError(
                "spec.replicas", f"{spec.replicas} must be between 0 and {MAX_FLEET_REPLICAS}"
            )
        )
    fleet_replicas = spec.replicas if replicas_valid else None
    template_problems = template_validation.validate_template(spec.template, "", fleet_replicas)
    problems += [_under("spec.template", problem) for problem in template_problems]
    problems += _placement_problems(spec, fleet_replicas, template_problems)
    problems += template_validation.choice_problems(
        spec.update_policy.type, UPDATE_POLICY_TYPES, "spec.updatePolicy.type"
    )
    return problems


def validate_cluster_registration(cluster: cluster_pb2.Cluster) -> list[errors.FieldError]:
    """Every problem with a cluster's name and labels; [] when valid."""
    problems = _name_problems(cluster.metadata.name, "metadata.name")
    if cluster.metadata.namespace:
        problems.append(
            errors.FieldError("metadata.namespace", "must be empty: clusters have none")
        )
    labels = len(cluster.metadata.labels)
    if labels > limits.MAX_CLUSTER_LABELS:
        problems.append(
            errors.FieldError(
                "metadata.labels", f"{labels:,} labels; at most {limits.MAX_CLUSTER_LABELS}"
            )
        )
        return problems
    problems += _meta_map_problems(cluster.metadata)
    return problems


def _under(prefix: str, problem: errors.FieldError) -> errors.FieldError:
    if not problem.path:
        return errors.FieldError(prefix, problem.message)
    return errors.FieldError(paths.child(prefix, problem.path), problem.message)


def _name_problems(name: str, path: str) -> list[errors.FieldError]:
    if not name:
        return [errors.FieldError(path, "is required")]
    problem = names.dns1123_label_problem(name)
    if problem is None:
        return []
    return [errors.FieldError(path, f'"{name}" is not a valid DNS-1123 label: {problem}')]


def _meta_map_problems(metadata: meta_pb2.ObjectMeta) -> list[errors.FieldError]:
    problems = pod_template.string_map_problems(
        dict(metadata.labels), "metadata.labels", label_values=True
    )
    problems += pod_template.string_map_problems(
        dict(metadata.annotations), "metadata.annotations", label_values=False
    )
    return problems


# Failover sooner than a second would move servers on a single late heartbeat.
MIN_FAILOVER_AFTER_S = 1.0
MAX_FAILOVER_AFTER_S = 86400.0


def _placement_problems(
    spec: fleet_pb2.FleetSpec,
    fleet_replicas: int | None,
    template_problems: list[errors.FieldError],
) -> list[errors.FieldError]:
    path = "spec.placement"
    placement = spec.placement
    problems = template_validation.choice_problems(
        placement.strategy, PLACEMENT_STRATEGIES, paths.child(path, "strategy")
    )
    problems += selectors.label_selector_problems(
        placement.cluster_selector, paths.child(path, "clusterSelector")
    )
    if placement.failover.HasField("after"):
        after = placement.failover.after.ToTimedelta().total_seconds()
        if not MIN_FAILOVER_AFTER_S <= after <= MAX_FAILOVER_AFTER_S:
            problems.append(
                errors.FieldError(
                    "spec.placement.failover.after",
                    f"must be between {MIN_FAILOVER_AFTER_S:g}s and {MAX_FAILOVER_AFTER_S:g}s",
                )
            )
    rate = placement.failover.replicas_per_second
    if placement.failover.HasField("replicas_per_second") and not 1 <= rate <= 1000:
        problems.append(
            errors.FieldError(
                "spec.placement.failover.replicasPerSecond", "must be between 1 and 1000"
            )
        )
    template_doc = documents.to_document(spec.template)
    known = set(template_problems)
    seen: set[str] = set()
    for index, cluster in enumerate(placement.clusters):
        cluster_path = paths.item(paths.child(path, "clusters"), index)
        problems += _cluster_placement_problems(cluster, cluster_path, seen)
        if cluster.HasField("override"):
            problems += _patch_problems(
                template_doc,
                documents.to_document(cluster.override),
                paths.child(cluster_path, "override"),
                fleet_replicas,
                known,
            )
    for index, override in enumerate(placement.overrides):
        override_path = paths.item(paths.child(path, "overrides"), index)
        problems += selectors.label_selector_problems(
            override.cluster_selector, paths.child(override_path, "clusterSelector")
        )
        problems += _patch_problems(
            template_doc,
            documents.to_document(override.patch),
            paths.child(override_path, "patch"),
            fleet_replicas,
            known,
        )
    return problems


def _cluster_placement_problems(
    cluster: fleet_pb2.ClusterPlacement, path: str, seen: set[str]
) -> list[errors.FieldError]:
    problems = _name_problems(cluster.name, paths.child(path, "name"))
    if cluster.name and cluster.name in seen:
        problems.append(
            errors.FieldError(paths.child(path, "name"), f'"{cluster.name}" is listed twice')
        )
    seen.add(cluster.name)
    if cluster.HasField("weight") and cluster.weight < 1:
        problems.append(
            errors.FieldError(paths.child(path, "weight"), f"{cluster.weight} must be at least 1")
        )
    bounds = (
        ("min", cluster.HasField("min"), cluster.min),
        ("max", cluster.HasField("max"), cluster.max),
    )
    for field, present, value in bounds:
        if present and value < 0:
            problems.append(errors.FieldError(paths.child(path, field), f"{value} is negative"))
    both_set = cluster.HasField("min") and cluster.HasField("max")
    if both_set and 0 <= cluster.max < cluster.min:
        problems.append(
            errors.FieldError(
                paths.child(path, "min"), f"{cluster.min} is greater than max ({cluster.max})"
            )
        )
    return problems


def _patch_problems(
    template_doc: dict[str, Any],
    patch: dict[str, Any],
    path: str,
    fleet_replicas: int | None,
    known: set[errors.FieldError],
) -> list[errors.FieldError]:
    """Check the template a merge patch produces, reporting only what the patch broke."""
    result = merge_patch.apply_merge_patch(template_doc, patch)
    try:
        patched = documents.from_document(result, gameserverset_pb2.GameServerSetSpec, path)
    except errors.ValidationError as exc:
        return list(exc.errors)
    problems = template_validation.validate_template(patched, "", fleet_replicas)
    return [_under(path, problem) for problem in problems if problem not in known]


# The same checks for every stored document's metadata (FleetAutoscalers use them too).
name_problems = _name_problems
meta_map_problems = _meta_map_problems
