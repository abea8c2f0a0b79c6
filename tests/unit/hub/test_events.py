"""The hub's event recorder: repeats fold into one event, history stays bounded."""

from __future__ import annotations

from hub.federation.events import (
    NORMAL,
    WARNING,
    EventRecorder,
    cluster_ref,
    fleet_ref,
    game_server_ref,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_a_repeat_folds_into_the_earlier_event_with_count_and_times() -> None:
    recorder = EventRecorder(clock=Clock())
    ref = cluster_ref("eu-1")
    recorder.warning(ref, "ClusterUnknown", "no heartbeat")
    recorder.normal(ref, "ClusterReady", "Unknown → Ready")
    recorder.warning(ref, "ClusterUnknown", "no heartbeat")
    events = recorder.events("Cluster", "", "eu-1")
    assert [(e.type, e.reason, e.count) for e in events] == [
        (NORMAL, "ClusterReady", 1),
        (WARNING, "ClusterUnknown", 2),
    ]
    assert (events[1].first_time, events[1].last_time) == (1001.0, 1003.0)


def test_each_object_keeps_its_last_events_and_the_oldest_of_a_kind_goes_first() -> None:
    recorder = EventRecorder(per_object=3, max_objects=2, clock=Clock())
    first, second, third = fleet_ref("ns", "a"), fleet_ref("ns", "b"), fleet_ref("ns", "c")
    for index in range(5):
        recorder.normal(first, "Scaled", f"replicas {index}")
    assert [e.message for e in recorder.events("Fleet", "ns", "a")] == [
        "replicas 2",
        "replicas 3",
        "replicas 4",
    ]
    recorder.normal(second, "Created", "")
    recorder.normal(first, "Deleted", "")
    recorder.normal(third, "Created", "")  # second is now the least recently recorded
    assert recorder.events("Fleet", "ns", "b") == []
    assert len(recorder.events("Fleet", "ns", "a")) == 3
    for index in range(5):  # another kind keeps its own objects
        recorder.normal(game_server_ref("ns", "eu-1", f"arena-{index}"), "Allocated", "")
    assert len(recorder.events("Fleet")) == 4
    assert len(recorder.events("GameServer")) == 2


def test_events_filter_by_object_and_keep_the_most_recent() -> None:
    recorder = EventRecorder(clock=Clock())
    recorder.normal(game_server_ref("ns", "eu-1", "arena-0"), "Updated", "one")
    recorder.normal(game_server_ref("ns", "us-1", "arena-0"), "Updated", "two")
    recorder.normal(fleet_ref("ns", "arena"), "Created", "three")
    assert [e.message for e in recorder.events("GameServer", "ns", "eu-1/arena-0")] == ["one"]
    assert [e.message for e in recorder.events("GameServer")] == ["one", "two"]
    assert [e.message for e in recorder.events(limit=2)] == ["two", "three"]
    assert [e.message for e in recorder.events(namespace="other")] == []
