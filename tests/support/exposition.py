"""Prometheus exposition checks with the pinned promtool, and the metric names the Grafana
dashboards (deploy/grafana/*.json) query."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import tempfile
from typing import Any

from tests.localcluster.versions import binary_path

ROOT = pathlib.Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana"
_NAME = re.compile(r"\b((?:gamefleet|process)_[a-z0-9_]+)\b")
_TYPE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
# The samples each type of family exposes (prometheus_client, text format).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "untyped": ("",),
}
# Grafana's variables, as the dashboards use them, and what stands in for them in a check.
_VARIABLES = {"$__rate_interval": "5m", "$job": ".*"}


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary_path("promtool")), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


# OKG's metric names, kept as OKG's manager exposes them so its dashboards work: they break
# Prometheus' naming rules (camelCase labels, `_count` on gauges), so they are only parsed.
FOREIGN_PREFIXES = ("okg_",)


def check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    """``promtool check metrics``: the exposition parses and, but for OKG's own names, follows
    Prometheus' naming rules."""
    ours, foreign = _split_families(text)
    linted = promtool("check", "metrics", stdin=ours)
    if linted.returncode != 0 or not foreign:
        return linted
    return promtool("check", "metrics", "--lint=none", "--extended", stdin=foreign)


def _split_families(text: str) -> tuple[str, str]:
    """The exposition's lines of our families, and of OKG's (by the family each line names)."""
    ours: list[str] = []
    foreign: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("#"):
            parts = line.split(" ", 3)
            name = parts[2] if len(parts) > 2 else ""
        else:
            name = re.split(r"[{ ]", line, maxsplit=1)[0]
        (foreign if name.startswith(FOREIGN_PREFIXES) else ours).append(line)
    return "".join(ours), "".join(foreign)


def sample_names(text: str) -> set[str]:
    """Every sample name the exposition's families can have, whether or not it has one now."""
    names = set()
    for family, kind in _TYPE.findall(text):
        # The text format names a counter's family with its _total already.
        base = family.removesuffix("_total") if kind == "counter" else family
        for suffix in _SUFFIXES.get(kind, ("",)):
            names.add(base + suffix)
    return names


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found += panel.get("panels", [])
    return found


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]


def metric_names(expression: str) -> set[str]:
    return set(_NAME.findall(expression))


def concrete(expression: str) -> str:
    for variable, value in _VARIABLES.items():
        expression = expression.replace(variable, value)
    return expression


def check_queries(queries: list[str]) -> subprocess.CompletedProcess[str]:
    """``promtool check rules`` on a rule per query: each parses as PromQL."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": concrete(q)}
                    for i, q in enumerate(queries)
                ],
            }
        ]
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(rules, file)
        file.flush()
        return promtool("check", "rules", file.name)
