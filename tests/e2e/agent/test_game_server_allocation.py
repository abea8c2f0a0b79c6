"""In-cluster allocation: a GameServerAllocation created with kubectl (as Agones users do) is
answered by the agent in its status, the GameServer turns Allocated with the request's labels,
no server is given to two requests, and a request nothing matches is UnAllocated."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from gamefleet import protocol

from agent.core import wire
from agent.kube import resources

from .harness import AgentProcess, Namespace, eventually, kubectl

if TYPE_CHECKING:
    import pathlib

    from .harness import Obj


def _request(name: str, namespace: str, match: dict[str, str], labels: dict[str, str]) -> str:
    return json.dumps(
        {
            "apiVersion": "allocation.gamefleet.io/v1",
            "kind": "GameServerAllocation",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "gameServerSelectors": [{"matchLabels": match}],
                "metadata": {"labels": labels},
            },
        }
    )


async def _answer(namespace: Namespace, name: str) -> Obj:
    found: Obj = {}

    async def answered() -> bool:
        found.update(
            await namespace.kube.get(resources.GAME_SERVER_ALLOCATION, namespace.name, name)
        )
        return bool((found.get("status") or {}).get("state"))

    await eventually(answered, 60.0, f"GameServerAllocation {name} answered")
    return found


async def test_kubectl_create_allocates_each_request_its_own_server(
    agent: AgentProcess, namespace: Namespace, kubeconfig: pathlib.Path
) -> None:
    await namespace.create_set("gs", 3)
    await namespace.wait_states("gs", ("gs-0", "gs-1", "gs-2"), "Ready")
    pods_before = await namespace.pods("gs")
    answers = []
    for index in range(2):
        body = _request(
            f"match-{index}", namespace.name, {wire.OWNER_GSS: "gs"}, {"match": f"m{index}"}
        )
        code, output = await kubectl(kubeconfig, "create", "-f", "-", stdin=body)
        assert code == 0, output
        answers.append(await _answer(namespace, f"match-{index}"))
    names = [a["status"]["gameServerName"] for a in answers]
    assert [a["status"]["state"] for a in answers] == ["Allocated", "Allocated"]
    assert len(set(names)) == 2 and set(names) <= {"gs-0", "gs-1", "gs-2"}
    for index, (answer, name) in enumerate(zip(answers, names, strict=True)):
        assert answer["status"]["nodeName"] == pods_before[name]["spec"]["nodeName"]

        async def written(name: str = name, index: int = index, answer: Obj = answer) -> bool:
            gs = await namespace.get_gs(name)
            meta = gs["metadata"]
            return bool(
                gs["spec"].get("opsState") == "Allocated"
                and meta.get("labels", {}).get("match") == f"m{index}"
                and meta.get("annotations", {}).get(protocol.ALLOCATION_REQUEST_ANNOTATION)
                == f"gsa-{answer['metadata']['uid']}"
            )

        await eventually(written, 60.0, f"{name} Allocated for match-{index}")

    # Nothing else matches: the third request is answered UnAllocated, nothing changes.
    body = _request("match-x", namespace.name, {wire.OWNER_GSS: "no-such-set"}, {})
    code, output = await kubectl(kubeconfig, "create", "-f", "-", stdin=body)
    assert code == 0, output
    assert (await _answer(namespace, "match-x"))["status"]["state"] == "UnAllocated"

    # A scale-down to 0 keeps both allocated servers, on the same pods.
    await namespace.scale("gs", 0)
    await namespace.wait_servers("gs", {int(n.rsplit("-", 1)[1]) for n in names}, seconds=90.0)
    pods_after = await namespace.pods("gs")
    assert {n: pods_after[n]["metadata"]["uid"] for n in names} == {
        n: pods_before[n]["metadata"]["uid"] for n in names
    }
    assert agent.alive


async def test_a_request_the_schema_refuses_is_refused_by_kubectl(
    namespace: Namespace, kubeconfig: pathlib.Path
) -> None:
    body = json.loads(_request("bad", namespace.name, {}, {}))
    body["spec"]["scheduling"] = "Random"
    code, output = await kubectl(kubeconfig, "create", "-f", "-", stdin=json.dumps(body))
    assert code != 0 and "spec.scheduling" in output, output
