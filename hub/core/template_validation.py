"""Checks of a Fleet's template: an OKG GameServerSet spec."""

from __future__ import annotations

from collections.abc import Iterable

from gamefleet.v1 import gameserverset_pb2
from google.protobuf import json_format

from okg import capacity, reserve_ids
from okg.network import conf as network_conf

from . import (
    documents,
    errors,
    limits,
    names,
    network_types,
    paths,
    pod_template,
    service_qualities,
    values,
)

RECLAIM_POLICIES = ("Cascade", "Delete")
UPDATE_STRATEGY_TYPES = ("RollingUpdate", "OnDelete")
POD_UPDATE_POLICIES = ("ReCreate", "InPlaceIfPossible", "InPlaceOnly")
SCALE_DOWN_STRATEGY_TYPES = ("General", "ReserveIds")
PVC_RETENTION_POLICIES = ("Retain", "Delete")


def choice_problems(value: str, allowed: Iterable[str], path: str) -> list[errors.FieldError]:
    """Check an enumerated string; the empty string always means the default."""
    allowed = tuple(allowed)
    if value == "" or value in allowed:
        return []
    return [errors.FieldError(path, f'"{value}" is not one of {", ".join(allowed)}')]


def validate_template(
    spec: gameserverset_pb2.GameServerSetSpec, path: str, fleet_replicas: int | None
) -> list[errors.FieldError]:
    """Check every field of a Fleet's GameServerSet template; `path` names the template.

    `fleet_replicas` bounds the rollout partition; None skips that check (replicas are invalid).
    """
    problems: list[errors.FieldError] = []
    if spec.HasField("replicas"):
        problems.append(
            errors.FieldError(
                paths.child(path, "replicas"),
                "must be unset in a Fleet template; set spec.replicas instead",
            )
        )
    template_path = paths.child(path, "gameServerTemplate")
    template_doc = documents.to_document(spec.game_server_template)
    pod_problems = pod_template.pod_template_problems(template_doc, template_path)
    problems += pod_problems
    problems += counters_lists_problems(template_doc, template_path)
    seen_claims: set[str] = set()
    for index, claim in enumerate(spec.volume_claim_templates):
        problems += pod_template.volume_claim_template_problems(
            documents.to_document(claim),
            paths.item(paths.child(path, "volumeClaimTemplates"), index),
            seen_claims,
        )
    problems += choice_problems(
        spec.reclaim_policy, RECLAIM_POLICIES, paths.child(path, "reclaimPolicy")
    )
    if spec.service_name:
        problem = names.dns1123_label_problem(spec.service_name)
        if problem is not None:
            problems.append(
                errors.FieldError(
                    paths.child(path, "serviceName"),
                    f'"{spec.service_name}" is not a valid DNS-1123 label: {problem}',
                )
            )
    problems += _reserve_ids_problems(spec, paths.child(path, "reserveGameServerIds"))
    problems += service_qualities.service_qualities_problems(
        spec.service_qualities,
        paths.child(path, "serviceQualities"),
        None if pod_problems else pod_template.container_names(template_doc),
    )
    if spec.HasField("update_strategy"):
        problems += _update_strategy_problems(
            spec.update_strategy, paths.child(path, "updateStrategy"), fleet_replicas
        )
    if spec.HasField("scale_strategy"):
        problems += _scale_strategy_problems(
            spec.scale_strategy, paths.child(path, "scaleStrategy")
        )
    if spec.HasField("network"):
        problems += _network_problems(spec.network, paths.child(path, "network"))
    if spec.HasField("lifecycle"):
        problems += _lifecycle_problems(spec.lifecycle, paths.child(path, "lifecycle"))
    retention_path = paths.child(path, "persistentVolumeClaimRetentionPolicy")
    retention = spec.persistent_volume_claim_retention_policy
    for field, value in (
        ("whenDeleted", retention.when_deleted),
        ("whenScaled", retention.when_scaled),
    ):
        problems += choice_problems(
            value, PVC_RETENTION_POLICIES, paths.child(retention_path, field)
        )
    return problems


def counters_lists_problems(template: object, path: str) -> list[errors.FieldError]:
    """The template's counters and lists declaration (its ``gamefleet.io/counters-lists``
    annotation, copied onto every GameServer), if it has one."""
    meta = template.get("metadata") if isinstance(template, dict) else None
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    text = annotations.get(capacity.DECLARATION) if isinstance(annotations, dict) else None
    if text is None:
        return []
    where = paths.entry(paths.child(path, "metadata.annotations"), capacity.DECLARATION)
    try:
        capacity.parse(str(text), where)
    except capacity.CapacityError as exc:
        return [errors.FieldError(exc.path, exc.message)]
    return []


def _reserve_ids_problems(
    spec: gameserverset_pb2.GameServerSetSpec, path: str
) -> list[errors.FieldError]:
    items = [
        documents.normalize_numbers(json_format.MessageToDict(value))
        for value in spec.reserve_game_server_ids
    ]
    try:
        reserve_ids.parse_reserve_ids(items)
    except reserve_ids.ReserveIdsError as exc:
        return [errors.FieldError(paths.item(path, exc.index), exc.message)]
    return []


