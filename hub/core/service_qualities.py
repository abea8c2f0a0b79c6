"""A GameServerSet's service qualities at the hub: OKG's rules (`okg.service_quality`, the
same reading the agent probes with) plus Kubernetes' syntax of the actions' label and
annotation keys, which the agent leaves to the API server."""

from __future__ import annotations

from collections.abc import Sequence, Set

from gamefleet.v1 import gameserverset_pb2

from okg import service_quality

from . import documents, errors, paths, pod_template


def service_qualities_problems(
    qualities: Sequence[gameserverset_pb2.ServiceQuality],
    path: str,
    containers: Set[str] | None,
) -> list[errors.FieldError]:
    """Check every service quality; `containers` are the pod template's container names.

    With `containers` None (the pod template is itself invalid) container names go unchecked.
    """
    items = [documents.to_document(quality) for quality in qualities]
    _, problems = service_quality.parse(items, path, containers)
    problems += service_quality.template_problems(items, path)
    for index, quality in enumerate(qualities):
        actions_path = paths.child(paths.item(path, index), "serviceQualityAction")
        for action_index, action in enumerate(quality.service_quality_action):
            action_path = paths.item(actions_path, action_index)
            problems += pod_template.string_map_problems(
                dict(action.labels),
                paths.child(action_path, "labels"),
                label_values=True,
                allow_templates=True,
            )
            problems += pod_template.string_map_problems(
                dict(action.annotations),
                paths.child(action_path, "annotations"),
                label_values=False,
            )
    return problems
