"""Gates of a progressive rollout, state in and state out: waves, soak, failures, pause."""

from __future__ import annotations

from collections.abc import Mapping

from hub.core import rollout_progress as rp
from hub.core.rollout_progress import Clock, Control, Gates, Observed
from hub.core.rollout_waves import Wave

TWO_WAVES = [Wave(("eu-1", "eu-2")), Wave(("us-1",))]
NO_GATES = Gates()
GOING = Control()


def waiting(*clusters: str) -> dict[str, Observed]:
    return {c: Observed(desired="new", holds="old") for c in clusters}


def updating() -> Observed:
    return Observed(desired="new", holds="new")


def settled() -> Observed:
    return Observed(desired="new", holds="new", settled=True)


def states(result: rp.Progress) -> dict[str, str]:
    return {c.cluster: c.state for c in result.clusters}


def run(
    observed: Mapping[str, Observed],
    gates: Gates = NO_GATES,
    control: Control = GOING,
    clocks: Mapping[str, Clock] | None = None,
    now: float = 100.0,
    waves: list[Wave] = TWO_WAVES,
) -> rp.Progress:
    return rp.progress(waves, observed, gates, control, clocks or {}, now)


def test_the_first_wave_gets_the_template_and_the_second_waits() -> None:
    result = run(waiting("eu-1", "eu-2", "us-1"))
    assert result.held_back == {"us-1"}
    assert states(result) == {"eu-1": rp.UPDATING, "eu-2": rp.UPDATING, "us-1": rp.PENDING}
    assert (result.phase, result.wave, result.waves) == (rp.PROGRESSING, 0, 2)


def test_max_concurrency_limits_the_clusters_updating_in_a_wave() -> None:
    waves = [Wave(("eu-1", "eu-2"), max_concurrency=1), Wave(("us-1",))]
    result = run(waiting("eu-1", "eu-2", "us-1"), waves=waves)
    assert result.held_back == {"eu-2", "us-1"}
    again = run({**waiting("eu-2", "us-1"), "eu-1": updating()}, waves=waves)
    assert again.held_back == {"eu-2", "us-1"}


def test_the_next_cluster_of_a_wave_goes_once_one_succeeded() -> None:
    waves = [Wave(("eu-1", "eu-2"), max_concurrency=1), Wave(("us-1",))]
    result = run({**waiting("eu-2", "us-1"), "eu-1": settled()}, waves=waves)
    assert result.held_back == {"us-1"}
    assert states(result)["eu-2"] == rp.UPDATING


def test_a_wave_soaks_for_min_success_time_before_the_next_starts() -> None:
    gates = Gates(min_success_time=60)
    observed = {"eu-1": settled(), "eu-2": settled(), **waiting("us-1")}
    first = run(observed, gates, now=100)
    assert first.held_back == {"us-1"}
    assert states(first)["eu-1"] == rp.SOAKING
    assert first.wake_at == 160
    early = run(observed, gates, clocks=first.clocks, now=159)
    assert early.held_back == {"us-1"}
    done = run(observed, gates, clocks=first.clocks, now=160)
    assert done.held_back == set()
    assert states(done) == {"eu-1": rp.SUCCEEDED, "eu-2": rp.SUCCEEDED, "us-1": rp.UPDATING}
    assert done.wave == 1


def test_a_soak_starts_again_when_the_cluster_unsettles_without_failing() -> None:
    gates = Gates(min_success_time=60)
    first = run({"eu-1": settled()}, gates, now=100, waves=[Wave(("eu-1",))])
    moving = run({"eu-1": updating()}, gates, clocks=first.clocks, now=130, waves=[Wave(("eu-1",))])
    assert states(moving)["eu-1"] == rp.UPDATING
    back = run({"eu-1": settled()}, gates, clocks=moving.clocks, now=170, waves=[Wave(("eu-1",))])
    assert states(back)["eu-1"] == rp.SOAKING
    assert back.wake_at == 230


def test_a_failing_service_quality_pauses_the_rollout_naming_cluster_and_reason() -> None:
    bad = Observed("new", "new", settled=True, failing=("arena-0: healthy",))
    result = run({"eu-1": settled(), "eu-2": bad, **waiting("us-1")})
    assert result.held_back == {"us-1"}
    assert result.phase == rp.FAILED
    assert result.failure == rp.ClusterProgress(
        "eu-2", 0, rp.FAILED, rp.QUALITY_FAILING, "service quality failing on arena-0: healthy"
    )


def test_a_recorded_failure_holds_the_rollout_once_the_cluster_recovers() -> None:
    observed = {"eu-1": settled(), "eu-2": settled(), **waiting("us-1")}
    result = run(observed, control=Control(failed=True))
    assert result.held_back == {"us-1"}
    assert result.phase == rp.FAILED
    assert result.failure is None  # recorded already


