"""Reading `google.protobuf.Value` fields: whole numbers, int-or-percent, priorities."""

from __future__ import annotations

import json
import math
import re

from google.protobuf import json_format, struct_pb2

from . import documents

_PERCENT = re.compile(r"(\d+)%")
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")
TEMPLATE_MARKER = "{{"


def whole_number(value: struct_pb2.Value) -> int | None:
    """The integer a number Value holds, or None for other kinds and fractional numbers."""
    if value.WhichOneof("kind") != "number_value":
        return None
    number = value.number_value
    if not math.isfinite(number) or not number.is_integer():
        return None
    return int(number)


def describe(value: struct_pb2.Value) -> str:
    """The Value as compact JSON, for messages."""
    plain = documents.normalize_numbers(json_format.MessageToDict(value))
    return json.dumps(plain, separators=(",", ":"))


def int_or_percent_problem(value: struct_pb2.Value) -> str | None:
    """Check a positive count or a percentage from 1% to 100%, as `maxUnavailable` takes."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = whole_number(value)
        if number is None or number < 1:
            return f"{describe(value)} must be an integer of at least 1 or a percentage"
        return None
    if kind == "string_value":
        match = _PERCENT.fullmatch(value.string_value)
        if match is None or not 1 <= int(match.group(1)) <= 100:
            return f"{describe(value)} must be an integer of at least 1 or a percentage 1%-100%"
        return None
    return f"{describe(value)} must be an integer of at least 1 or a percentage"


def priority_problem(value: struct_pb2.Value) -> str | None:
    """Check a priority: an integer, an integer string, or a Go template (OKG v1.1)."""
    kind = value.WhichOneof("kind")
    if kind == "number_value" and whole_number(value) is not None:
        return None
    if kind == "string_value":
        text = value.string_value
        if _INTEGER_TEXT.fullmatch(text) or TEMPLATE_MARKER in text:
            return None
    return f"{describe(value)} must be an integer, an integer string or a template"
