"""Hypothesis strategies for any protobuf message, driven by its descriptor.

Values lean towards the edges: empty, huge and non-ASCII strings, integer limits, NaN and the
infinities, Durations and Timestamps out of range, JSON documents of any shape for Struct and
Value fields. ``messages(cls, density)`` sets each field with probability ``density`` percent.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar, cast

from google.protobuf import descriptor, duration_pb2, message, struct_pb2, timestamp_pb2
from hypothesis import strategies as st

MessageT = TypeVar("MessageT", bound=message.Message)

_FD = descriptor.FieldDescriptor

NAMES = ["arena", "f1", "games", "default", "eu-1", "us-2"]
"""Valid names, so that valid-ish requests meet stored objects."""
ODD_STRINGS = [
    "", " ", "A", "-a", "a-", "a/b", "a.b", "a b", "ünïcödé", "\x00", "\n", "a" * 63, "a" * 64,
    "x" * 254, "y" * 20_000, "{{ .Name }}", "a=b", "a in (b,c)", "!a", "a,", "(", "=", "10%",
    "101%", "3-6", "6-3", "-1", "1e400", "Allocated", "None", "Maintaining",
]  # fmt: skip
SELECTORS = [
    "", "game=arena", "a in (b)", "a notin (b,c)", "!a", "a", "a,b!=c", "a in (", "in in in",
    "a=b=c", "x" * 5000, "a in (" + ",".join(["v"] * 2000) + ")", "a==", ",", "a!=,",
]  # fmt: skip
INT_EDGES = [0, 1, -1, 2, 3, 9, 63, 64, 100_000, 100_001, 2**31 - 1, -(2**31)]
INT64_EDGES = [*INT_EDGES, 2**63 - 1, -(2**63), 10**15]

strings = st.one_of(st.text(max_size=16), st.sampled_from(NAMES), st.sampled_from(ODD_STRINGS))
keys = st.one_of(
    st.sampled_from(["game", "tier", "example.com/x", "a b", "", "A/b", "k" * 70]),
    st.text(max_size=8),
)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.integers(-(2**53), 2**53).map(float),
    st.sampled_from([0.0, 1.0, -1.0, 1.5]),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | strings,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
    max_leaves=12,
)
json_objects = st.dictionaries(keys, json_values, max_size=4)


def _integers(low: int, high: int, edges: list[int]) -> st.SearchStrategy[int]:
    inside = [edge for edge in edges if low <= edge <= high]
    return st.one_of(st.integers(low, high), st.sampled_from(inside))


_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    _FD.CPPTYPE_INT32: _integers(-(2**31), 2**31 - 1, INT_EDGES),
    _FD.CPPTYPE_UINT32: _integers(0, 2**32 - 1, INT_EDGES),
    _FD.CPPTYPE_INT64: _integers(-(2**63), 2**63 - 1, INT64_EDGES),
    _FD.CPPTYPE_UINT64: _integers(0, 2**64 - 1, INT64_EDGES),
    _FD.CPPTYPE_DOUBLE: numbers,
    _FD.CPPTYPE_FLOAT: st.floats(width=32, allow_nan=True, allow_infinity=True),
    _FD.CPPTYPE_BOOL: st.booleans(),
    _FD.CPPTYPE_ENUM: st.integers(-2, 5),
}


def _scalar(field: descriptor.FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.cpp_type == _FD.CPPTYPE_STRING:
        if field.type == _FD.TYPE_BYTES:
            return st.binary(max_size=16)
        if field.name == "label_selector":
            return st.one_of(strings, st.sampled_from(SELECTORS))
        return strings
    return _SCALARS[field.cpp_type]


def _fill_json(target: message.Message, value: Any) -> None:
    """Set a Struct, Value or ListValue from a JSON-shaped value (NaN and all)."""
    name = target.DESCRIPTOR.full_name
    if name == "google.protobuf.Struct":
        assert isinstance(target, struct_pb2.Struct)
        target.update(value if isinstance(value, dict) else {"value": value})
    elif name == "google.protobuf.ListValue":
        assert isinstance(target, struct_pb2.ListValue)
        target.extend(value if isinstance(value, list) else [value])
    else:
        assert isinstance(target, struct_pb2.Value)
        holder = struct_pb2.Struct()
        holder.update({"v": value})
        target.CopyFrom(holder.fields["v"])


@st.composite
def _fill(draw: st.DrawFn, target: message.Message, density: int, depth: int) -> None:
    desc = target.DESCRIPTOR
    name = desc.full_name
    if name in ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"):
        _fill_json(target, draw(json_objects if name.endswith("Struct") else json_values))
        return
    if isinstance(target, duration_pb2.Duration | timestamp_pb2.Timestamp):
        target.seconds = draw(_SCALARS[_FD.CPPTYPE_INT64])
        target.nanos = draw(_integers(-(2**31), 2**31 - 1, [0, 10**9 - 1, 10**9, -(10**9)]))
        return
    fields = cast(list[descriptor.FieldDescriptor], list(desc.fields))
    for field in fields:
        if draw(st.integers(0, 99)) >= density:
            continue
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
            container = getattr(target, field.name)
            for _ in range(draw(st.integers(0, 3))):
                key = draw(keys if key_field.cpp_type == _FD.CPPTYPE_STRING else _scalar(key_field))
                if value_field.cpp_type == _FD.CPPTYPE_MESSAGE:
                    if depth > 0:
                        draw(_fill(container[key], density, depth - 1))
                else:
                    container[key] = draw(_scalar(value_field))
        elif field.cpp_type == _FD.CPPTYPE_MESSAGE:
            if depth <= 0:
                continue
            if field.is_repeated:
                items = getattr(target, field.name)
                for _ in range(draw(st.integers(0, 3))):
                    draw(_fill(items.add(), density, depth - 1))
            else:
                inner = getattr(target, field.name)
                inner.SetInParent()
                draw(_fill(inner, density, depth - 1))
        elif field.is_repeated:
            getattr(target, field.name).extend(draw(st.lists(_scalar(field), max_size=3)))
        else:
            setattr(target, field.name, draw(_scalar(field)))


@st.composite
def messages(draw: st.DrawFn, cls: type[MessageT], density: int = 40, depth: int = 6) -> MessageT:
    """A ``cls`` with each field set with probability ``density`` %, nested ``depth`` deep."""
    result = cls()
    draw(_fill(result, density, depth))
    return result


@st.composite
def _mutate_json(draw: st.DrawFn, value: struct_pb2.Value) -> None:
    """Change one place inside a JSON value: descend into what it holds, or replace it."""
    kind = value.WhichOneof("kind")
    if kind == "struct_value" and value.struct_value.fields and draw(st.integers(0, 3)):
        fields = value.struct_value.fields
        key = draw(st.sampled_from(sorted(fields)))
        draw(_mutate_json(fields[key]))
    elif kind == "list_value" and value.list_value.values and draw(st.integers(0, 3)):
        items = value.list_value.values
        draw(_mutate_json(items[draw(st.integers(0, len(items) - 1))]))
    else:
        _fill_json(value, draw(json_values))


@st.composite
def _mutate(draw: st.DrawFn, target: message.Message, depth: int) -> None:
    """Change one field somewhere in ``target``: mostly along fields already set, so that the
    change lands deep inside a valid message (a container's image, a Duration's nanos)."""
    if isinstance(target, struct_pb2.Struct):
        key = draw(st.sampled_from(sorted(target.fields)) if target.fields else keys)
        draw(_mutate_json(target.fields[key]))
        return
    if isinstance(target, struct_pb2.Value):
        draw(_mutate_json(target))
        return
    if isinstance(target, duration_pb2.Duration | timestamp_pb2.Timestamp | struct_pb2.ListValue):
        target.Clear()
        draw(_fill(target, 100, 1))
        return
    set_fields = [field for field, _ in target.ListFields()]
    every = cast(list[descriptor.FieldDescriptor], list(target.DESCRIPTOR.fields))
    along_set = bool(set_fields) and draw(st.integers(0, 3)) > 0
    choices = set_fields if along_set else every
    field = draw(st.sampled_from(choices))
    value = getattr(target, field.name)
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        inner_field = entry.fields_by_name["value"]
        key = draw(st.sampled_from(sorted(value)) if value and draw(st.booleans()) else keys)
        if inner_field.cpp_type == _FD.CPPTYPE_MESSAGE:
            draw(_mutate(value[key], depth - 1))
        else:
            value[key] = draw(_scalar(inner_field))
    elif field.cpp_type == _FD.CPPTYPE_MESSAGE:
        if field.is_repeated:
            inner = value[draw(st.integers(0, len(value) - 1))] if value else value.add()
        else:
            inner = value
            inner.SetInParent()
        if depth > 0 and draw(st.integers(0, 3)):
            draw(_mutate(inner, depth - 1))
        else:
            inner.Clear()
            draw(_fill(inner, 40, 3))
    elif field.is_repeated:
        value.append(draw(_scalar(field)))
    else:
        setattr(target, field.name, draw(_scalar(field)))


@st.composite
def mutated(draw: st.DrawFn, bases: st.SearchStrategy[MessageT]) -> MessageT:
    """A valid message with one to three fields changed, anywhere (inside JSON documents too)."""
    result = type(base := draw(bases))()
    result.CopyFrom(base)
    for _ in range(draw(st.integers(1, 3))):
        draw(_mutate(result, 10))
    return result
