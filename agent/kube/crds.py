"""Install or upgrade the agent's CRDs with server-side apply, and wait until they serve."""

from __future__ import annotations

import asyncio
import pathlib
import time

import yaml

from . import client as kclient
from . import ready, resources

DEFAULT_PATH = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "agent" / "crds.yaml"


def load(path: pathlib.Path = DEFAULT_PATH) -> list[kclient.Obj]:
    with path.open() as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def kind_of(crd: kclient.Obj) -> resources.Resource:
    """The kind a CRD defines, at its storage version."""
    spec = crd["spec"]
    versions = spec.get("versions") or []
    version = next((v["name"] for v in versions if v.get("storage")), versions[0]["name"])
    return resources.Resource(
        f"{spec['group']}/{version}",
        spec["names"]["plural"],
        spec["names"]["kind"],
        spec.get("scope", "Namespaced") == "Namespaced",
    )


async def install(
    kube: kclient.KubeClient, path: pathlib.Path = DEFAULT_PATH, seconds: float = 60.0
) -> list[str]:
    """Apply every CRD in `path`; return their names once all are Established and their kinds
    list (a new or changed CRD's watch cache answers 429 until it has loaded)."""
    names = []
    kinds = []
    for crd in load(path):
        await kube.apply(resources.CRD, None, crd)
        names.append(str(crd["metadata"]["name"]))
        kinds.append(kind_of(crd))
    deadline = time.monotonic() + seconds
    for name in names:
        while True:
            obj = await kube.get(resources.CRD, None, name)
            conditions = (obj.get("status") or {}).get("conditions") or []
            if any(
                c.get("type") == "Established" and c.get("status") == "True" for c in conditions
            ):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not Established after {seconds}s")
            await asyncio.sleep(0.2)
    await ready.wait_serving(kube, kinds, max(deadline - time.monotonic(), 1.0))
    return names


def _established(condition: kclient.Obj) -> bool:
    return condition.get("type") == "Established" and condition.get("status") == "True"
