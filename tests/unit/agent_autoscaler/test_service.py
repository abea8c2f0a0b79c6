"""The scaler's reading of the caches: which ops state counts, who is woken by which change."""

from __future__ import annotations

from agent.autoscaler import changes, service
from agent.core import autoscale

from .fakes import FakeCache, game_server, game_server_set, pod


def test_servers_of_reads_the_game_server_first_then_the_pod_label() -> None:
    pods = [
        pod("ns", "a", 0, "None"),  # its GameServer says Allocated: the label lags
        pod("ns", "a", 1, "WaitToBeDeleted"),  # no GameServer yet: the label counts
        pod("ns", "a", 2, "None", deleting=True),
        {"metadata": {"namespace": "ns", "name": "a-3"}},  # no label, no GameServer
    ]
    game_servers = {"a-0": game_server("ns", "a", 0, "Allocated")}
    assert service.servers_of(pods, game_servers) == [
        autoscale.Server("Allocated", leaving=False),
        autoscale.Server("WaitToBeDeleted", leaving=False),
        autoscale.Server("None", leaving=True),
        autoscale.Server("None", leaving=False),
    ]


def test_changes_wake_only_the_followers_of_the_changed_set() -> None:
    sets, game_servers, pods = FakeCache(), FakeCache(), FakeCache()
    feed = changes.Changes(sets, (game_servers, pods))
    with feed.follow(("ns", "a")) as a, feed.follow(("ns", "b")) as b:
        pods.put(pod("ns", "a", 0))
        assert a.is_set()
        assert not b.is_set()
        a.clear()
        game_servers.put(game_server("other", "a", 0))  # same name, other namespace
        assert not a.is_set()
        sets.put(game_server_set("ns", "b", 1))
        assert b.is_set()
        assert not a.is_set()
        pods.put({"metadata": {"namespace": "ns", "name": "stray"}})  # no owner label
        assert not a.is_set()
        assert feed.following() == 2
    assert feed.following() == 0
