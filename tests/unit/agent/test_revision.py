"""Template revisions and per-server images."""

from __future__ import annotations

from typing import Any

from agent.core import model, revision


def template(image: str, *, env: str = "a") -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "game"}},
        "spec": {
            "containers": [
                {"name": "game", "image": image, "env": [{"name": "E", "value": env}]},
                {"name": "sidecar", "image": "cfg:1"},
            ]
        },
    }


def test_image_change_keeps_the_shape() -> None:
    old = revision.template_revision(template("game:1"))
    new = revision.template_revision(template("game:2"))
    assert old.name != new.name
    assert old.shape == new.shape
    assert new.images == (
        model.ContainerImage("game", "game:2"),
        model.ContainerImage("sidecar", "cfg:1"),
    )


def test_other_changes_change_the_shape() -> None:
    old = revision.template_revision(template("game:1"))
    assert revision.template_revision(template("game:1", env="b")).shape != old.shape


def test_revision_is_stable_and_does_not_mutate_the_template() -> None:
    spec = template("game:1")
    assert revision.template_revision(spec) == revision.template_revision(template("game:1"))
    assert spec["spec"]["containers"][0]["image"] == "game:1"


def test_images_for_applies_overrides_by_name() -> None:
    base = (model.ContainerImage("game", "game:1"), model.ContainerImage("sidecar", "cfg:1"))
    overrides = (model.ContainerImage("sidecar", "cfg:9"), model.ContainerImage("ghost", "x:1"))
    assert revision.images_for(base, overrides) == (
        model.ContainerImage("game", "game:1"),
        model.ContainerImage("sidecar", "cfg:9"),
    )
