"""The Grafana dashboards load as Grafana dashboards: unique ids, a layout on the 24-column
grid without overlaps, every query on the datasource variable, and every query valid PromQL
(promtool). That their metrics exist is checked against real expositions:
tests/integration/hub/test_metrics_exposition.py and tests/e2e/agent/test_observability.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import exposition

BOARDS = exposition.dashboards()


def test_there_is_a_board_for_the_hub_and_one_for_the_agent() -> None:
    assert set(BOARDS) == {"gamefleet-hub.json", "gamefleet-agent.json"}
    assert len({b["uid"] for b in BOARDS.values()}) == 2


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_the_board_is_a_grafana_dashboard(name: str) -> None:
    board = BOARDS[name]
    for key in ("uid", "title", "schemaVersion", "panels", "templating", "time"):
        assert key in board, key
    assert board["schemaVersion"] >= 36
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = exposition.panels(board)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (grid["x"] + dx, grid["y"] + dy) for dx in range(grid["w"]) for dy in range(grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "stat", "table"}, panel["type"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert target["expr"].strip()


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_query_is_promql(name: str) -> None:
    queries = exposition.expressions(BOARDS[name])
    checked = exposition.check_queries(queries)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(queries)} rules found" in checked.stdout


def test_a_broken_query_is_caught() -> None:
    checked = exposition.check_queries(["sum(rate(gamefleet_hub_fleets[5m])"])
    assert checked.returncode != 0


def _names(board: dict[str, Any]) -> set[str]:
    return set().union(*map(exposition.metric_names, exposition.expressions(board)))


def test_the_boards_query_their_own_components() -> None:
    assert all(
        n.startswith(("gamefleet_hub_", "process_")) for n in _names(BOARDS["gamefleet-hub.json"])
    )
    assert all(n.startswith("gamefleet_agent_") for n in _names(BOARDS["gamefleet-agent.json"]))
