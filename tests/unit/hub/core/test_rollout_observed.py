"""What the rollout's gates read of a cluster: settled, servers not Ready, qualities failing."""

from __future__ import annotations

from gamefleet.v1 import agent_pb2, gameserver_pb2

from hub.core.rollout_observed import observe, template_of
from hub.core.rollout_progress import Observed


def reported(applied: str = "new-3", updated_ready: int = 3) -> agent_pb2.GameServerSetStatus:
    status = agent_pb2.GameServerSetStatus(applied_hash=applied, desired_replicas=3)
    status.counts.updated_ready = updated_ready
    return status


def server(
    name: str,
    *,
    updated: bool = True,
    state: str = "Ready",
    ops: str = "None",
    quality: tuple[str, str] | None = None,
) -> gameserver_pb2.GameServer:
    found = gameserver_pb2.GameServer(name=name, updated=updated, state=state, ops_state=ops)
    if quality is not None:
        found.quality_conditions.add().update({"name": quality[0], "status": quality[1]})
    return found


def test_template_of_drops_the_replicas() -> None:
    assert template_of("abc-3") == "abc"
    assert template_of("abc") == "abc"


def test_a_cluster_on_an_older_template_is_only_waiting() -> None:
    assert observe("new-3", "old-3", reported(), [server("a")], ()) == Observed("new", "old")


def test_settled_when_applied_and_every_updated_server_is_ready() -> None:
    seen = observe("new-3", "new-3", reported(), [server("a"), server("b"), server("c")], ())
    assert seen == Observed("new", "new", settled=True)


def test_a_replicas_change_alone_is_the_same_template() -> None:
    assert observe("new-4", "new-3", reported(), [], ()).holds == "new"


def test_allocated_servers_left_on_the_older_template_count_as_settled() -> None:
    servers = [server("a", updated=False, ops="Allocated"), server("b"), server("c")]
    assert observe("new-3", "new-3", reported(updated_ready=2), servers, ()).settled


def test_idle_servers_left_on_the_older_template_are_not_settled() -> None:
    servers = [server("a", updated=False), server("b"), server("c")]
    assert not observe("new-3", "new-3", reported(updated_ready=2), servers, ()).settled


def test_not_applied_is_not_settled() -> None:
    assert not observe("new-3", "new-3", reported(applied="old-3"), [], ()).settled
    assert not observe("new-3", "new-3", None, [], ()).settled


def test_servers_are_not_judged_before_their_agent_applied_the_desired_template() -> None:
    # Right after a new template (an undo) reaches the agent, its servers' reports are still of
    # the template before: "updated" and a failing quality there say nothing of this one.
    servers = [server("a", quality=("healthy", "False")), server("b", state="NotReady")]
    assert observe("new-3", "new-3", reported(applied="old-3"), servers, ()) == Observed(
        "new", "new"
    )
    assert observe("new-3", "new-3", None, servers, ()) == Observed("new", "new")


def test_updated_servers_not_ready_are_named() -> None:
    servers = [server("b", state="NotReady"), server("a", state="Crash"), server("c")]
    seen = observe("new-3", "new-3", reported(), servers, ())
    assert (seen.settled, seen.not_ready) == (False, ("a", "b"))


def test_failing_qualities_of_updated_servers_count_and_others_do_not() -> None:
    servers = [
        server("a", quality=("healthy", "False")),
        server("b", quality=("healthy", "True")),
        server("c", updated=False, quality=("healthy", "False")),
        server("d", quality=("idle", "False")),
    ]
    assert observe("new-3", "new-3", reported(), servers, ()).failing == (
        "a: healthy",
        "d: idle",
    )
    assert observe("new-3", "new-3", reported(), servers, {"healthy"}).failing == ("a: healthy",)


def test_deleted_servers_are_ignored() -> None:
    gone = server("a", state="Deleting")
    gone.deleted = True
    assert observe("new-3", "new-3", reported(), [gone], ()).not_ready == ()


def test_a_status_from_before_the_servers_exist_is_not_settled() -> None:
    early = reported(updated_ready=0)
    early.desired_replicas = 0
    assert not observe("new-3", "new-3", early, [], ()).settled


def test_a_locally_owned_replicas_count_is_the_owners() -> None:
    owned = reported(updated_ready=2)
    owned.desired_replicas, owned.replicas_owner = 2, "HorizontalPodAutoscaler"
    assert observe("new-3", "new-3", owned, [], ()).settled
