"""Conversion between protobuf messages and JSON-shaped documents (parsed YAML or JSON).

Documents use the proto JSON field names, which equal the camelCase names of OKG manifests.
"""

from __future__ import annotations

import datetime
import math
from typing import Any, TypeVar, cast

from gamefleet import protocol
from google.protobuf import descriptor, duration_pb2, json_format, message, timestamp_pb2

from . import errors, paths

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
        field_path = paths.child(path, key)
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
            _check_json(inner, paths.child(path, key), problems)
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