def _update_strategy_problems(
    strategy: gameserverset_pb2.UpdateStrategy, path: str, fleet_replicas: int | None
) -> list[errors.FieldError]:
    problems: list[errors.FieldError] = []
    problems += choice_problems(strategy.type, UPDATE_STRATEGY_TYPES, paths.child(path, "type"))
    if not strategy.HasField("rolling_update"):
        return problems
    rolling = strategy.rolling_update
    rolling_path = paths.child(path, "rollingUpdate")
    partition_limit = rolling.partition if fleet_replicas is None else fleet_replicas
    if rolling.HasField("partition") and not 0 <= rolling.partition <= partition_limit:
        problems.append(
            errors.FieldError(
                paths.child(rolling_path, "partition"),
                f"{rolling.partition} must be between 0 and spec.replicas ({fleet_replicas})",
            )
        )
    if rolling.HasField("max_unavailable"):
        problem = values.int_or_percent_problem(rolling.max_unavailable)
        if problem is not None:
            problems.append(errors.FieldError(paths.child(rolling_path, "maxUnavailable"), problem))
    problems += choice_problems(
        rolling.pod_update_policy, POD_UPDATE_POLICIES, paths.child(rolling_path, "podUpdatePolicy")
    )
    if rolling.HasField("min_ready_seconds") and not (
        0 <= rolling.min_ready_seconds <= limits.MAX_MIN_READY_SECONDS
    ):
        problems.append(
            errors.FieldError(
                paths.child(rolling_path, "minReadySeconds"),
                f"{rolling.min_ready_seconds} must be between 0 and {limits.MAX_MIN_READY_SECONDS}",
            )
        )
    in_place = rolling.in_place_update_strategy
    if in_place.HasField("grace_period_seconds") and in_place.grace_period_seconds < 0:
        problems.append(
            errors.FieldError(
                paths.child(
                    paths.child(rolling_path, "inPlaceUpdateStrategy"), "gracePeriodSeconds"
                ),
                f"{in_place.grace_period_seconds} must not be negative",
            )
        )
    return problems


def _scale_strategy_problems(
    strategy: gameserverset_pb2.ScaleStrategy, path: str
) -> list[errors.FieldError]:
    problems: list[errors.FieldError] = []
    if strategy.HasField("max_unavailable"):
        problem = values.int_or_percent_problem(strategy.max_unavailable)
        if problem is not None:
            problems.append(errors.FieldError(paths.child(path, "maxUnavailable"), problem))
    problems += choice_problems(
        strategy.scale_down_strategy_type,
        SCALE_DOWN_STRATEGY_TYPES,
        paths.child(path, "scaleDownStrategyType"),
    )
    return problems


def _network_problems(network: gameserverset_pb2.Network, path: str) -> list[errors.FieldError]:
    problems: list[errors.FieldError] = []
    type_path = paths.child(path, "networkType")
    if network.network_type and network.network_type not in network_types.NETWORK_TYPES:
        problems.append(
            errors.FieldError(
                type_path,
                f'"{network.network_type}" is not a known network plugin'
                f" (known: {', '.join(network_types.ORDERED_NETWORK_TYPES)})",
            )
        )
    if not network.network_type and network.network_conf:
        problems.append(errors.FieldError(type_path, "is required when networkConf is set"))
    for index, param in enumerate(network.network_conf):
        if not param.name:
            problems.append(
                errors.FieldError(
                    paths.child(paths.item(paths.child(path, "networkConf"), index), "name"),
                    "is required",
                )
            )
    if problems or network.network_type not in network_conf.SUPPORTED:
        # Plugins no agent realises are checked by the agents of the clouds that run them.
        return problems
    conf = [{"name": p.name, "value": p.value} for p in network.network_conf]
    conf_path = paths.child(path, "networkConf")
    for index, message in network_conf.validate_network_conf(network.network_type, conf):
        if index >= 0:
            where, prefix = paths.item(conf_path, index), f"network.networkConf[{index}] "
        elif message.startswith("network.networkConf: "):
            where, prefix = conf_path, "network.networkConf: "
        else:
            where, prefix = type_path, "network.networkType: "
        problems.append(errors.FieldError(where, message.removeprefix(prefix)))
    return problems


def _lifecycle_problems(
    lifecycle: gameserverset_pb2.Lifecycle, path: str
) -> list[errors.FieldError]:
    problems: list[errors.FieldError] = []
    hooks = (
        ("preDelete", lifecycle.pre_delete),
        ("inPlaceUpdate", lifecycle.in_place_update),
        ("preNormal", lifecycle.pre_normal),
    )
    for name, hook in hooks:
        hook_path = paths.child(path, name)
        problems += pod_template.string_map_problems(
            dict(hook.labels_handler), paths.child(hook_path, "labelsHandler"), label_values=True
        )
        finalizers_path = paths.child(hook_path, "finalizersHandler")
        for index, finalizer in enumerate(hook.finalizers_handler):
            problem = names.qualified_name_problem(finalizer)
            if problem is not None:
                problems.append(
                    errors.FieldError(
                        paths.item(finalizers_path, index),
                        f'"{finalizer}" is not a valid finalizer name: {problem}',
                    )
                )
    return problems
