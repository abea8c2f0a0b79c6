"""Checks of the Kubernetes documents a GameServerSet carries: pod and volume claim templates.

Only the fields gamefleet relies on are checked; the cluster's API server checks the rest.
"""

from __future__ import annotations

from typing import Any

from . import documents, errors, limits, names, paths


def _object_at(doc: Any, path: str, problems: list[errors.FieldError]) -> dict[str, Any] | None:
    if isinstance(doc, dict):
        return doc
    problems.append(errors.FieldError(path, f"must be an object, not {documents.kind_of(doc)}"))
    return None


def string_map_problems(
    doc: Any, path: str, *, label_values: bool, allow_templates: bool = False
) -> list[errors.FieldError]:
    """Check a map of qualified-name keys to strings (labels when `label_values`)."""
    problems: list[errors.FieldError] = []
    mapping = _object_at(doc, path, problems)
    if mapping is None:
        return problems
    for key, value in mapping.items():
        key_problem = names.qualified_name_problem(key)
        if key_problem is not None:
            problems.append(errors.FieldError(path, f'"{key}" is not a valid key: {key_problem}'))
        value_path = paths.entry(path, key)
        if not isinstance(value, str):
            problems.append(
                errors.FieldError(value_path, f"must be a string, not {documents.kind_of(value)}")
            )
            continue
        if not label_values or (allow_templates and "{{" in value):
            continue
        value_problem = names.label_value_problem(value)
        if value_problem is not None:
            problems.append(
                errors.FieldError(
                    value_path, f'"{value}" is not a valid label value: {value_problem}'
                )
            )
    return problems


def annotations_size_problems(doc: Any, path: str) -> list[errors.FieldError]:
    """Check the total size of an annotations map, as Kubernetes counts it (keys and values)."""
    if not isinstance(doc, dict):
        return []
    size = sum(
        len(str(key).encode()) + len(value.encode() if isinstance(value, str) else b"")
        for key, value in doc.items()
    )
    if size <= limits.MAX_ANNOTATIONS_BYTES:
        return []
    return [
        errors.FieldError(
            path,
            f"total size {size:,} bytes must be at most {limits.MAX_ANNOTATIONS_BYTES:,} "
            "(256 KiB, as Kubernetes)",
        )
    ]


def metadata_problems(doc: Any, path: str) -> list[errors.FieldError]:
    """Check an embedded ObjectMeta document's labels and annotations."""
    problems: list[errors.FieldError] = []
    metadata = _object_at(doc, path, problems)
    if metadata is None:
        return problems
    if "labels" in metadata:
        problems += string_map_problems(
            metadata["labels"], paths.child(path, "labels"), label_values=True
        )
    if "annotations" in metadata:
        annotations_path = paths.child(path, "annotations")
        problems += string_map_problems(
            metadata["annotations"], annotations_path, label_values=False
        )
        problems += annotations_size_problems(metadata["annotations"], annotations_path)
    return problems


def container_names(pod_template: Any) -> frozenset[str]:
    """Names of the containers a pod template declares, ignoring malformed entries."""
    spec = pod_template.get("spec") if isinstance(pod_template, dict) else None
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not isinstance(containers, list):
        return frozenset()
    found = {
        c["name"] for c in containers if isinstance(c, dict) and isinstance(c.get("name"), str)
    }
    return frozenset(found)


def pod_template_problems(doc: Any, path: str) -> list[errors.FieldError]:
    """Check a PodTemplateSpec document: metadata, and every container's name and image."""
    problems: list[errors.FieldError] = []
    template = _object_at(doc, path, problems)
    if template is None:
        return problems
    if not template:
        return [errors.FieldError(path, "is required")]
    if "metadata" in template:
        problems += metadata_problems(template["metadata"], paths.child(path, "metadata"))
    spec_path = paths.child(path, "spec")
    if "spec" not in template:
        problems.append(errors.FieldError(spec_path, "is required"))
        return problems
    spec = _object_at(template["spec"], spec_path, problems)
    if spec is None:
        return problems
    seen: set[str] = set()
    containers_path = paths.child(spec_path, "containers")
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        problems.append(errors.FieldError(containers_path, "must list at least one container"))
    else:
        problems += _containers_problems(containers, containers_path, seen)
    if "initContainers" in spec:
        init_path = paths.child(spec_path, "initContainers")
        init_containers = spec["initContainers"]
        if isinstance(init_containers, list):
            problems += _containers_problems(init_containers, init_path, seen)
        else:
            problems.append(
                errors.FieldError(
                    init_path, f"must be a list, not {documents.kind_of(init_containers)}"
                )
            )
    return problems


def _containers_problems(
    containers: list[Any], path: str, seen: set[str]
) -> list[errors.FieldError]:
    problems: list[errors.FieldError] = []
    for index, raw in enumerate(containers):
        container_path = paths.item(path, index)
        container = _object_at(raw, container_path, problems)
        if container is None:
            continue
        name_path = paths.child(container_path, "name")
        name = container.get("name")
        if not isinstance(name, str) or not name:
            problems.append(errors.FieldError(name_path, "is required"))
        else:
            name_problem = names.dns1123_label_problem(name)
            if name_problem is not None:
                problems.append(
                    errors.FieldError(
                        name_path, f'"{name}" is not a valid DNS-1123 label: {name_problem}'
                    )
                )
            elif name in seen:
                problems.append(errors.FieldError(name_path, f'"{name}" is used twice'))
            seen.add(name)
        image = container.get("image")
        if not isinstance(image, str) or not image.strip():
            problems.append(
                errors.FieldError(
                    paths.child(container_path, "image"), "must be a non-empty string"
                )
            )
    return problems


def volume_claim_template_problems(doc: Any, path: str, seen: set[str]) -> list[errors.FieldError]:
    """Check one volume claim template: a unique DNS-1123 `metadata.name` and a `spec`."""
    problems: list[errors.FieldError] = []
    claim = _object_at(doc, path, problems)
    if claim is None:
        return problems
    metadata_path = paths.child(path, "metadata")
    metadata = claim.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    name_path = paths.child(metadata_path, "name")
    if not isinstance(name, str) or not name:
        problems.append(errors.FieldError(name_path, "is required"))
    else:
        name_problem = names.dns1123_label_problem(name)
        if name_problem is not None:
            problems.append(
                errors.FieldError(
                    name_path, f'"{name}" is not a valid DNS-1123 label: {name_problem}'
                )
            )
        elif name in seen:
            problems.append(errors.FieldError(name_path, f'"{name}" is used twice'))
        seen.add(name)
    if isinstance(metadata, dict):
        problems += metadata_problems(metadata, metadata_path)
    if not isinstance(claim.get("spec"), dict):
        problems.append(errors.FieldError(paths.child(path, "spec"), "must be an object"))
    return problems
