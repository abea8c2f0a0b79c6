"""What the hub sends an agent: only sets whose hash differs, and deletions."""

from __future__ import annotations

from gamefleet.v1 import agent_pb2

from hub.core.desired_sets import changes, set_hash


def desired(name: str, replicas: int, template: str = "t1") -> agent_pb2.DesiredSet:
    return agent_pb2.DesiredSet(namespace="games", name=name, hash=set_hash(template * 8, replicas))


def test_nothing_to_send_when_the_agent_holds_every_hash() -> None:
    wanted = {("games", "a"): desired("a", 3)}
    assert not changes(wanted, {("games", "a"): wanted[("games", "a")].hash})


def test_changed_replicas_or_template_is_sent() -> None:
    held = {("games", "a"): desired("a", 3).hash, ("games", "b"): desired("b", 2).hash}
    wanted = {("games", "a"): desired("a", 4), ("games", "b"): desired("b", 2, template="t2")}
    result = changes(wanted, held)
    assert [s.name for s in result.send] == ["a", "b"]
    assert result.delete == ()


def test_held_sets_no_longer_wanted_are_deleted() -> None:
    result = changes({}, {("games", "old"): "x"})
    assert result.delete == (("games", "old"),)


def test_hash_includes_replicas() -> None:
    assert set_hash("abc", 3) != set_hash("abc", 4)