def test_servers_not_ready_while_soaking_fail_the_cluster() -> None:
    gates = Gates(min_success_time=60)
    first = run({"eu-1": settled()}, gates, now=100, waves=[Wave(("eu-1",))])
    broken = Observed("new", "new", not_ready=("arena-1", "arena-2", "arena-3", "arena-4"))
    later = run({"eu-1": broken}, gates, clocks=first.clocks, now=120, waves=[Wave(("eu-1",))])
    assert later.failure is not None
    assert later.failure.reason == rp.NOT_READY
    assert later.failure.message.endswith("arena-1, arena-2, arena-3 and 1 more")


def test_the_progress_deadline_fails_a_cluster_that_does_not_settle() -> None:
    gates = Gates(progress_deadline=300)
    first = run(waiting("eu-1", "eu-2", "us-1"), gates, now=100)
    assert first.wake_at == 400
    observed = {"eu-1": settled(), "eu-2": updating(), **waiting("us-1")}
    before = run(observed, gates, clocks=first.clocks, now=399)
    assert before.failure is None
    after = run(observed, gates, clocks=before.clocks, now=400)
    assert after.failure is not None
    assert (after.failure.cluster, after.failure.reason) == ("eu-2", rp.DEADLINE_EXCEEDED)
    assert after.held_back == {"us-1"}


def test_max_failures_tolerates_that_many_failed_clusters() -> None:
    bad = Observed("new", "new", failing=("arena-0: healthy",))
    observed = {"eu-1": settled(), "eu-2": bad, **waiting("us-1")}
    tolerated = run(observed, Gates(max_failures=1))
    assert tolerated.failure is None
    assert tolerated.held_back == set()
    assert tolerated.phase == rp.PROGRESSING


def test_pause_gives_no_more_clusters_the_template() -> None:
    result = run(waiting("eu-1", "eu-2", "us-1"), control=Control(paused=True))
    assert result.held_back == {"eu-1", "eu-2", "us-1"}
    assert result.phase == rp.PAUSED


def test_pause_keeps_what_clusters_already_have() -> None:
    observed = {"eu-1": updating(), **waiting("eu-2", "us-1")}
    result = run(observed, control=Control(paused=True))
    assert result.held_back == {"eu-2", "us-1"}
    assert states(result)["eu-1"] == rp.UPDATING


def test_a_paused_rollout_says_paused_once_done_too() -> None:
    observed = {c: settled() for c in ("eu-1", "eu-2", "us-1")}
    assert run(observed, control=Control(paused=True)).phase == rp.PAUSED


def test_a_rollback_goes_everywhere_at_once() -> None:
    result = run(waiting("eu-1", "eu-2", "us-1"), control=Control(rollback=True))
    assert result.held_back == set()
    assert result.phase == rp.ROLLING_BACK


def test_a_rollout_is_complete_when_every_cluster_succeeded() -> None:
    observed = {c: settled() for c in ("eu-1", "eu-2", "us-1")}
    result = run(observed)
    assert (result.phase, result.wave, result.held_back) == (rp.COMPLETE, 2, frozenset())


def test_a_cluster_holding_nothing_is_never_held_back() -> None:
    observed = {**waiting("eu-1", "eu-2"), "us-1": Observed("new", None)}
    assert run(observed).held_back == set()


def test_a_succeeded_cluster_stays_succeeded_on_the_same_template() -> None:
    first = run({"eu-1": settled()}, waves=[Wave(("eu-1",))])
    later = run({"eu-1": updating()}, clocks=first.clocks, waves=[Wave(("eu-1",))])
    assert states(later)["eu-1"] == rp.SUCCEEDED


def test_a_new_template_starts_the_clusters_clocks_again() -> None:
    first = run({"eu-1": settled()}, waves=[Wave(("eu-1",))])
    newer = {"eu-1": Observed(desired="newer", holds="newer")}
    later = run(newer, clocks=first.clocks, waves=[Wave(("eu-1",))])
    assert states(later)["eu-1"] == rp.UPDATING


def test_a_failure_while_rolling_back_shows_on_its_cluster_and_pauses_nothing() -> None:
    failing = Observed(desired="new", holds="new", failing=("arena-1: healthy",))
    result = run({**waiting("eu-1", "eu-2"), "us-1": failing}, control=Control(rollback=True))
    assert states(result)["us-1"] == rp.FAILED
    assert (result.failure, result.held_back, result.phase) == (None, frozenset(), rp.ROLLING_BACK)
