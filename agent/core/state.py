"""Derive a GameServer's state from its pod, and the pod metadata a GameServer dictates."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from okg import capacity, vocabulary

from . import intstr, model, wire

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


def derive_state(pod: model.PodView) -> vocabulary.GameServerState:
    """Read the GameServer state off its pod, in OKG's order of precedence."""
    if pod.deleting:
        return vocabulary.GameServerState.DELETING
    if pod.held_pre_delete:
        return vocabulary.GameServerState.PRE_DELETE
    if pod.held_pre_update:
        return vocabulary.GameServerState.PRE_UPDATE
    if pod.in_place_updating:
        return vocabulary.GameServerState.UPDATING
    if pod.phase is model.PodPhase.FAILED:
        return vocabulary.GameServerState.CRASH
    if pod.phase is model.PodPhase.PENDING:
        return vocabulary.GameServerState.CREATING
    if pod.ready is True:
        return vocabulary.GameServerState.READY
    if pod.ready is False:
        return vocabulary.GameServerState.NOT_READY
    return vocabulary.GameServerState.UNKNOWN


def kruise_pod_ready(pod: model.PodView, mark_pre_delete: bool, mark_pre_update: bool) -> bool:
    """The pod's `KruisePodReady` condition when its set's lifecycle hooks ask to mark pods not
    ready (`markPodNotReady`): False while the hook's phase has the pod (held PreDelete; held
    PreUpdate or being updated in place), so Services stop sending it players first."""
    if mark_pre_delete and pod.held_pre_delete:
        return False
    return not (mark_pre_update and (pod.held_pre_update or pod.in_place_updating))


def desired_network_state(network_disabled: bool) -> vocabulary.NetworkState:
    """A disabled network should be NotReady; any other should be Ready."""
    return vocabulary.NetworkState.NOT_READY if network_disabled else vocabulary.NetworkState.READY


def synced_to_pod(metadata: Mapping[str, str]) -> dict[str, str]:
    """The GameServer labels or annotations that are copied to its pod (the `gs-sync/` ones)."""
    return {k: v for k, v in metadata.items() if k.startswith(wire.GS_SYNC_PREFIX)}


def pod_labels(
    gs: model.GameServerView,
    state: vocabulary.GameServerState,
    players: bool | None = None,
) -> dict[str, str]:
    """The labels a GameServer puts on its pod: OKG's wire labels plus its `gs-sync/` labels,
    and `gamefleet.io/holds-players` while players are on its counters or lists (``players``
    when the caller has read it already, e.g. `PodView.holds_players`)."""
    labels = synced_to_pod(gs.labels)
    if holds_players(gs.annotations) if players is None else players:
        labels[wire.HOLDS_PLAYERS] = "true"
    labels.update(
        {
            wire.OWNER_GSS: gs.owner,
            wire.GS_STATE: state.value,
            wire.GS_OPS_STATE: gs.ops_state,
            wire.GS_UPDATE_PRIORITY: str(intstr.priority_value(gs.update_priority)),
            wire.GS_DELETE_PRIORITY: str(intstr.priority_value(gs.deletion_priority)),
            wire.NETWORK_DISABLED: "true" if gs.network_disabled else "false",
        }
    )
    return labels


def holds_players(annotations: Mapping[str, str]) -> bool:
    """Players on the GameServer's counters or lists (`okg.capacity.Capacity.in_use`)."""
    held = capacity.current(annotations) if capacity.DECLARATION in annotations else None
    return held is not None and held.in_use()


def label_changes(current: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str | None]:
    """The pod label patch from ``current`` to ``wanted``: the labels that differ, and the
    players' label removed once the server holds none (None deletes it in a merge patch)."""
    changes: dict[str, str | None] = {k: v for k, v in wanted.items() if current.get(k) != v}
    if wire.HOLDS_PLAYERS in current and wire.HOLDS_PLAYERS not in wanted:
        changes[wire.HOLDS_PLAYERS] = None
    return changes


def pod_annotations(gs: model.GameServerView) -> dict[str, str]:
    """The annotations a GameServer puts on its pod: its `gs-sync/` annotations."""
    return synced_to_pod(gs.annotations)


