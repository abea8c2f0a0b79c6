"""GameServerAllocation requests, state in / answer out: read, checked, candidates ordered."""

from __future__ import annotations

from typing import Any

import pytest

from agent.core import game_server_allocation as gsa
from okg.errors import ValidationError


def request(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "r", "namespace": "ns", "uid": "u-1"}, "spec": spec}


def server(
    name: str, node: str, *, free: bool = True, allocated: bool = False, **labels: str
) -> gsa.Candidate:
    return gsa.Candidate(name, labels, node, free, allocated)


def test_the_first_selector_that_matches_any_free_server_wins() -> None:
    wanted = gsa.parse(
        request(gameServerSelectors=[{"matchLabels": {"mode": "ranked"}}, {"matchLabels": {}}])
    )
    servers = [server("a-0", "n1", mode="casual"), server("a-1", "n1", mode="ranked")]
    assert gsa.order(wanted, servers) == ["a-1"]
    taken = [server("a-0", "n1", mode="casual"), server("a-1", "n1", free=False, mode="ranked")]
    assert gsa.order(wanted, taken) == ["a-0"]


def test_packed_fills_the_busiest_node_first_and_distributed_the_idlest() -> None:
    servers = [
        server("a-0", "n1"),
        server("a-1", "n2"),
        server("a-2", "n2", free=False, allocated=True),
        server("a-3", "n2", free=False, allocated=True),
        server("a-4", "n3", free=False, allocated=True),
    ]
    assert gsa.order(gsa.parse(request()), servers) == ["a-1", "a-0"]
    distributed = gsa.parse(request(scheduling="Distributed"))
    assert gsa.order(distributed, servers) == ["a-0", "a-1"]


def test_no_free_match_is_an_empty_order() -> None:
    wanted = gsa.parse(request(gameServerSelectors=[{"matchLabels": {"mode": "x"}}]))
    assert gsa.order(wanted, [server("a-0", "n1", mode="y")]) == []


@pytest.mark.parametrize(
    ("spec", "paths"),
    [
        pytest.param({"scheduling": "Random"}, ["spec.scheduling"], id="scheduling"),
        pytest.param(
            {"gameServerSelectors": [{"gameServerState": "Allocated"}]},
            ["spec.gameServerSelectors[0].gameServerState"],
            id="re-allocation-not-served",
        ),
        pytest.param(
            {"gameServerSelectors": [{"matchLabels": {"a": 1}}]},
            ['spec.gameServerSelectors[0].matchLabels["a"]'],
            id="label-not-a-string",
        ),
        pytest.param(
            {"metadata": {"labels": {"a": "b"}, "annotations": []}},
            ["spec.metadata.annotations"],
            id="annotations-not-a-map",
        ),
        pytest.param(
            {"gameServerSelectors": [{}] * 17}, ["spec.gameServerSelectors"], id="too-many"
        ),
    ],
)
def test_a_bad_request_names_every_field(spec: dict[str, Any], paths: list[str]) -> None:
    with pytest.raises(ValidationError) as raised:
        gsa.parse(request(**spec))
    assert [e.path for e in raised.value.errors] == paths


def test_the_answer_says_where_players_reach_the_server() -> None:
    gs = {
        "metadata": {"name": "a-1"},
        "status": {
            "networkStatus": {
                "externalAddresses": [
                    {"ip": "203.0.113.7", "ports": [{"name": "game", "port": 8017}]}
                ]
            }
        },
    }
    assert gsa.allocated_status(gs, "n2") == {
        "state": "Allocated",
        "gameServerName": "a-1",
        "nodeName": "n2",
        "address": "203.0.113.7",
        "ports": [{"name": "game", "port": 8017}],
        "message": "",
    }
    assert gsa.request_id(request()) == "gsa-u-1"
