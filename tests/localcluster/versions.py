"""The pinned versions (from versions.env) and where their binaries are cached."""

from __future__ import annotations

import os
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
VERSIONS_FILE = HERE / "versions.env"
BUILD_SCRIPT = HERE / "build.sh"

_VERSION_KEY = {
    "etcd": "ETCD_VERSION",
    "kube-apiserver": "KUBERNETES_VERSION",
    "kube-controller-manager": "KUBERNETES_VERSION",
    "kube-scheduler": "KUBERNETES_VERSION",
    "kubectl": "KUBERNETES_VERSION",
    "kwok": "KWOK_VERSION",
}
# What a local cluster runs (the cluster fixtures check these).
BINARIES = tuple(_VERSION_KEY)
# Tools of the install and observability tests (charts, KEDA, exposition checks), built by the
# same script; a test that needs one fails when it is missing (tool_path).
_VERSION_KEY |= {
    "helm": "HELM_VERSION",
    "promtool": "PROMETHEUS_VERSION",
    "keda-operator": "KEDA_VERSION",
    "keda-adapter": "KEDA_VERSION",
}
TOOLS = tuple(name for name in _VERSION_KEY if name not in BINARIES)


class BinaryMissingError(RuntimeError):
    """A pinned binary is not in the cache."""


def pins() -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in VERSIONS_FILE.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def cache_dir() -> pathlib.Path:
    if explicit := os.environ.get("GAMEFLEET_CACHE"):
        return pathlib.Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(pathlib.Path.home() / ".cache")
    return pathlib.Path(xdg) / "gamefleet"


def version_of(name: str) -> str:
    if name not in _VERSION_KEY:
        raise KeyError(f"unknown binary {name!r}; known: {', '.join(_VERSION_KEY)}")
    return pins()[_VERSION_KEY[name]]


# Binaries built with gamefleet's patches (build.sh): their cache tag names the patch too.
_PATCH_KEY = {"kwok": "KWOK_PATCH"}


def binary_dir(name: str) -> pathlib.Path:
    tag = version_of(name)
    if name in _PATCH_KEY:
        tag += "+" + pins()[_PATCH_KEY[name]]
    return cache_dir() / "bin" / f"{name}-{tag}"


def binary_path(name: str) -> pathlib.Path:
    """Path of a pinned binary; raises BinaryMissingError saying how to build it."""
    path = binary_dir(name) / name
    if not os.access(path, os.X_OK):
        raise BinaryMissingError(
            f"{name} {version_of(name)} is not built: expected {path}. "
            f"Run `make cluster-binaries` (or `bash {BUILD_SCRIPT}`)."
        )
    return path


def kwok_file(name: str) -> pathlib.Path:
    """stages.yaml or crds.yaml, copied from the pinned kwok release by build.sh."""
    path = binary_dir("kwok") / name
    if not path.is_file():
        raise BinaryMissingError(f"kwok {name} missing at {path}; run `make cluster-binaries`.")
    return path


def missing_binaries() -> list[str]:
    missing = [
        f"kwok {f}" for f in ("stages.yaml", "crds.yaml") if not (binary_dir("kwok") / f).is_file()
    ]
    for name in BINARIES:
        try:
            binary_path(name)
        except BinaryMissingError:
            missing.append(name)
    return missing
