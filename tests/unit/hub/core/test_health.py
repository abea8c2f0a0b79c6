"""Cluster health: Unknown after the grace period, Ready again only after steady heartbeats."""

from __future__ import annotations

from hub.core.health import HealthPolicy, Liveness, Phase, on_heartbeat, on_tick

POLICY = HealthPolicy(heartbeat_interval=2.0, grace=10.0, recovery_heartbeats=2)


def beats(liveness: Liveness, *times: float) -> Liveness:
    for now in times:
        liveness = on_heartbeat(liveness, now, POLICY)
    return liveness


def test_new_cluster_is_ready_after_two_timely_heartbeats() -> None:
    assert beats(Liveness(), 0.0).phase is Phase.UNKNOWN
    assert beats(Liveness(), 0.0, 2.0).phase is Phase.READY


def test_silence_within_grace_keeps_ready() -> None:
    ready = beats(Liveness(), 0.0, 2.0)
    assert on_tick(ready, 12.0, POLICY).phase is Phase.READY


def test_silence_past_grace_turns_unknown_and_records_when() -> None:
    ready = beats(Liveness(), 0.0, 2.0)
    unknown = on_tick(ready, 12.5, POLICY)
    assert unknown.phase is Phase.UNKNOWN
    assert unknown.unknown_since == 12.5


def test_one_late_heartbeat_does_not_flap_back_to_ready() -> None:
    unknown = on_tick(beats(Liveness(), 0.0, 2.0), 12.5, POLICY)
    one = on_heartbeat(unknown, 30.0, POLICY)
    assert one.phase is Phase.UNKNOWN
    assert on_heartbeat(one, 32.0, POLICY).phase is Phase.READY


def test_heartbeats_too_far_apart_do_not_count_as_a_streak() -> None:
    unknown = on_tick(beats(Liveness(), 0.0, 2.0), 12.5, POLICY)
    first = on_heartbeat(unknown, 30.0, POLICY)
    silent_again = on_tick(first, 41.0, POLICY)
    assert silent_again.streak == 0
    assert on_heartbeat(silent_again, 60.0, POLICY).phase is Phase.UNKNOWN
