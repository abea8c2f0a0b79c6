"""Kubernetes label selectors: parsing, structured form, matching."""

from __future__ import annotations

import re

import pytest
from gamefleet.v1 import meta_pb2

from hub.core import selectors

Op = selectors.Operator
Req = selectors.Requirement


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("  ", ()),
        ("a=b", (Req("a", Op.IN, frozenset({"b"})),)),
        ("a==b", (Req("a", Op.IN, frozenset({"b"})),)),
        ("a = b", (Req("a", Op.IN, frozenset({"b"})),)),
        ("a=", (Req("a", Op.IN, frozenset({""})),)),
        ("a!=b", (Req("a", Op.NOT_IN, frozenset({"b"})),)),
        ("e in (x, y)", (Req("e", Op.IN, frozenset({"x", "y"})),)),
        ("f notin (z)", (Req("f", Op.NOT_IN, frozenset({"z"})),)),
        ("g", (Req("g", Op.EXISTS),)),
        ("!h", (Req("h", Op.DOES_NOT_EXIST),)),
        (
            "topology.kubernetes.io/region=eu-west-1",
            (Req("topology.kubernetes.io/region", Op.IN, frozenset({"eu-west-1"})),),
        ),
        (
            "a=b,c!=d,e in (x,y),f notin (z),g,!h",
            (
                Req("a", Op.IN, frozenset({"b"})),
                Req("c", Op.NOT_IN, frozenset({"d"})),
                Req("e", Op.IN, frozenset({"x", "y"})),
                Req("f", Op.NOT_IN, frozenset({"z"})),
                Req("g", Op.EXISTS),
                Req("h", Op.DOES_NOT_EXIST),
            ),
        ),
    ],
)
def test_parse(text: str, expected: tuple[selectors.Requirement, ...]) -> None:
    assert selectors.parse_selector(text) == selectors.Selector(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a=b,", "expected a label key at position 4"),
        ("a b", 'expected "=", "==", "!=", "in" or "notin" after "a"'),
        ("a in (x", 'expected ")"'),
        ("a in ()", "must be non-empty for In"),
        ("a in (x,)", "expected a label value"),
        ("!", "expected a label key"),
        ("a=%", '"%" is not a valid label value'),
        ("bad key!=x", 'after "bad"'),
        ("-a=b", '"-a" is not a valid label key'),
        ("a=b c", 'expected "," at position 4'),
        ("(a)", "expected a label key at position 0"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(
        selectors.SelectorError, match=re.escape(f'invalid label selector "{text}"')
    ) as info:
        selectors.parse_selector(text)
    assert message in str(info.value)


SELECTOR = "a=b,c!=d,e in (x,y),f notin (z),g,!h"


@pytest.mark.parametrize(
    ("labels", "matches"),
    [
        ({"a": "b", "e": "x", "g": ""}, True),
        ({"a": "b", "c": "other", "e": "y", "f": "w", "g": "1"}, True),
        ({"a": "c", "e": "x", "g": ""}, False),
        ({"e": "x", "g": ""}, False),
        ({"a": "b", "c": "d", "e": "x", "g": ""}, False),
        ({"a": "b", "e": "q", "g": ""}, False),
        ({"a": "b", "e": "x", "f": "z", "g": ""}, False),
        ({"a": "b", "e": "x"}, False),
        ({"a": "b", "e": "x", "g": "", "h": ""}, False),
    ],
)
def test_matches(labels: dict[str, str], matches: bool) -> None:
    assert selectors.parse_selector(SELECTOR).matches(labels) is matches


def test_empty_selector_matches_everything() -> None:
    assert selectors.parse_selector("").matches({})
    assert selectors.Selector().matches({"any": "thing"})


def test_string_form_parses_back_to_the_same_selector() -> None:
    selector = selectors.parse_selector(SELECTOR)
    assert str(selector) == "a=b,c!=d,e in (x,y),f!=z,g,!h"
    assert selectors.parse_selector(str(selector)) == selector


def test_from_proto_uses_labels_and_expressions() -> None:
    proto = meta_pb2.LabelSelector(
        match_labels={"tier": "prod", "cloud": "aws"},
        match_expressions=[
            meta_pb2.LabelSelectorRequirement(key="region", operator="In", values=["eu", "us"]),
            meta_pb2.LabelSelectorRequirement(key="legacy", operator="DoesNotExist"),
        ],
    )
    selector = selectors.selector_from_proto(proto)
    assert selector == selectors.parse_selector("cloud=aws,tier=prod,region in (eu,us),!legacy")
    assert selector.matches({"tier": "prod", "cloud": "aws", "region": "eu"})
    assert not selector.matches({"tier": "prod", "cloud": "aws", "region": "ap"})


@pytest.mark.parametrize(
    ("requirement", "message"),
    [
        (
            meta_pb2.LabelSelectorRequirement(key="a", operator="Like", values=["x"]),
            '"Like" is not one of',
        ),
        (
            meta_pb2.LabelSelectorRequirement(key="a", operator="NotIn"),
            "must be non-empty for NotIn",
        ),
        (
            meta_pb2.LabelSelectorRequirement(key="a", operator="Exists", values=["x"]),
            "must be empty for Exists",
        ),
        (meta_pb2.LabelSelectorRequirement(key="a b", operator="Exists"), "not a valid label key"),
    ],
)
def test_from_proto_rejects_invalid_requirements(
    requirement: meta_pb2.LabelSelectorRequirement, message: str
) -> None:
    with pytest.raises(selectors.SelectorError, match=message):
        selectors.selector_from_proto(meta_pb2.LabelSelector(match_expressions=[requirement]))


def test_label_selector_problems_name_each_field() -> None:
    proto = meta_pb2.LabelSelector(
        match_labels={"ok": "bad value!", "bad key!": "v"},
        match_expressions=[
            meta_pb2.LabelSelectorRequirement(key="a", operator="In"),
            meta_pb2.LabelSelectorRequirement(key="b", operator="In", values=["ok", "no!"]),
        ],
    )
    problems = selectors.label_selector_problems(proto, "sel")
    assert [problem.path for problem in problems] == [
        "sel.matchLabels",
        'sel.matchLabels["ok"]',
        "sel.matchExpressions[0].values",
        "sel.matchExpressions[1].values[1]",
    ]
