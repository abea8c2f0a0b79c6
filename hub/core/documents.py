"""Conversion between protobuf messages and JSON-shaped documents (parsed YAML or JSON).

Documents use the proto JSON field names, which equal the camelCase names of OKG manifests.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from gamefleet import protocol
from google.protobuf import (
    descriptor,
    duration_pb2,
    json_format,
    message,
    struct_pb2,
    timestamp_pb2,
)

from . import errors, limits, paths

MessageT = TypeVar("MessageT", bound=message.Message)

_FD = descriptor.FieldDescriptor

_INTEGER_RANGES: dict[int, tuple[int, int]] = {
    _FD.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    _FD.CPPTYPE_UINT32: (0, 2**32 - 1),
    _FD.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    _FD.CPPTYPE_UINT64: (0, 2**64 - 1),
}

_JSON_VALUE_TYPE = "google.protobuf.Value"
_JSON_OBJECT_TYPE = "google.protobuf.Struct"
_JSON_LIST_TYPE = "google.protobuf.ListValue"
_TIMESTAMP_TYPE = "google.protobuf.Timestamp"
_DURATION_TYPE = "google.protobuf.Duration"


def to_document(msg: message.Message) -> dict[str, Any]:
    """Render `msg` as a document: proto JSON names, set fields only, whole numbers as ints."""
    rendered = json_format.MessageToDict(msg)
    result = normalize_numbers(rendered)
    assert isinstance(result, dict)
    return result


def normalize_numbers(value: Any) -> Any:
    """Return `value` with every whole-number float turned into an int, recursively."""
    return protocol.whole_numbers(value)


def from_document(doc: Any, message_type: type[MessageT], path: str = "") -> MessageT:
    """Parse a document into a `message_type`, or raise ValidationError naming each bad field.

    `path` prefixes every reported path, for documents nested in a larger one.
    """
    problems: list[errors.FieldError] = []
    _check_message(doc, cast(descriptor.Descriptor, message_type.DESCRIPTOR), path, problems)
    if problems:
        raise errors.ValidationError(problems)
    result = message_type()
    try:
        json_format.ParseDict(doc, result)
    except json_format.ParseError as exc:
        raise errors.ValidationError([errors.FieldError(path, str(exc))]) from exc
    return result


def message_problems(msg: message.Message, path: str = "") -> list[errors.FieldError]:
    """What a message holds that no document can: numbers that are not finite, and Durations or
    Timestamps outside their definitions' ranges. Every other check renders messages as
    documents, which fails on these, so callers check this first."""
    problems: list[errors.FieldError] = []
    _walk_message(msg, path, problems)
    return problems


def duration_problem(duration: duration_pb2.Duration) -> str | None:
    """Why a Duration is outside google.protobuf.Duration's range, or None."""
    seconds, nanos = duration.seconds, duration.nanos
    most = limits.MAX_DURATION_SECONDS
    if not -most <= seconds <= most:
        return f"seconds must be between -{most} and {most}"
    if not -limits.NANOS_PER_SECOND < nanos < limits.NANOS_PER_SECOND:
        return "nanos must be between -999999999 and 999999999"
    if (seconds > 0 and nanos < 0) or (seconds < 0 and nanos > 0):
        return "seconds and nanos must have the same sign"
    return None


# 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, google.protobuf.Timestamp's range.
_MIN_TIMESTAMP_SECONDS = -62_135_596_800
_MAX_TIMESTAMP_SECONDS = 253_402_300_799


def _timestamp_problem(stamp: timestamp_pb2.Timestamp) -> str | None:
    if not _MIN_TIMESTAMP_SECONDS <= stamp.seconds <= _MAX_TIMESTAMP_SECONDS:
        return "seconds must be between 0001-01-01 and 9999-12-31"
    if not 0 <= stamp.nanos < limits.NANOS_PER_SECOND:
        return "nanos must be between 0 and 999999999"
    return None


