"""What a status says: quoted input cut short, the whole bounded, the leader named truthfully."""

from __future__ import annotations

import time

import grpc
import pytest

from hub.api import errors
from hub.api.leadership import LeaderGate
from hub.core import limits


def test_a_long_quoted_value_is_cut_and_its_length_told() -> None:
    name = "a" * 20_000
    details = errors.bounded(f'metadata.name: "{name}" is not a valid DNS-1123 label')
    cut = "a" * limits.MAX_QUOTED_CHARACTERS
    assert details == f'metadata.name: "{cut}… (20,000 characters)" is not a valid DNS-1123 label'


def test_quoted_keys_in_paths_are_cut_too_and_short_quotes_kept() -> None:
    key = "k" * 500
    details = errors.bounded(f'labels["{key}"]: name part must be no more than 63 characters')
    cut = "k" * limits.MAX_QUOTED_CHARACTERS
    assert details.startswith(f'labels["{cut}… (500 characters)"]: name part')
    short = "labels['a b']: must consist of '-', '_' or '.'"
    assert errors.bounded(short) == short


def test_the_whole_message_is_bounded_in_utf8_bytes() -> None:
    details = errors.bounded("names: no such game servers: " + ", ".join(["ä" * 60] * 5_000))
    assert len(details.encode()) <= limits.MAX_DETAILS_BYTES
    assert details.startswith("names: ")


def test_bounding_is_linear_even_with_many_unclosed_quotes() -> None:
    started = time.perf_counter()
    errors.bounded('x: "' + "\"'" * 200_000)
    errors.bounded("'\\" * 300_000)
    assert time.perf_counter() - started < 1.0


def test_a_store_error_is_unavailable_without_the_store_location() -> None:
    from hub.store import interface

    mapped = errors.status_for(
        interface.StoreUnavailableError("sqlite /var/lib/gamefleet/hub.db: database is locked")
    )
    assert mapped is not None
    code, details = mapped
    assert code is grpc.StatusCode.UNAVAILABLE
    assert "/var/lib" not in details and "hub.db" not in details


@pytest.mark.parametrize("leader", [None, "10.0.0.2:7400"])
def test_a_hub_that_does_not_lead_names_the_leader(leader: str | None) -> None:
    gate = LeaderGate()
    gate.identity, gate.leader = "10.0.0.1:7400", leader
    with pytest.raises(errors.AbortError) as caught:
        gate.require()
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE
    assert f"the leader is {leader or 'not elected yet'}" in caught.value.details


def test_a_hub_just_elected_never_names_itself_as_another_leader() -> None:
    gate = LeaderGate()
    gate.identity = gate.leader = "10.0.0.1:7400"
    with pytest.raises(errors.AbortError) as caught:
        gate.require()
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE
    assert "not the leader" not in caught.value.details
    assert "10.0.0.1:7400" not in caught.value.details
