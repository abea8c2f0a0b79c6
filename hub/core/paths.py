"""Field paths in the form users write them: `spec.template.network.networkType`."""

from __future__ import annotations

import json


def child(path: str, name: str) -> str:
    """The path of field `name` inside the object at `path`."""
    return f"{path}.{name}" if path else name


def item(path: str, index: int) -> str:
    """The path of element `index` of the list at `path`."""
    return f"{path}[{index}]"


def entry(path: str, key: str) -> str:
    """The path of the value under `key` in the map at `path`."""
    return f"{path}[{json.dumps(key)}]"
