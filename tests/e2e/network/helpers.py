"""What the network e2e tests share: waiting for a server's network state, and reading a
load-balancer Service's allocation record."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from agent.kube import resources
from tests.e2e.agent.harness import eventually

if TYPE_CHECKING:
    from tests.e2e.agent.harness import Namespace

Obj = dict[str, Any]


async def wait_network(namespace: Namespace, name: str, desired: str, current: str) -> Obj:
    """The server's networkStatus once its desired and current states are these."""
    found: Obj = {}

    async def check() -> bool:
        # (A recreated pod's GameServer is replaced: it may be missing for a moment.)
        gs = (await namespace.game_servers(name.rsplit("-", 1)[0])).get(name) or {}
        status = (gs.get("status") or {}).get("networkStatus") or {}
        found.clear()
        found.update(status)
        return (
            status.get("desiredNetworkState") == desired
            and status.get("currentNetworkState") == current
        )

    try:
        await eventually(check, 30.0, f"{name} network desired {desired}, current {current}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last {found}") from None
    return found


async def wait_global_address(namespace: Namespace, name: str) -> Obj:
    """The server's networkStatus once it has a global address, checked to keep the server's
    regional ports and to equal the pod annotation."""
    found: Obj = {}

    async def check() -> bool:
        gs = await namespace.get_gs(name)
        found.clear()
        found.update(gs["status"]["networkStatus"])
        return bool(found.get("globalAddresses"))

    await eventually(check, 30.0, f"{name}'s global address")
    assert found["externalAddresses"][0]["ports"] == found["globalAddresses"][0]["ports"], (
        "the global entry keeps the server's regional ports"
    )
    pod = (await namespace.pods(name.rsplit("-", 1)[0]))[name]
    assert json.loads(pod["metadata"]["annotations"]["game.kruise.io/network-status"]) == found
    return found


async def wait_global_emptied(namespace: Namespace, name: str) -> None:
    """The server's global addresses emptied (`[]`: a merge patch cannot drop the key)."""

    async def check() -> bool:
        gs = await namespace.get_gs(name)
        return bool(gs["status"]["networkStatus"].get("globalAddresses") == [])

    await eventually(check, 30.0, f"{name} with its global addresses emptied")


async def wait_invalid(namespace: Namespace, gss: str, expected: str) -> None:
    """The set's `NetworkConfigInvalid` condition says `expected`, and it has no pods."""

    async def reported() -> bool:
        status = (await namespace.get_set(gss)).get("status") or {}
        cond = {c["type"]: c for c in status.get("conditions") or []}.get("NetworkConfigInvalid")
        return cond is not None and expected in cond["message"]

    await eventually(reported, 30.0, f"NetworkConfigInvalid saying {expected!r}")
    assert await namespace.pods(gss) == {}


def lb_record(svc: Obj) -> tuple[str, list[int]]:
    """(load balancer, ports) from a Service's `gamefleet.io/lb-ports` record."""
    loaded = json.loads(svc["metadata"]["annotations"]["gamefleet.io/lb-ports"])
    return loaded["lb"], loaded["ports"]


def crd(resource: resources.Resource) -> Obj:
    """A minimal CRD of a cloud controller's kind: spec and status kept as written."""
    group, version = resource.group_version.split("/")
    loose = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{resource.plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "plural": resource.plural,
                "singular": resource.kind.lower(),
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
            },
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": loose, "status": loose},
                        }
                    },
                }
            ],
        },
    }
