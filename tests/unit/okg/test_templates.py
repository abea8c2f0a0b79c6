"""OKG v1.1 value templates: parsed whole, like Go's text/template, before any result."""

from __future__ import annotations

import re

import pytest

from okg import templates


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("{{if .Result}}x", id="if-without-end"),
        pytest.param("{{end}}", id="end-without-if"),
        pytest.param("a}}b{{", id="unbalanced"),
        pytest.param("{{ lt .Result }}", id="compare-one-argument"),
        pytest.param("{{ .Nope }}", id="unknown-field"),
        pytest.param("{{}}", id="empty-action"),
        # The broken branch is one no result takes when rendering picks the first: the whole
        # template is refused anyway, as Go's parser does.
        pytest.param("{{if true}}ok{{else}}{{ .Nope }}{{end}}", id="broken-untaken-branch"),
        pytest.param("{{ gt .Result true }}", id="orders-a-boolean"),
    ],
)
def test_a_template_that_can_never_render_has_a_problem(template: str) -> None:
    assert templates.problem(template) is not None


@pytest.mark.parametrize(
    "template",
    [
        "plain",
        "a}}b",
        "{{.Result}}",
        '{{if eq .Result "idle"}}WaitToBeDeleted{{else}}None{{end}}',
        "{{if gt .Result 10}}{{.Result}}{{else if lt .Result 0}}0{{end}}",
    ],
)
def test_a_template_that_parses_has_no_problem(template: str) -> None:
    assert templates.problem(template) is None


def test_a_broken_branch_fails_the_render_whichever_branch_the_result_takes() -> None:
    template = '{{if eq .Result "a"}}ok{{else}}{{ .Nope }}{{end}}'
    with pytest.raises(templates.TemplateError, match=re.escape("unknown '.Nope'")):
        templates.render(template, "a")


def test_a_parsed_template_renders_each_result() -> None:
    template = "{{if ge .Result 100}}full{{else if gt .Result 0}}{{.Result}}{{else}}empty{{end}}"
    assert [templates.render(template, r) for r in ("150", "7", "0")] == ["full", "7", "empty"]
