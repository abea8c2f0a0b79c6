"""Kubernetes label selectors: the string syntax, the structured form, and matching."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable, Mapping

from gamefleet.v1 import meta_pb2

from . import errors, names, paths


class SelectorError(ValueError):
    """A label selector that cannot be parsed or is not valid."""


class Operator(enum.Enum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


_OPERATORS_WITH_VALUES = (Operator.IN, Operator.NOT_IN)


@dataclasses.dataclass(frozen=True)
class Requirement:
    """One condition on one label key."""

    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator is Operator.EXISTS:
            return present
        if self.operator is Operator.DOES_NOT_EXIST:
            return not present
        if self.operator is Operator.IN:
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        if len(self.values) == 1:
            (value,) = self.values
            symbol = "=" if self.operator is Operator.IN else "!="
            return f"{self.key}{symbol}{value}"
        keyword = "in" if self.operator is Operator.IN else "notin"
        return f"{self.key} {keyword} ({','.join(sorted(self.values))})"


@dataclasses.dataclass(frozen=True)
class Selector:
    """Every requirement must hold; no requirements selects everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def requirement_problems(
    key: str, operator: str, values: Iterable[str], path: str
) -> list[errors.FieldError]:
    """Check one requirement given as strings; `path` names the requirement."""
    problems: list[errors.FieldError] = []
    key_problem = names.qualified_name_problem(key)
    if key_problem is not None:
        problems.append(
            errors.FieldError(
                paths.child(path, "key"), f'"{key}" is not a valid label key: {key_problem}'
            )
        )
    value_list = list(values)
    try:
        parsed_operator = Operator(operator)
    except ValueError:
        allowed = ", ".join(op.value for op in Operator)
        problems.append(
            errors.FieldError(
                paths.child(path, "operator"), f'"{operator}" is not one of {allowed}'
            )
        )
        return problems
    values_path = paths.child(path, "values")
    if parsed_operator in _OPERATORS_WITH_VALUES and not value_list:
        problems.append(errors.FieldError(values_path, f"must be non-empty for {operator}"))
    if parsed_operator not in _OPERATORS_WITH_VALUES and value_list:
        problems.append(errors.FieldError(values_path, f"must be empty for {operator}"))
    for index, value in enumerate(value_list):
        value_problem = names.label_value_problem(value)
        if value_problem is not None:
            problems.append(
                errors.FieldError(
                    paths.item(values_path, index),
                    f'"{value}" is not a valid label value: {value_problem}',
                )
            )
    return problems


def label_selector_problems(selector: meta_pb2.LabelSelector, path: str) -> list[errors.FieldError]:
    """Check a structured selector; `path` names the selector field."""
    problems: list[errors.FieldError] = []
    labels_path = paths.child(path, "matchLabels")
    for key in sorted(selector.match_labels):
        value = selector.match_labels[key]
        key_problem = names.qualified_name_problem(key)
        if key_problem is not None:
            problems.append(
                errors.FieldError(labels_path, f'"{key}" is not a valid label key: {key_problem}')
            )
        value_problem = names.label_value_problem(value)
        if value_problem is not None:
            problems.append(
                errors.FieldError(
                    paths.entry(labels_path, key),
                    f'"{value}" is not a valid label value: {value_problem}',
                )
            )
    expressions_path = paths.child(path, "matchExpressions")
    for index, expression in enumerate(selector.match_expressions):
        problems.extend(
            requirement_problems(
                expression.key,
                expression.operator,
                expression.values,
                paths.item(expressions_path, index),
            )
        )
    return problems


def selector_from_proto(selector: meta_pb2.LabelSelector) -> Selector:
    """Build a Selector from its structured form, or raise SelectorError."""
    problems = label_selector_problems(selector, "")
    if problems:
        raise SelectorError(f"invalid label selector: {problems[0]}")
    requirements = [
        Requirement(key, Operator.IN, frozenset({selector.match_labels[key]}))
        for key in sorted(selector.match_labels)
    ]
    for expression in selector.match_expressions:
        requirements.append(
            Requirement(expression.key, Operator(expression.operator), frozenset(expression.values))
        )
    return Selector(tuple(requirements))


_TOKEN = re.compile(r"\s*(==|!=|=|!|,|\(|\)|[^\s,()=!]+)")
_SYMBOLS = frozenset({"==", "!=", "=", "!", ",", "(", ")"})


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, int]] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _TOKEN.match(text, position)
            if match is None:  # pragma: no cover - the pattern matches any non-space text
                raise self.error(f"unexpected character at position {position}")
            self.tokens.append((match.group(1), match.start(1)))
            position = match.end()
        self.index = 0

    def error(self, message: str) -> SelectorError:
        return SelectorError(f'invalid label selector "{self.text}": {message}')

    def peek(self) -> str | None:
        return self.tokens[self.index][0] if self.index < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        if token is not None:
            self.index += 1
        return token

    def position(self) -> int:
        if self.index < len(self.tokens):
            return self.tokens[self.index][1]
        return len(self.text)

    def expect_word(self, what: str) -> str:
        where = self.position()
        token = self.take()
        if token is None or token in _SYMBOLS:
            found = "the end" if token is None else f'"{token}"'
            raise self.error(f"expected {what} at position {where}, found {found}")
        return token

    def expect(self, symbol: str) -> None:
        where = self.position()
        token = self.take()
        if token != symbol:
            found = "the end" if token is None else f'"{token}"'
            raise self.error(f'expected "{symbol}" at position {where}, found {found}')

    def parse(self) -> Selector:
        requirements: list[Requirement] = []
        if not self.tokens:
            return Selector()
        while True:
            requirements.append(self.requirement())
            if self.peek() is None:
                return Selector(tuple(requirements))
            self.expect(",")

    def requirement(self) -> Requirement:
        if self.peek() == "!":
            self.take()
            return self.checked(self.expect_word("a label key"), Operator.DOES_NOT_EXIST, [])
        key = self.expect_word("a label key")
        token = self.peek()
        if token is None or token == ",":
            return self.checked(key, Operator.EXISTS, [])
        self.take()
        if token in ("=", "==", "!="):
            operator = Operator.NOT_IN if token == "!=" else Operator.IN
            return self.checked(key, operator, [self.optional_value()])
        if token in ("in", "notin"):
            operator = Operator.IN if token == "in" else Operator.NOT_IN
            return self.checked(key, operator, self.value_set())
        raise self.error(
            f'expected "=", "==", "!=", "in" or "notin" after "{key}", found "{token}"'
        )

    def optional_value(self) -> str:
        token = self.peek()
        if token is None or token == ",":
            return ""
        return self.expect_word("a label value")

    def value_set(self) -> list[str]:
        self.expect("(")
        if self.peek() == ")":
            self.take()
            return []
        values = [self.expect_word("a label value")]
        while self.peek() == ",":
            self.take()
            values.append(self.expect_word("a label value"))
        self.expect(")")
        return values

    def checked(self, key: str, operator: Operator, values: list[str]) -> Requirement:
        problems = requirement_problems(key, operator.value, values, key)
        if problems:
            raise self.error(problems[0].message)
        return Requirement(key, operator, frozenset(values))


def parse_selector(text: str) -> Selector:
    """Parse the string syntax, e.g. `a=b,c!=d,e in (x,y),f notin (z),g,!h`.

    Raises SelectorError naming the problem; an empty string selects everything.
    """
    return _Parser(text).parse()
