"""When one game server changes, does the whole set need reconciling (`needs_set`)? And when it
does not, `plan_servers` writes for that server exactly what the whole plan would."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent.core import model, reconcile, views

from .world import World, game_server_set, running_status

Change = Callable[[World], None]


def _views(world: World) -> dict[int, model.PodView]:
    obs = world.observed()
    return reconcile.pod_views(obs, views.hooks(obs.gss), views.gss_view(obs.gss))


def _decisions(world: World) -> reconcile.Decisions:
    obs = world.observed()
    return reconcile.decide(obs.gss, views.gss_view(obs.gss), _views(world), world.now)


def _held_back(world: World) -> None:
    """Two Allocated servers kept beyond replicas 1."""
    for ordinal in (0, 1, 2):
        world.set_gs(ordinal, opsState="Allocated")
    world.settle()
    world.set_spec(replicas=1)
    world.settle()


def _updating(world: World) -> None:
    """An in-place update, one server at a time: gs-2 is being updated."""
    world.set_spec(
        updateStrategy={"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible"}},
    )
    world.settle()
    template = world.gss["spec"]["gameServerTemplate"]
    spec = {"containers": [{"name": "main", "image": "game:2"}]}
    world.set_spec(gameServerTemplate={**template, "spec": spec})
    world.apply(world.next_writes())


def _restarted(world: World) -> None:
    """The kubelet restarted gs-2's container on its new image."""
    pod = world.pod(2)
    pod["status"] = running_status(pod)


def _not_ready(world: World) -> None:
    conditions = world.pod(1)["status"]["conditions"]
    conditions[1] = {"type": "Ready", "status": "False"}


def _terminating(world: World) -> None:
    world.pod(1)["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"


def _label(world: World) -> None:
    world.gs(1)["metadata"]["labels"]["gs-sync/team"] = "red"


def _quality_outcome(world: World) -> None:
    world.gs(1)["status"]["serviceQualitiesConditions"] = [{"name": "q", "status": "True"}]


def _set(**spec: object) -> Change:
    return lambda world: world.set_gs(1, **spec)


CASES: list[tuple[str, Change | None, Change, bool]] = [
    ("ops state None to Maintaining", None, _set(opsState="Maintaining"), False),
    ("ops state None to WaitToBeDeleted", None, _set(opsState="WaitToBeDeleted"), False),
    ("ops state None to Allocated", None, _set(opsState="Allocated"), False),
    ("deletion priority, nothing to remove", None, _set(deletionPriority=100), False),
    ("update priority, nothing to update", None, _set(updatePriority=5), False),
    ("network disabled", None, _set(networkDisabled=True), False),
    ("a gs-sync label", None, _label, False),
    ("a probe's outcome", None, _quality_outcome, False),
    ("a pod not ready", None, _not_ready, False),
    ("a pod terminating (replaced in place)", None, _terminating, False),
    ("Kill lowers replicas", None, _set(opsState="Kill"), True),
    ("an image of its own", None, _set(containers=[{"name": "main", "image": "x:9"}]), True),
    ("held back: an Allocated server is freed", _held_back, _set(opsState="None"), True),
    ("held back: deletion priority of a kept one", _held_back, _set(deletionPriority=9), False),
    ("updating: the updated server restarted", _updating, _restarted, True),
    ("updating: another server's ops state", _updating, _set(opsState="Maintaining"), False),
]


@pytest.mark.parametrize(
    ("setup", "change", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_whether_a_server_change_needs_the_set(
    setup: Change | None, change: Change, expected: bool
) -> None:
    world = World.settled(3)
    if setup is not None:
        setup(world)
    before = _decisions(world)
    change(world)
    assert reconcile.needs_set(before, _decisions(world)) is expected


@pytest.mark.parametrize(
    ("setup", "change"),
    [case[1:3] for case in CASES if not case[3]],
    ids=[case[0] for case in CASES if not case[3]],
)
def test_a_server_plan_writes_what_the_whole_plan_writes(
    setup: Change | None, change: Change
) -> None:
    world = World.settled(3)
    if setup is not None:
        setup(world)
    world.settle()
    change(world)
    whole = world.next_writes()
    obs = world.observed()
    desired = views.gss_view(obs.gss)
    found = reconcile.pod_views(obs, views.hooks(obs.gss), desired)
    decisions = reconcile.decide(obs.gss, desired, found, world.now)
    only = reconcile.Observed(
        obs.gss,
        {o: p for o, p in obs.pods.items() if o == 1},
        {o: g for o, g in obs.game_servers.items() if o == 1},
        obs.now,
    )
    plan = reconcile.plan_servers(only, found, decisions, [1])
    assert not plan.whole_set
    assert plan.writes() == whole


def test_a_server_that_moves_other_servers_pre_update_holds_needs_the_set() -> None:
    """One server at a time, every server's inPlaceUpdate hook holding: gs-2 was released and
    updated; when it turns not ready the update window closes on gs-1 and gs-0, which leave
    PreUpdate — writes for servers other than the one that changed."""
    hold = {"gs-sync/update-block": "true"}
    world = World(
        game_server_set(
            3,
            updateStrategy={"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible"}},
            lifecycle={"inPlaceUpdate": {"labelsHandler": hold}},
            gameServerTemplate={
                "metadata": {"labels": hold},
                "spec": {"containers": [{"name": "main", "image": "game:1"}]},
            },
        )
    )
    world.settle()
    template = world.gss["spec"]["gameServerTemplate"]
    spec = {"containers": [{"name": "main", "image": "game:2"}]}
    world.set_spec(gameServerTemplate={**template, "spec": spec})
    world.gs(2)["metadata"]["labels"]["gs-sync/update-block"] = "false"
    world.settle()
    _restarted(world)
    world.settle()
    before = _decisions(world)
    assert before.update.pre_update == (1, 0)
    world.pod(2)["status"]["conditions"][1] = {"type": "Ready", "status": "False"}
    after = _decisions(world)
    assert not after.acts and after.update.pre_update == ()
    assert reconcile.needs_set(before, after)


FAST = {
    "ops state None to Maintaining",
    "ops state None to WaitToBeDeleted",
    "ops state None to Allocated",
    "deletion priority, nothing to remove",
    "update priority, nothing to update",
    "a pod not ready",
    # The view does not change at all:
    "network disabled",
    "a gs-sync label",
    "a probe's outcome",
}


@pytest.mark.parametrize(
    ("name", "setup", "change"), [c[:3] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_steady_set_skips_the_set_level_decisions_only_when_they_cannot_move(
    name: str, setup: Change | None, change: Change
) -> None:
    world = World.settled(3)
    if setup is not None:
        setup(world)
    world.settle()
    before, old = _decisions(world), _views(world)
    change(world)
    new = _views(world)
    skipped = not any(
        reconcile.needs_decide(before, old.get(o), new.get(o)) for o in set(old) | set(new)
    )
    assert skipped is (name in FAST)
    if skipped:
        # What the per-server plan reads of the decisions it keeps has not moved.
        after = _decisions(world)
        assert not reconcile.needs_set(before, after)
        assert (after.desired, after.scale, after.update.pre_update) == (
            before.desired,
            before.scale,
            before.update.pre_update,
        )