def _walk_message(msg: message.Message, path: str, problems: list[errors.FieldError]) -> None:
    full_name = msg.DESCRIPTOR.full_name
    if full_name == _JSON_VALUE_TYPE:
        _walk_value(cast(struct_pb2.Value, msg), path, problems)
        return
    if full_name == _JSON_OBJECT_TYPE:
        for key, value in cast(struct_pb2.Struct, msg).fields.items():
            _walk_value(value, paths.key(path, key), problems)
        return
    if full_name == _JSON_LIST_TYPE:
        for index, value in enumerate(cast(struct_pb2.ListValue, msg).values):
            _walk_value(value, paths.item(path, index), problems)
        return
    if full_name == _DURATION_TYPE:
        problem = duration_problem(cast(duration_pb2.Duration, msg))
        if problem is not None:
            problems.append(errors.FieldError(path, problem))
        return
    if full_name == _TIMESTAMP_TYPE:
        problem = _timestamp_problem(cast(timestamp_pb2.Timestamp, msg))
        if problem is not None:
            problems.append(errors.FieldError(path, problem))
        return
    for field, value in msg.ListFields():
        field_path = paths.child(path, field.json_name)
        entry_type = field.message_type
        if entry_type is not None and entry_type.GetOptions().map_entry:
            inner_field = entry_type.fields_by_name["value"]
            for key, inner in value.items():
                _walk_single(inner, inner_field, paths.entry(field_path, str(key)), problems)
        elif field.is_repeated:
            for index, inner in enumerate(value):
                _walk_single(inner, field, paths.item(field_path, index), problems)
        else:
            _walk_single(value, field, field_path, problems)


def _walk_single(
    value: Any, field: descriptor.FieldDescriptor, path: str, problems: list[errors.FieldError]
) -> None:
    if field.cpp_type == _FD.CPPTYPE_MESSAGE:
        _walk_message(value, path, problems)
    elif field.cpp_type in (_FD.CPPTYPE_DOUBLE, _FD.CPPTYPE_FLOAT) and not math.isfinite(value):
        problems.append(errors.FieldError(path, "must be a finite number"))


def _walk_value(value: struct_pb2.Value, path: str, problems: list[errors.FieldError]) -> None:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        if not math.isfinite(value.number_value):
            problems.append(errors.FieldError(path, "must be a finite number"))
    elif kind == "struct_value":
        _walk_message(value.struct_value, path, problems)
    elif kind == "list_value":
        _walk_message(value.list_value, path, problems)


def largest_field(msg: message.Message, path: str = "") -> str:
    """The path of the field that makes ``msg`` big: the largest set field, followed down through
    single nested messages (not into lists, maps or JSON documents)."""
    while True:
        fields = msg.ListFields()
        if not fields or msg.DESCRIPTOR.full_name.startswith("google.protobuf."):
            return path
        field, value = max(fields, key=lambda pair: _field_bytes(*pair))
        path = paths.child(path, field.json_name)
        if field.cpp_type != _FD.CPPTYPE_MESSAGE or field.is_repeated:
            return path
        msg = value


def _field_bytes(field: descriptor.FieldDescriptor, value: Any) -> int:
    """Roughly how many bytes a set field serializes to."""
    items = value.values() if isinstance(value, Mapping) else value
    if not field.is_repeated:
        items = [value]
    total = 0
    for item in items:
        if isinstance(item, message.Message):
            total += item.ByteSize()
        elif isinstance(item, str | bytes):
            total += len(item)
        else:
            total += 8
    if isinstance(value, Mapping):
        total += sum(len(str(key)) for key in value)
    return total


