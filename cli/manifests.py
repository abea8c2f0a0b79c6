"""Manifests users write: a gamefleet Fleet or FleetAutoscaler, or a plain OKG GameServerSet
wrapped in a Fleet."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from gamefleet.v1 import autoscaler_pb2, fleet_pb2

from hub.core import documents
from hub.core import errors as core_errors
from okg import vocabulary

from .errors import CliError

FLEET_API_VERSION = "gamefleet.io/v1"
# The apiVersion manifests carried before the project settled on one domain; still read.
LEGACY_FLEET_API_VERSION = "gamefleet.dev/v1"


Manifest = fleet_pb2.Fleet | autoscaler_pb2.FleetAutoscaler


def load_fleets(source: str) -> list[fleet_pb2.Fleet]:
    """Every Fleet in the YAML file ``source`` ("-" for standard input)."""
    return [doc for doc in load_objects(source) if isinstance(doc, fleet_pb2.Fleet)]


def load_objects(source: str) -> list[Manifest]:
    """Every Fleet and FleetAutoscaler in the YAML file ``source`` ("-" for standard input),
    in the file's order."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise CliError(f"-f: cannot read {source}: {exc.strerror}") from exc
    try:
        docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise CliError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from exc
    if not docs:
        raise CliError(f"{source}: no documents")
    return [_to_object(doc, f"{source}: document {index}") for index, doc in enumerate(docs, 1)]


def _to_object(doc: Any, where: str) -> Manifest:
    if not isinstance(doc, dict):
        raise CliError(f"{where}: expected a mapping with apiVersion and kind")
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    try:
        ours = api_version in (FLEET_API_VERSION, LEGACY_FLEET_API_VERSION)
        if ours and kind == "Fleet":
            return _fleet(doc)
        if ours and kind == "FleetAutoscaler":
            return documents.from_document(
                {"metadata": _metadata(doc), "spec": doc.get("spec") or {}},
                autoscaler_pb2.FleetAutoscaler,
            )
        if (api_version, kind) == (vocabulary.API_VERSION, "GameServerSet"):
            return _wrap_game_server_set(doc)
    except core_errors.ValidationError as exc:
        raise CliError(f"{where}: {exc}") from exc
    raise CliError(
        f"{where}: apiVersion/kind {api_version}/{kind} is none of {FLEET_API_VERSION}/Fleet, "
        f"{FLEET_API_VERSION}/FleetAutoscaler and {vocabulary.API_VERSION}/GameServerSet"
    )


def _metadata(doc: dict[str, Any]) -> dict[str, Any]:
    metadata = doc.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise core_errors.ValidationError(
            (core_errors.FieldError("metadata", "must be a mapping"),)
        )
    known = {"name", "namespace", "labels", "annotations"}
    return {key: value for key, value in metadata.items() if key in known}


def _fleet(doc: dict[str, Any]) -> fleet_pb2.Fleet:
    return documents.from_document(
        {"metadata": _metadata(doc), "spec": doc.get("spec") or {}}, fleet_pb2.Fleet
    )


def _wrap_game_server_set(doc: dict[str, Any]) -> fleet_pb2.Fleet:
    spec = dict(doc.get("spec") or {})
    fleet_spec: dict[str, Any] = {"template": spec}
    if "replicas" in spec:
        fleet_spec["replicas"] = spec.pop("replicas")
    return documents.from_document(
        {"metadata": _metadata(doc), "spec": fleet_spec}, fleet_pb2.Fleet
    )
