"""Whole decisions, and properties that hold for every state: never below allocated, never
outside minReplicas/maxReplicas, never more than a step."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.core.autoscaling.decide import decide
from hub.core.autoscaling.demand import FleetSnapshot, recommend_buffer
from hub.core.autoscaling.limits import Bounds, Limits, Rules, Sample
from hub.core.health import Phase

from .scenarios import buffer, cluster, fleet, snapshot

DOWN_60 = Limits(up=Rules(), down=Rules(window=60.0))


def test_an_allocation_burst_in_one_region_grows_that_region_only() -> None:
    before = snapshot(
        cluster("eu", allocated=0, assigned=20, region="eu"),
        cluster("us", allocated=0, assigned=20, region="us"),
        replicas=40,
    )
    policy = buffer(20, label="region")
    history = [Sample(0.0, {"eu": 20, "us": 20})]
    burst = FleetSnapshot(
        before.fleet,
        (
            cluster("eu", allocated=15, assigned=20, region="eu"),
            cluster("us", allocated=0, assigned=20, region="us"),
        ),
    )
    decision = decide(
        burst, "Buffer", recommend_buffer(policy, burst), history, 10.0, DOWN_60, Bounds(0, 1000)
    )
    assert decision.clusters == {"eu": 35, "us": 20}
    assert (decision.from_replicas, decision.to_replicas) == (40, 55)
    assert decision.reason == "region=eu: 15+20; region=us: 0+20"
    assert not decision.limited and decision.differs(40, {"eu": 20, "us": 20})


def test_games_ending_shrink_the_region_after_the_window_only() -> None:
    ended = snapshot(
        cluster("eu", allocated=0, assigned=35, region="eu", idle=35),
        cluster("us", allocated=0, assigned=20, region="us", idle=20),
        replicas=55,
    )
    policy = buffer(20, label="region")
    history = [Sample(10.0, {"eu": 35, "us": 20})]
    held = decide(ended, "Buffer", recommend_buffer(policy, ended), history, 40.0, DOWN_60)
    # The games ended at 40 (the last recommendation, of 35, held until then): a full window.
    assert (held.to_replicas, held.limited, held.wake) == (55, True, 100.0)
    assert "stabilization window holds eu at 35" in held.reason
    history.append(Sample(40.0, {"eu": 20, "us": 20}))
    later = decide(ended, "Buffer", recommend_buffer(policy, ended), history, 101.0, DOWN_60)
    assert later.clusters == {"eu": 20, "us": 20}
    assert later.to_replicas == 40


@st.composite
def states(draw: st.DrawFn) -> tuple[FleetSnapshot, list[Sample], int, int, int]:
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, min_size=1))
    clusters = []
    for name in names:
        allocated = draw(st.integers(0, 40))
        clusters.append(
            cluster(
                name,
                allocated=allocated,
                assigned=allocated + draw(st.integers(0, 30)),
                region=draw(st.sampled_from(["eu", "us", ""])),
                phase=draw(st.sampled_from([Phase.READY, Phase.READY, Phase.UNKNOWN])),
            )
        )
    entries = [
        {"name": name, "weight": draw(st.integers(1, 4))}
        for name in draw(st.lists(st.sampled_from(names), unique=True))
    ]
    strategy = draw(st.sampled_from(["Weighted", "Priority", "Spread"]))
    state = FleetSnapshot(
        fleet(sum(c.assigned for c in clusters), clusters=entries, strategy=strategy),
        tuple(clusters),
    )
    history = [
        Sample(float(t), {c.name: draw(st.integers(0, 80)) for c in clusters})
        for t in sorted(draw(st.lists(st.integers(0, 99), max_size=4)))
    ]
    low = draw(st.integers(0, 60))
    high = low + draw(st.integers(1, 150))
    step = draw(st.integers(0, 20))
    return state, history, low, high, step


@settings(max_examples=300, deadline=None)
@given(
    states(),
    st.one_of(st.integers(1, 30), st.integers(1, 99).map(lambda p: f"{p}%")),
    st.sampled_from(["", "region"]),
)
def test_decisions_keep_their_promises(
    scenario: tuple[FleetSnapshot, list[Sample], int, int, int], size: int | str, label: str
) -> None:
    state, history, low, high, step = scenario
    low = max(low, 1) if isinstance(size, str) else low
    high = max(high, low, size if isinstance(size, int) else 1)
    policy = buffer(size, low, high, label)
    limits = Limits(up=Rules(window=20.0, max_step=step), down=Rules(window=50.0, max_step=step))
    recommendation = recommend_buffer(policy, state)
    decision = decide(state, "Buffer", recommendation, history, 100.0, limits, Bounds(low, high))
    ready = {c.name: c for c in state.ready()}
    assert set(decision.clusters) == set(ready)
    for name, count in decision.clusters.items():
        assert count >= ready[name].allocated, "never below allocated"
    if ready:
        assert decision.to_replicas == state.kept() + sum(decision.clusters.values())
    floors = state.kept() + sum(c.allocated for c in ready.values())
    if ready and floors <= high:
        assert low <= decision.to_replicas <= high, "never outside minReplicas/maxReplicas"
    current = state.kept() + sum(c.assigned for c in ready.values())
    if step and low <= current <= high:
        assert abs(decision.to_replicas - current) <= step, "never more than a step"


def test_without_a_ready_cluster_the_total_grows_to_the_policy_but_never_shrinks_blind() -> None:
    nothing = snapshot(replicas=0)
    decision = decide(nothing, "Buffer", recommend_buffer(buffer(2, 3), nothing), [], 0.0, DOWN_60)
    assert (decision.to_replicas, decision.clusters) == (3, {})
    silent = snapshot(cluster("eu", assigned=10, phase=Phase.UNKNOWN), replicas=12)
    held = decide(silent, "Buffer", recommend_buffer(buffer(2), silent), [], 0.0, DOWN_60)
    assert held.to_replicas == 12