def kind_of(value: Any) -> str:
    """How a message names the JSON kind of `value`: "a string", "an object", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _check_message(
    doc: Any, desc: descriptor.Descriptor, path: str, problems: list[errors.FieldError]
) -> None:
    full_name = desc.full_name
    if full_name == _JSON_VALUE_TYPE:
        _check_json(doc, path, problems)
        return
    if full_name == _JSON_LIST_TYPE:
        if not isinstance(doc, list):
            problems.append(errors.FieldError(path, f"must be a list, not {kind_of(doc)}"))
            return
        _check_json(doc, path, problems)
        return
    if full_name == _TIMESTAMP_TYPE:
        _check_timestamp(doc, path, problems)
        return
    if full_name == _DURATION_TYPE:
        _check_duration(doc, path, problems)
        return
    if not isinstance(doc, dict):
        problems.append(errors.FieldError(path, f"must be an object, not {kind_of(doc)}"))
        return
    if full_name == _JSON_OBJECT_TYPE:
        _check_json(doc, path, problems)
        return
    fields: dict[str, descriptor.FieldDescriptor] = {}
    for declared in desc.fields:
        fields[declared.name] = declared
        fields[declared.json_name] = declared
    for key, value in doc.items():
        if not isinstance(key, str):
            problems.append(errors.FieldError(path, f"field names must be strings, not {key!r}"))
            continue
        field_path = paths.key(path, key)
        field = fields.get(key)
        if field is None:
            problems.append(errors.FieldError(field_path, "unknown field"))
        elif value is not None:
            _check_field(value, field, field_path, problems)


def _check_field(
    value: Any, field: descriptor.FieldDescriptor, path: str, problems: list[errors.FieldError]
) -> None:
    entry_type = field.message_type
    if entry_type is not None and entry_type.GetOptions().map_entry:
        if not isinstance(value, dict):
            problems.append(errors.FieldError(path, f"must be an object, not {kind_of(value)}"))
            return
        value_field = entry_type.fields_by_name["value"]
        for key, inner in value.items():
            if not isinstance(key, str):
                problems.append(errors.FieldError(path, f"keys must be strings, not {key!r}"))
                continue
            _check_single(inner, value_field, paths.entry(path, key), problems)
        return
    if field.is_repeated:
        if not isinstance(value, list):
            problems.append(errors.FieldError(path, f"must be a list, not {kind_of(value)}"))
            return
        for index, inner in enumerate(value):
            _check_single(inner, field, paths.item(path, index), problems)
        return
    _check_single(value, field, path, problems)


def _check_single(
    value: Any, field: descriptor.FieldDescriptor, path: str, problems: list[errors.FieldError]
) -> None:
    cpp_type = field.cpp_type
    if cpp_type == _FD.CPPTYPE_MESSAGE:
        message_desc = field.message_type
        assert message_desc is not None
        if value is None and message_desc.full_name != _JSON_VALUE_TYPE:
            problems.append(errors.FieldError(path, "must not be null"))
            return
        _check_message(value, message_desc, path, problems)
    elif cpp_type == _FD.CPPTYPE_STRING:
        if not isinstance(value, str):
            problems.append(errors.FieldError(path, f"must be a string, not {kind_of(value)}"))
    elif cpp_type == _FD.CPPTYPE_BOOL:
        if not isinstance(value, bool):
            problems.append(errors.FieldError(path, f"must be a boolean, not {kind_of(value)}"))
    elif cpp_type in _INTEGER_RANGES:
        _check_integer(value, _INTEGER_RANGES[cpp_type], path, problems)
    elif cpp_type in (_FD.CPPTYPE_DOUBLE, _FD.CPPTYPE_FLOAT):
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(errors.FieldError(path, f"must be a number, not {kind_of(value)}"))
    elif cpp_type == _FD.CPPTYPE_ENUM and not isinstance(value, str | int):
        problems.append(
            errors.FieldError(path, f"must be a name or a number, not {kind_of(value)}")
        )


def _check_integer(
    value: Any, bounds: tuple[int, int], path: str, problems: list[errors.FieldError]
) -> None:
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            number = None
    if number is None:
        problems.append(errors.FieldError(path, f"must be an integer, not {_describe(value)}"))
        return
    low, high = bounds
    if not low <= number <= high:
        problems.append(errors.FieldError(path, f"must be between {low} and {high}"))


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float):
        return repr(value)
    return kind_of(value)


def _check_json(value: Any, path: str, problems: list[errors.FieldError]) -> None:
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            problems.append(errors.FieldError(path, "must be a finite number"))
        return
    if isinstance(value, list):
        for index, inner in enumerate(value):
            _check_json(inner, paths.item(path, index), problems)
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str):
                problems.append(errors.FieldError(path, f"keys must be strings, not {key!r}"))
                continue
            _check_json(inner, paths.key(path, key), problems)
        return
    problems.append(errors.FieldError(path, f"must be a JSON value, not {kind_of(value)}"))


def _check_timestamp(value: Any, path: str, problems: list[errors.FieldError]) -> None:
    if isinstance(value, datetime.datetime):
        problems.append(errors.FieldError(path, "must be a quoted RFC 3339 string"))
        return
    if not isinstance(value, str):
        problems.append(errors.FieldError(path, f"must be a string, not {kind_of(value)}"))
        return
    try:
        timestamp_pb2.Timestamp().FromJsonString(value)
    except ValueError:
        problems.append(errors.FieldError(path, f'"{value}" is not an RFC 3339 timestamp'))


def _check_duration(value: Any, path: str, problems: list[errors.FieldError]) -> None:
    if not isinstance(value, str):
        problems.append(
            errors.FieldError(path, f'must be a string such as "30s", not {kind_of(value)}')
        )
        return
    try:
        duration_pb2.Duration().FromJsonString(value)
    except ValueError:
        problems.append(errors.FieldError(path, f'"{value}" is not a duration such as "30s"'))
