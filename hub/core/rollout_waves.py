"""Waves of a progressive rollout: which clusters get a changed template together."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from gamefleet.v1 import fleet_pb2

from . import rollout


@dataclasses.dataclass(frozen=True)
class Wave:
    clusters: tuple[str, ...]
    # At most this many of its clusters update at once (None: all of them).
    max_concurrency: int | None = None


def waves(fleet: fleet_pb2.Fleet, clusters: Mapping[str, Mapping[str, str]]) -> list[Wave]:
    """The waves over the fleet's placed ``clusters`` (name → labels), in order.

    A cluster belongs to the first wave that takes it; waves that take none are dropped.
    """
    spec = fleet.spec.rollout
    order = rollout.cluster_order(fleet, list(clusters))
    default = spec.max_concurrency if spec.HasField("max_concurrency") else None
    taken: set[str] = set()
    planned: list[Wave] = []

    def add(members: list[str], limit: int | None) -> None:
        fresh = tuple(dict.fromkeys(c for c in members if c in clusters and c not in taken))
        taken.update(fresh)
        if fresh:
            planned.append(Wave(fresh, limit))

    for wave in spec.waves:
        members = list(wave.clusters)
        labels = dict(wave.match_labels)
        if labels:
            members += [c for c in order if labels.items() <= dict(clusters[c]).items()]
        if wave.HasField("percent"):
            share = math.ceil(wave.percent * len(order) / 100)
            room = max(0, share - len(taken | set(members)))
            members += [c for c in order if c not in taken and c not in members][:room]
        add(members, wave.max_concurrency if wave.HasField("max_concurrency") else default)
    key = spec.by_label.key
    for value in spec.by_label.values:
        add([c for c in order if clusters[c].get(key) == value], default)
    if not spec.waves and not key:
        for cluster in order:
            add([cluster], default)
    add(order, default)
    return planned
