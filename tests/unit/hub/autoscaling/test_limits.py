"""Stabilization windows and step limits per cluster, state in and state out."""

from __future__ import annotations

from gamefleet.v1 import autoscaler_pb2

from hub.core import documents
from hub.core.autoscaling.limits import Bounds, Limits, Rules, Sample, limit

DOWN_60 = Limits(up=Rules(), down=Rules(window=60.0))


def test_scale_up_is_immediate() -> None:
    outcome = limit({"eu": 10}, {"eu": 25}, {"eu": 20}, [], now=100.0, limits=DOWN_60)
    assert outcome.clusters == {"eu": 25}
    assert (outcome.limited, outcome.wake) == ((), None)


def test_scale_down_waits_for_the_window_then_follows() -> None:
    """A recommendation holds for a window after it stopped being the recommendation (samples
    follow events, so each stays in effect until the next)."""
    history = [Sample(100.0, {"eu": 30}), Sample(130.0, {"eu": 22})]
    held = limit({"eu": 30}, {"eu": 15}, {"eu": 10}, history, now=140.0, limits=DOWN_60)
    assert held.clusters == {"eu": 30}
    assert held.wake == 190.0  # 30 was the recommendation until 130
    assert held.limited == ("stabilization window holds eu at 30",)
    still = limit({"eu": 30}, {"eu": 15}, {"eu": 10}, history, now=165.0, limits=DOWN_60)
    assert still.clusters == {"eu": 30}
    later = limit({"eu": 30}, {"eu": 15}, {"eu": 10}, history, now=191.0, limits=DOWN_60)
    assert (later.clusters, later.wake) == ({"eu": 22}, 251.0)  # 22 is still in effect
    history.append(Sample(191.0, {"eu": 15}))
    done = limit({"eu": 22}, {"eu": 15}, {"eu": 10}, history, now=252.0, limits=DOWN_60)
    assert (done.clusters, done.wake) == ({"eu": 15}, None)


def test_a_recommendation_taken_before_the_window_holds_while_it_was_in_effect() -> None:
    """No event for 30 s, then the games end: the idle servers stay a full window from then."""
    history = [Sample(10.0, {"eu": 35})]
    held = limit({"eu": 35}, {"eu": 20}, {}, history, now=40.0, limits=DOWN_60)
    assert (held.clusters, held.wake) == ({"eu": 35}, 100.0)


def test_each_cluster_has_its_own_window() -> None:
    history = [Sample(100.0, {"eu": 20, "us": 20})]
    outcome = limit(
        {"eu": 20, "us": 20}, {"eu": 30, "us": 10}, {}, history, now=110.0, limits=DOWN_60
    )
    assert outcome.clusters == {"eu": 30, "us": 20}


def test_never_below_allocated_whatever_the_window_says() -> None:
    limits = Limits(up=Rules(window=60.0), down=Rules())
    history = [Sample(100.0, {"eu": 5})]
    outcome = limit({"eu": 5}, {"eu": 20}, {"eu": 12}, history, now=110.0, limits=limits)
    assert outcome.clusters == {"eu": 12}


def test_scale_up_window_takes_the_lowest_recent_recommendation() -> None:
    limits = Limits(up=Rules(window=30.0), down=Rules())
    history = [Sample(100.0, {"eu": 12}), Sample(110.0, {"eu": 18})]
    outcome = limit({"eu": 10}, {"eu": 20}, {}, history, now=115.0, limits=limits)
    assert outcome.clusters == {"eu": 12}
    assert outcome.wake == 140.0  # 12 was the recommendation until 110


def test_step_limits_the_net_change_shared_in_proportion() -> None:
    limits = Limits(up=Rules(max_step=10), down=Rules(max_step=4))
    up = limit({"eu": 10, "us": 10}, {"eu": 40, "us": 20}, {}, [], now=0.0, limits=limits)
    assert sum(up.clusters.values()) == 30
    assert up.clusters == {"eu": 18, "us": 12}  # rises of 30 and 10 share 10: 7.5, 2.5, tie by name
    assert up.stepped and up.limited == ("scale-up step 10",)
    down = limit({"eu": 20, "us": 20}, {"eu": 10, "us": 20}, {}, [], now=0.0, limits=limits)
    assert down.clusters == {"eu": 16, "us": 20}


def test_step_counts_the_net_change_when_one_cluster_grows_and_another_shrinks() -> None:
    limits = Limits(up=Rules(max_step=2), down=Rules(max_step=2))
    outcome = limit({"eu": 10, "us": 10}, {"eu": 15, "us": 7}, {}, [], now=0.0, limits=limits)
    assert outcome.clusters == {"eu": 15, "us": 7}  # net +2


def test_bounds_win_over_windows() -> None:
    history = [Sample(100.0, {"eu": 60})]
    outcome = limit(
        {"eu": 60},
        {"eu": 30},
        {"eu": 10},
        history,
        now=110.0,
        limits=DOWN_60,
        kept=5,
        bounds=Bounds(0, 40),
    )
    assert outcome.clusters == {"eu": 35}


def test_defaults_scale_down_after_300_s_and_up_at_once() -> None:
    limits = Limits.of(autoscaler_pb2.AutoscalerBehavior())
    assert limits == Limits(up=Rules(0.0, 0), down=Rules(300.0, 0))
    custom = documents.from_document(
        {"scaleDown": {"stabilizationWindow": "30s", "maxStep": 5}, "scaleUp": {"maxStep": 9}},
        autoscaler_pb2.AutoscalerBehavior,
    )
    assert Limits.of(custom) == Limits(up=Rules(0.0, 9), down=Rules(30.0, 5))
