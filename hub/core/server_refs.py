"""Game servers by name: "CLUSTER/NAME", or a bare NAME when only one cluster has it.

Names repeat across clusters (every cluster's `arena` set has an `arena-0`), so a bare name
that matches in several clusters is refused with the list of matches rather than acting on all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from .errors import FieldError, ValidationError
from .paths import item

ServerId = tuple[str, str]  # (cluster, name)


@dataclasses.dataclass(frozen=True)
class Resolution:
    found: list[ServerId]
    # (field path, the name as given) of names no server has.
    missing: list[tuple[str, str]]


def split(text: str) -> ServerId:
    """("cluster", "name") of "cluster/name"; ("", "name") of a bare name."""
    cluster, _, name = text.rpartition("/")
    return cluster, name


def resolve(
    requested: Sequence[str],
    cluster: str,
    present: Iterable[ServerId],
    field: str,
    indexed: bool = True,
) -> Resolution:
    """Each requested name as one (cluster, name) among ``present``; ``cluster`` (may be empty)
    restricts bare names. Raises ValidationError naming ``field[i]`` (``field`` when not
    ``indexed``) for a malformed or ambiguous name."""
    clusters_of: dict[str, list[str]] = {}
    for where, name in present:
        clusters_of.setdefault(name, []).append(where)
    found: list[ServerId] = []
    missing: list[tuple[str, str]] = []
    problems: list[FieldError] = []
    for index, text in enumerate(requested):
        path = item(field, index) if indexed else field
        where, name = split(text)
        if not name or "/" in where or ("/" in text and not where):
            problems.append(FieldError(path, f'"{text}" is not NAME or CLUSTER/NAME'))
            continue
        if where and cluster and where != cluster:
            problems.append(FieldError(path, f'"{text}" is not in cluster {cluster}'))
            continue
        candidates = sorted(clusters_of.get(name, []))
        if where or cluster:
            wanted = where or cluster
            if wanted in candidates:
                found.append((wanted, name))
            else:
                missing.append((path, text if where else f"{cluster}/{name}"))
        elif len(candidates) == 1:
            found.append((candidates[0], name))
        elif not candidates:
            missing.append((path, text))
        else:
            matches = ", ".join(f"{c}/{name}" for c in candidates)
            problems.append(
                FieldError(path, f'"{name}" is in {len(candidates)} clusters: {matches}; '
                           "give CLUSTER/NAME or a cluster")
            )  # fmt: skip
    if problems:
        raise ValidationError(problems)
    return Resolution(found, missing)
