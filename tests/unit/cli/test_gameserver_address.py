"""The ADDRESS column of `gamefleet get gameservers`: what a player dials."""

from __future__ import annotations

from typing import Any

import pytest
from gamefleet.v1 import gameserver_pb2

from cli import gameserver_commands


def _server(external: list[dict[str, Any]] | None) -> gameserver_pb2.GameServer:
    server = gameserver_pb2.GameServer()
    if external is not None:
        server.network_status.update({"externalAddresses": external})
    return server


@pytest.mark.parametrize(
    ("external", "shown"),
    [
        (None, "-"),
        ([], "-"),
        ([{"ip": "47.0.0.1", "ports": [{"name": "7777", "port": 501}]}], "47.0.0.1:501"),
        ([{"ip": "", "endPoint": "arena-1a2b.elb.eu-west-1.amazonaws.com",
           "ports": [{"port": 30001}]}], "arena-1a2b.elb.eu-west-1.amazonaws.com:30001"),
        ([{"ip": "10.0.0.1", "ports": []}], "10.0.0.1"),
        ([{"ip": "", "ports": [{"port": 1}]}], "-"),
    ],
)  # fmt: skip
def test_address_column(external: list[dict[str, Any]] | None, shown: str) -> None:
    assert gameserver_commands.address(_server(external)) == shown
