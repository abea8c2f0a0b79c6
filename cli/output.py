"""kubectl-like tables and YAML/JSON output."""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Sequence
from typing import Any

import yaml
from google.protobuf import json_format, message, timestamp_pb2

# proto3 JSON writes int64 as strings; these read better as numbers.
_INT64_FIELDS = frozenset({"generation", "revision", "observedGeneration", "pods"})


def _numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: int(item) if key in _INT64_FIELDS and isinstance(item, str) else _numbers(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_numbers(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def document(msg: message.Message, api_version: str, kind: str) -> dict[str, Any]:
    body = _numbers(json_format.MessageToDict(msg))
    return {"apiVersion": api_version, "kind": kind, **body}


def print_documents(docs: Sequence[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        payload: Any = docs[0] if len(docs) == 1 else {"items": list(docs)}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        sys.stdout.write(yaml.safe_dump_all(list(docs), sort_keys=False))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [list(headers)] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        sys.stdout.write("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        sys.stdout.write("\n")


def age(stamp: timestamp_pb2.Timestamp, now: datetime.datetime | None = None) -> str:
    if not stamp.seconds:
        return "<unknown>"
    now = now or datetime.datetime.now(datetime.UTC)
    seconds = max(0, int((now - stamp.ToDatetime(datetime.UTC)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2 or (unit == "m" and seconds >= 60):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
