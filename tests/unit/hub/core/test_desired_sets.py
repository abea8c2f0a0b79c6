"""What the hub sends each cluster about one fleet: only changed sets, and deletions."""

from __future__ import annotations

from gamefleet import protocol
from gamefleet.v1 import agent_pb2
from google.protobuf import json_format

from hub.core.desired_sets import changes, drift_to_put_back, for_agent, in_messages, set_hash

KEY = ("games", "arena")


def desired(replicas: int, template: str = "t1") -> agent_pb2.DesiredSet:
    return agent_pb2.DesiredSet(
        namespace="games", name="arena", hash=set_hash(template * 8, replicas)
    )


def test_nothing_to_send_when_every_cluster_holds_its_hash() -> None:
    rendered = {"eu": desired(6), "us": desired(3)}
    held = {"eu": rendered["eu"].hash, "us": rendered["us"].hash}
    assert changes(KEY, rendered, held) == {}


def test_changed_replicas_or_template_and_new_clusters_are_sent() -> None:
    rendered = {"eu": desired(7), "us": desired(3, template="t2"), "ap": desired(1)}
    held = {"eu": desired(6).hash, "us": desired(3).hash, "ap": None}
    assert set(changes(KEY, rendered, held)) == {"eu", "us", "ap"}


def test_a_set_no_longer_wanted_is_deleted_except_where_the_hub_cannot_see() -> None:
    held = {"eu": desired(6).hash, "us": desired(3).hash}
    result = changes(KEY, {}, held, silent={"us"})
    assert list(result) == ["eu"]
    assert result["eu"].deleted


def test_hash_includes_replicas() -> None:
    assert set_hash("abc", 3) != set_hash("abc", 4)


def test_drift_is_put_back_once_per_change_of_the_set() -> None:
    status = agent_pb2.GameServerSetStatus(namespace="games", name="arena", observed_generation=2)
    assert drift_to_put_back(status, None) is None
    status.drift.append("spec.scaleStrategy by kubectl-patch")
    mark = drift_to_put_back(status, None)
    assert mark == (2, ("spec.scaleStrategy by kubectl-patch",))
    # The same drift of the same set version (only its counts moved): not again.
    status.counts.ready = 5
    assert drift_to_put_back(status, mark) is None
    # The set changed again (or the drift did): again.
    status.observed_generation = 3
    assert drift_to_put_back(status, mark) == (3, ("spec.scaleStrategy by kubectl-patch",))
    status.observed_generation = 2
    status.drift.append("spec.replicas by kubectl (scale)")
    assert drift_to_put_back(status, mark) is not None
    refused = agent_pb2.GameServerSetStatus(drift=["x by y"], refused="not served")
    assert drift_to_put_back(refused, None) is None


def test_sets_are_split_over_messages_that_each_fit_the_budget() -> None:
    sets = [
        agent_pb2.DesiredSet(namespace="games", name=f"f{i}", hash="x" * 300) for i in range(10)
    ]
    size = sets[0].ByteSize()
    messages = in_messages(sets, budget=3 * (size + 6))
    assert [len(m.sets) for m in messages] == [3, 3, 3, 1]
    assert [s.name for m in messages for s in m.sets] == [s.name for s in sets]
    assert all(not m.complete for m in messages)
    assert all(agent_pb2.HubMessage(desired=m).ByteSize() <= 3 * (size + 6) + 16 for m in messages)
    assert in_messages([]) == []


def test_an_agent_that_does_not_read_json_gets_the_same_spec_as_a_struct() -> None:
    sent = agent_pb2.DesiredSet(
        namespace="games", name="arena", hash="h", spec_json=b'{"replicas":3,"a":{"b":[1,"x"]}}'
    )
    assert for_agent(sent, reads_spec_json=True) is sent
    old = for_agent(sent, reads_spec_json=False)
    assert not old.spec_json and (old.namespace, old.name, old.hash) == ("games", "arena", "h")
    assert protocol.whole_numbers(json_format.MessageToDict(old.spec)) == {
        "replicas": 3,
        "a": {"b": [1, "x"]},
    }
    deleted = agent_pb2.DesiredSet(namespace="games", name="arena", deleted=True)
    assert for_agent(deleted, reads_spec_json=False) is deleted
