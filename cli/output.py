"""kubectl-like tables and YAML/JSON output."""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Mapping, Sequence
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


class RowStream:
    """Rows printed as they come (``get -w``): the header once, each row padded to the widest
    cell seen so far in its column, flushed at once."""

    def __init__(self, headers: Sequence[str]) -> None:
        self._widths = [len(header) for header in headers]
        self._headers = list(headers)
        self._started = False

    def _write(self, cells: Sequence[str]) -> None:
        self._widths = [max(w, len(c)) for w, c in zip(self._widths, cells, strict=True)]
        line = "   ".join(c.ljust(w) for c, w in zip(cells, self._widths, strict=True))
        sys.stdout.write(line.rstrip() + "\n")
        sys.stdout.flush()

    def row(self, cells: Sequence[object]) -> None:
        if not self._started:
            self._started = True
            self._write(self._headers)
        self._write([str(cell) for cell in cells])


def print_watched_document(doc: dict[str, Any], fmt: str) -> None:
    """One object of a watch in YAML (a document each) or JSON (an object each)."""
    if fmt == "json":
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        sys.stdout.write("---\n" + yaml.safe_dump(doc, sort_keys=False))
    sys.stdout.flush()


def print_fields(pairs: Sequence[tuple[str, object]], indent: int = 0) -> None:
    """``Key:  value`` lines aligned as ``kubectl describe`` aligns them."""
    width = max((len(key) for key, _ in pairs), default=0) + 2
    for key, value in pairs:
        text = str(value) if value not in ("", None) else "<none>"
        sys.stdout.write(f"{' ' * indent}{(key + ':').ljust(width)}{text}\n".rstrip() + "\n")


def print_section(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A titled, indented table with a dashed underline, or ``Title:  <none>`` when empty."""
    if not rows:
        sys.stdout.write(f"{title}:  <none>\n")
        return
    sys.stdout.write(f"{title}:\n")
    cells = [list(headers), ["-" * len(h) for h in headers]]
    cells += [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
        sys.stdout.write(("  " + line).rstrip() + "\n")


def labels_text(labels: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
