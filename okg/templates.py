"""OKG v1.1 value templates: a small, strict subset of Go's text/template.

A template is parsed once into a tree (`parse`), as Go's text/template does: a template that
does not parse is refused whole, whichever branch a result would take, so the hub refuses at
apply exactly what the agent could not render. `render` evaluates a parsed tree against a probe
result; only comparisons of incomparable kinds fail at that point.

Supported: `{{.Result}}`, string (`"…"`, `` `…` ``), number and boolean literals,
`eq ne lt le gt ge`, and `if / else if / else / end`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

_TOKEN = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
_ARG = re.compile(r'\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\.Result|[+-]?\d+(?:\.\d+)?|\S+)')
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")
_ORDERING = ("lt", "le", "gt", "ge")
TEMPLATE_MARKER = "{{"
"""What makes a value a template rather than a literal."""


class TemplateError(ValueError):
    """A value template that does not parse or evaluate."""


@dataclasses.dataclass(frozen=True)
class _Result:
    """`.Result`: the probe's output."""


Operand = _Result | str | int | float | bool


@dataclasses.dataclass(frozen=True)
class Expr:
    """One action: a single operand, or a comparison of two."""

    op: str | None
    operands: tuple[Operand, ...]


@dataclasses.dataclass(frozen=True)
class If:
    """`if` with its `else if` branches; a None condition is the final `else`."""

    branches: tuple[tuple[Expr | None, tuple[Node, ...]], ...]


Node = str | Expr | If


def parse(template: str) -> tuple[Node, ...]:
    """The template's tree; raises TemplateError naming what does not parse."""
    parts: list[tuple[str, str]] = []
    pos = 0
    for match in _TOKEN.finditer(template):
        parts.append(("text", template[pos : match.start()]))
        parts.append(("action", match.group(1)))
        pos = match.end()
    parts.append(("text", template[pos:]))
    texts = "".join(body for kind, body in parts if kind == "text")
    if "{{" in texts or "}}" in texts:
        raise TemplateError(f"template {template!r}: unbalanced braces")
    nodes, index = _block(parts, 0, template, top=True)
    if index != len(parts):
        raise TemplateError(f"template {template!r}: unexpected {parts[index][1]!r}")
    return nodes


def problem(template: str) -> str | None:
    """Why `template` can never render (it does not parse, or orders against a boolean), or
    None. A string without `{{` is a plain value and always fine."""
    if "{{" not in template:
        return None
    try:
        nodes = parse(template)
    except TemplateError as exc:
        return str(exc)
    for expr in _expressions(nodes):
        if expr.op in _ORDERING and any(isinstance(v, bool) for v in expr.operands):
            return f"template {template!r}: {expr.op} cannot order a boolean"
    return None


def render(template: str, result: str) -> str:
    """Render `template` with `.Result` = `result`.

    Comparisons are numeric when both sides read as numbers, else on strings; ordering a
    string against a boolean raises, as Go's text/template does for incomparable kinds."""
    if "{{" not in template:
        return template
    return _render(parse(template), result, template)


def _block(
    parts: list[tuple[str, str]], i: int, template: str, *, top: bool = False
) -> tuple[tuple[Node, ...], int]:
    """Parse parts from i until an `else`/`end` at this level; returns (nodes, index)."""
    nodes: list[Node] = []
    while i < len(parts):
        kind, body = parts[i]
        if kind == "text":
            if body:
                nodes.append(body)
            i += 1
            continue
        word = body.split(None, 1)[0] if body else ""
        if word in ("else", "end"):
            if top:
                raise TemplateError(f"template {template!r}: {word} without if")
            return tuple(nodes), i
        if word == "if":
            node, i = _if(parts, i, template)
            nodes.append(node)
            continue
        nodes.append(_expr(body, template))
        i += 1
    if not top:
        raise TemplateError(f"template {template!r}: if without end")
    return tuple(nodes), i


def _if(parts: list[tuple[str, str]], i: int, template: str) -> tuple[If, int]:
    branches: list[tuple[Expr | None, tuple[Node, ...]]] = []
    condition = _expr(parts[i][1][2:].strip(), template)
    while True:
        body_nodes, i = _block(parts, i + 1, template)
        branches.append((condition, body_nodes))
        body = parts[i][1]
        if body == "end":
            return If(tuple(branches)), i + 1
        rest = body[4:].strip()  # after "else"
        if rest.startswith("if "):
            condition = _expr(rest[3:].strip(), template)
        elif not rest:
            body_nodes, i = _block(parts, i + 1, template)
            branches.append((None, body_nodes))
            if parts[i][1] != "end":
                raise TemplateError(f"template {template!r}: else after else")
            return If(tuple(branches)), i + 1
        else:
            raise TemplateError(f"template {template!r}: cannot read {body!r}")


def _expr(text: str, template: str) -> Expr:
    args = _ARG.findall(text)
    if not args:
        raise TemplateError(f"template {template!r}: empty action")
    if args[0] in _COMPARE:
        if len(args) != 3:
            raise TemplateError(f"template {template!r}: {args[0]} takes two arguments")
        return Expr(args[0], tuple(_operand(a, template) for a in args[1:]))
    if len(args) != 1:
        raise TemplateError(f"template {template!r}: cannot read {text!r}")
    return Expr(None, (_operand(args[0], template),))


def _operand(token: str, template: str) -> Operand:
    if token == ".Result":
        return _Result()
    if token.startswith('"'):
        try:
            return str(json.loads(token))
        except ValueError:
            raise TemplateError(f"template {template!r}: bad string {token}") from None
    if token.startswith("`"):
        return token[1:-1]
    if _NUMBER.fullmatch(token):
        return float(token) if "." in token else int(token)
    if token in ("true", "false"):
        return token == "true"
    raise TemplateError(f"template {template!r}: unknown {token!r}")


def _expressions(nodes: tuple[Node, ...]) -> list[Expr]:
    found: list[Expr] = []
    for node in nodes:
        if isinstance(node, Expr):
            found.append(node)
        elif isinstance(node, If):
            for condition, body in node.branches:
                if condition is not None:
                    found.append(condition)
                found += _expressions(body)
    return found


def _render(nodes: tuple[Node, ...], result: str, template: str) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, Expr):
            out.append(_text(_evaluate(node, result, template)))
        else:
            for condition, body in node.branches:
                if condition is None or _truthy(_evaluate(condition, result, template)):
                    out.append(_render(body, result, template))
                    break
    return "".join(out)


def _evaluate(expr: Expr, result: str, template: str) -> object:
    values = [result if isinstance(v, _Result) else v for v in expr.operands]
    if expr.op is None:
        return values[0]
    return _compare(expr.op, values[0], values[1], template)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+(?:\.\d+)?\s*", value):
        return float(value)
    return None


def _compare(op: str, left: object, right: object, template: str) -> bool:
    ln, rn = _number(left), _number(right)
    a: Any
    b: Any
    if ln is not None and rn is not None:
        a, b = ln, rn
    elif isinstance(left, str) and isinstance(right, str):
        a, b = left, right
    elif op in ("eq", "ne"):
        a, b = str(left), str(right)
    else:
        raise TemplateError(f"template {template!r}: cannot compare {left!r} and {right!r}")
    ops = {
        "eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b,
    }  # fmt: skip
    return bool(ops[op])


def _truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return bool(value)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
