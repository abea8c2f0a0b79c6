"""Validation of the documents users submit: Fleets and cluster registrations.

Every check runs, so one pass reports every problem. The caller fills defaults first: a Fleet
without a namespace gets "default" before it is validated, and an empty namespace is an error.
"""

from __future__ import annotations

from typing import Any

from gamefleet.v1 import cluster_pb2, fleet_pb2, gameserverset_pb2, meta_pb2
from google.protobuf import struct_pb2

from . import (
    documents,
    errors,
    limits,
    merge_patch,
    names,
    paths,
    pod_template,
    rollout_validation,
    selectors,
    template_validation,
)

PLACEMENT_STRATEGIES = ("Weighted", "Priority", "Spread")
UPDATE_POLICY_TYPES = ("Parallel", "Sequential")


def validate_fleet(fleet: fleet_pb2.Fleet) -> list[errors.FieldError]:
    """Every problem with the user-set fields of a Fleet (metadata and spec); [] when valid.

    A fleet over the size limit, or holding values no document can (a NaN, a Duration out of
    range), gets only those problems: every other check reads the fleet as a document.
    """
    problems = _size_problems(fleet) or documents.message_problems(fleet)
    if problems:
        return problems
    problems = _name_problems(fleet.metadata.name, "metadata.name")
    problems += _name_problems(fleet.metadata.namespace, "metadata.namespace")
    problems += _meta_map_problems(fleet.metadata)
    spec = fleet.spec
    replicas_valid = 0 <= spec.replicas <= limits.MAX_FLEET_REPLICAS
    if not replicas_valid:
        problems.append(
            errors.FieldError(
                "spec.replicas",
                f"{spec.replicas} must be between 0 and {limits.MAX_FLEET_REPLICAS}",
            )
        )
    fleet_replicas = spec.replicas if replicas_valid else None
    template_problems = template_validation.validate_template(spec.template, "", fleet_replicas)
    problems += [_under("spec.template", problem) for problem in template_problems]
    problems += _placement_problems(spec, fleet_replicas, template_problems)
    problems += template_validation.choice_problems(
        spec.update_policy.type, UPDATE_POLICY_TYPES, "spec.updatePolicy.type"
    )
    problems += rollout_validation.rollout_problems(spec)
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


def _size_problems(fleet: fleet_pb2.Fleet) -> list[errors.FieldError]:
    size = fleet.ByteSize()
    if size <= limits.MAX_FLEET_BYTES:
        return []
    return [
        errors.FieldError(
            documents.largest_field(fleet),
            f"makes the fleet {size:,} bytes; a fleet may be at most "
            f"{limits.MAX_FLEET_BYTES:,} bytes (1.5 MiB)",
        )
    ]


def _under(prefix: str, problem: errors.FieldError) -> errors.FieldError:
    if not problem.path:
        return errors.FieldError(prefix, problem.message)
    return errors.FieldError(paths.under(prefix, problem.path), problem.message)


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
    problems += pod_template.annotations_size_problems(
        dict(metadata.annotations), "metadata.annotations"
    )
    return problems


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
    problems += _failover_problems(placement.failover, paths.child(path, "failover"))
    count_problems = _count_problems(placement, path)
    if count_problems:
        return problems + count_problems
    patches: list[tuple[str, struct_pb2.Struct]] = []
    seen: set[str] = set()
    for index, cluster in enumerate(placement.clusters):
        cluster_path = paths.item(paths.child(path, "clusters"), index)
        problems += _cluster_placement_problems(cluster, cluster_path, seen)
        if cluster.HasField("override"):
            patches.append((paths.child(cluster_path, "override"), cluster.override))
    for index, override in enumerate(placement.overrides):
        override_path = paths.item(paths.child(path, "overrides"), index)
        problems += selectors.label_selector_problems(
            override.cluster_selector, paths.child(override_path, "clusterSelector")
        )
        patches.append((paths.child(override_path, "patch"), override.patch))
    problems += _patches_problems(spec.template, patches, path, fleet_replicas, template_problems)
    return problems


def _patches_problems(
    template: gameserverset_pb2.GameServerSetSpec,
    patches: list[tuple[str, struct_pb2.Struct]],
    path: str,
    fleet_replicas: int | None,
    template_problems: list[errors.FieldError],
) -> list[errors.FieldError]:
    """Check the template each merge patch produces; each distinct patch once.

    Each check renders and validates a whole template, so the work is bounded: distinct
    patches times the template's size.
    """
    distinct: dict[bytes, list[errors.FieldError] | None] = {
        patch.SerializeToString(deterministic=True): None for _, patch in patches
    }
    work = len(distinct) * template.ByteSize()
    if work > limits.MAX_OVERRIDE_CHECK_BYTES:
        return [
            errors.FieldError(
                path,
                f"{len(distinct)} distinct override patches on a template of "
                f"{template.ByteSize():,} bytes: patches times template size must be at most "
                f"{limits.MAX_OVERRIDE_CHECK_BYTES:,} bytes",
            )
        ]
    template_doc = documents.to_document(template)
    known = set(template_problems)
    problems: list[errors.FieldError] = []
    for patch_path, patch in patches:
        key = patch.SerializeToString(deterministic=True)
        found = distinct[key]
        if found is None:
            found = distinct[key] = _patch_problems(
                template_doc, documents.to_document(patch), fleet_replicas, known
            )
        problems += [_under(patch_path, problem) for problem in found]
    return problems


def _failover_problems(failover: fleet_pb2.Failover, path: str) -> list[errors.FieldError]:
    problems: list[errors.FieldError] = []
    if failover.HasField("after"):
        # A valid Duration (checked first): seconds and nanos have one sign.
        after = failover.after.seconds + failover.after.nanos / limits.NANOS_PER_SECOND
        low, high = limits.MIN_FAILOVER_AFTER_S, limits.MAX_FAILOVER_AFTER_S
        if not low <= after <= high:
            problems.append(
                errors.FieldError(
                    paths.child(path, "after"), f"must be between {low:g}s and {high:g}s"
                )
            )
    rate = failover.replicas_per_second
    most = limits.MAX_FAILOVER_REPLICAS_PER_SECOND
    if failover.HasField("replicas_per_second") and not 1 <= rate <= most:
        problems.append(
            errors.FieldError(
                paths.child(path, "replicasPerSecond"), f"must be between 1 and {most}"
            )
        )
    return problems


def _count_problems(placement: fleet_pb2.Placement, path: str) -> list[errors.FieldError]:
    """Lists too long to check entry by entry: each override is checked as a whole template."""
    problems: list[errors.FieldError] = []
    for field, count, most in (
        ("clusters", len(placement.clusters), limits.MAX_PLACEMENT_CLUSTERS),
        ("overrides", len(placement.overrides), limits.MAX_TEMPLATE_OVERRIDES),
    ):
        if count > most:
            problems.append(
                errors.FieldError(
                    paths.child(path, field), f"has {count} entries; at most {most} are allowed"
                )
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
    fleet_replicas: int | None,
    known: set[errors.FieldError],
) -> list[errors.FieldError]:
    """Check the template a merge patch produces, reporting only what the patch broke, with
    paths relative to the patch."""
    result = merge_patch.apply_merge_patch(template_doc, patch)
    try:
        patched = documents.from_document(result, gameserverset_pb2.GameServerSetSpec)
    except errors.ValidationError as exc:
        return list(exc.errors)
    problems = template_validation.validate_template(patched, "", fleet_replicas)
    return [problem for problem in problems if problem not in known]


# The same checks for every stored document's metadata (FleetAutoscalers use them too).
name_problems = _name_problems
meta_map_problems = _meta_map_problems
