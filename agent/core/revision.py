"""Name a pod template's revision, and the images a given server should run."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import TYPE_CHECKING, Any

from . import model

if TYPE_CHECKING:
    from collections.abc import Mapping

_HASH_CHARS = 16


def template_revision(template: Mapping[str, Any]) -> model.TemplateRevision:
    """Hash a pod template (a PodTemplateSpec as a dict) into its revision and shape."""
    images = tuple(
        model.ContainerImage(name=str(c.get("name", "")), image=str(c.get("image", "")))
        for c in _containers(template)
    )
    shapeless = copy.deepcopy(dict(template))
    for container in _containers(shapeless):
        container["image"] = ""
    return model.TemplateRevision(name=_hash(template), shape=_hash(shapeless), images=images)


def _containers(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = template.get("spec") or {}
    containers = spec.get("containers") or []
    return [c for c in containers if isinstance(c, dict)]


def _hash(value: object) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:_HASH_CHARS]


def images_for(
    template_images: tuple[model.ContainerImage, ...],
    overrides: tuple[model.ContainerImage, ...],
) -> tuple[model.ContainerImage, ...]:
    """The template's images with this server's own images (GameServer.spec.containers) on top."""
    by_name = {o.name: o.image for o in overrides if o.image}
    return tuple(
        model.ContainerImage(name=c.name, image=by_name.get(c.name, c.image))
        for c in template_images
    )