def changed_time_annotations(
    current_labels: Mapping[str, str], wanted_labels: Mapping[str, str], now: str
) -> dict[str, str]:
    """Stamp `now` (RFC 3339) on the annotations whose label changes with this patch."""
    stamps = {
        wire.GS_OPS_STATE: wire.OPS_STATE_LAST_CHANGED,
        wire.GS_STATE: wire.STATE_LAST_CHANGED,
    }
    return {
        annotation: now
        for label, annotation in stamps.items()
        if current_labels.get(label) != wanted_labels.get(label)
    }


def pod_view_ops(labels: Mapping[str, str]) -> tuple[vocabulary.OpsState, int, int]:
    """Read ops state, update priority and deletion priority from a pod's labels."""
    return (
        vocabulary.OpsState.from_wire(labels.get(wire.GS_OPS_STATE)),
        intstr.priority_value(labels.get(wire.GS_UPDATE_PRIORITY)),
        intstr.priority_value(labels.get(wire.GS_DELETE_PRIORITY)),
    )


def game_server_name(set_name: str, ordinal: int) -> str:
    """The name shared by a game server's pod and GameServer: `<set>-<ordinal>`."""
    return f"{set_name}-{ordinal}"


def ordinal_from_name(set_name: str, name: str) -> int | None:
    """The ordinal in a pod or GameServer name of this set, or None if it is not one of its own."""
    prefix = f"{set_name}-"
    suffix = name.removeprefix(prefix)
    if suffix == name or not suffix.isdigit() or (len(suffix) > 1 and suffix.startswith("0")):
        return None
    return int(suffix)


def new_game_server(
    set_name: str,
    ordinal: int,
    template_labels: Mapping[str, str],
    template_annotations: Mapping[str, str],
) -> model.GameServerView:
    """A fresh GameServer: opsState None, priorities 0, network enabled, the template's metadata."""
    labels = dict(template_labels)
    labels[wire.OWNER_GSS] = set_name
    return model.GameServerView(
        name=game_server_name(set_name, ordinal),
        owner=set_name,
        labels=labels,
        annotations=dict(template_annotations),
    )


def template_metadata_hash(labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """The `gsTemplate-metadata-hash` of a template's labels and annotations: a 32-bit FNV-1
    hash in decimal, as OKG writes it (over canonical JSON here, not Go's printout, so the
    value differs from OKG's: only equality with the agent's own earlier value is read)."""
    text = json.dumps({"annotations": annotations, "labels": labels}, sort_keys=True)
    value = 0x811C9DC5
    for byte in text.encode():
        value = (value * 0x01000193) & 0xFFFFFFFF
        value ^= byte
    return str(value)


def game_server_metadata(
    gs_labels: Mapping[str, str],
    gs_annotations: Mapping[str, str],
    template_labels: Mapping[str, str],
    template_annotations: Mapping[str, str],
    node_name: str,
) -> tuple[dict[str, str], dict[str, str]]:
    """The labels and annotations a GameServer lacks, as OKG syncs them: the template's
    metadata (again whenever its hash changes) and the `node-name` of its pod's node."""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    digest = template_metadata_hash(template_labels, template_annotations)
    if gs_annotations.get(wire.TEMPLATE_METADATA_HASH) != digest:
        labels.update(template_labels)
        annotations.update(template_annotations)
        annotations[wire.TEMPLATE_METADATA_HASH] = digest
    if node_name:
        labels[wire.NODE_NAME] = node_name
    return (
        {k: v for k, v in labels.items() if gs_labels.get(k) != v},
        {k: v for k, v in annotations.items() if gs_annotations.get(k) != v},
    )


def updating_containers(
    statuses: Iterable[Mapping[str, object]], template_images: Mapping[str, str]
) -> str:
    """OKG's `gs-updating-containers` value: the containers whose running image differs from
    the template's, comma-separated."""
    return ",".join(
        str(s.get("name"))
        for s in statuses
        if s.get("name") in template_images and s.get("image") != template_images[str(s["name"])]
    )
