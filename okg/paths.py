"""Field paths in the form users write them: `spec.template.network.networkType`."""

from __future__ import annotations

import json
import re

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def child(path: str, name: str) -> str:
    """The path of field `name` inside the object at `path`."""
    return f"{path}.{name}" if path else name


def item(path: str, index: int) -> str:
    """The path of element `index` of the list at `path`."""
    return f"{path}[{index}]"


def entry(path: str, key: str) -> str:
    """The path of the value under `key` in the map at `path`."""
    return f"{path}[{json.dumps(key)}]"


def key(path: str, name: str) -> str:
    """The path of `name` in a JSON object at `path`: a field (`.name`) when it reads as one,
    else an entry (`["name"]`), so that no key can make the path ambiguous."""
    return child(path, name) if _NAME.fullmatch(name) else entry(path, name)


def under(prefix: str, relative: str) -> str:
    """`relative`, a path from the object at `prefix`, as a path from the root."""
    if not prefix:
        return relative
    if not relative or relative.startswith("["):
        return f"{prefix}{relative}"
    return f"{prefix}.{relative}"
