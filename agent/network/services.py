"""One Service per game server, kept equal to what a plugin wants (NodePort, load balancers).

The Service is named after the server and selects it by `statefulset.kubernetes.io/pod-name`;
`networkDisabled` swaps the key to `game.kruise.io/svc-selector-disabled`. It is owned by the
pod, or with `Fixed=true` by the set, so it (and the ports it holds) outlive the pod.
Creation does not hold up the server's sync: the API server allocates cluster IPs and node
ports one at a time, and the GameServer's own state must not wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from agent.core import bodies, wire
from agent.kube import client as kclient
from agent.kube import resources
from agent.kube.cache import rv_of
from okg import vocabulary

if TYPE_CHECKING:
    from collections.abc import Callable

    from agent.kube.cache import Key, WatchCache

    from . import plugin

_log = logging.getLogger(__name__)

SELECTOR = "statefulset.kubernetes.io/pod-name"
SELECTOR_DISABLED = "game.kruise.io/svc-selector-disabled"
CREATES_IN_FLIGHT = 4
"""Service creations at once: each allocates a cluster IP and node ports, which the API server
serialises; measured on the local cluster, 4 at once create 14/s, 16 or 64 at once 3-6/s."""


def selector(name: str, disabled: bool) -> dict[str, str]:
    return {SELECTOR_DISABLED if disabled else SELECTOR: name}


def selected(service: bodies.Json | None) -> bool:
    """The Service routes to its server (not isolated)."""
    return SELECTOR in (((service or {}).get("spec") or {}).get("selector") or {})


def owner(obj: bodies.Raw, kind: str) -> bodies.OwnerReference:
    return bodies.owner_reference(obj, kind, "v1" if kind == "Pod" else vocabulary.API_VERSION)


def service_meta(server: plugin.Server, fixed: bool) -> bodies.Json:
    """Name, namespace, the set's label, and the owner (the set when fixed, else the pod)."""
    by = owner(server.gss, "GameServerSet") if fixed else owner(server.pod, "Pod")
    return {
        "name": server.name,
        "namespace": server.namespace,
        "labels": {wire.OWNER_GSS: server.set_name},
        "ownerReferences": [by],
    }


def port_shape(ports: list[bodies.Json]) -> list[tuple[str, int, str, object]]:
    return [
        (str(p.get("name")), int(p.get("port") or 0), str(p.get("protocol") or "TCP"),
         p.get("targetPort"))
        for p in ports
    ]  # fmt: skip


def spec_patch(current: bodies.Json, wanted: bodies.Json) -> bodies.Json:
    """The merge patch taking `current`'s spec to `wanted`'s on the fields `wanted` sets."""
    spec = current.get("spec") or {}
    patch: bodies.Json = {}
    for name, value in (wanted.get("spec") or {}).items():
        if name == "selector":
            if dict(spec.get(name) or {}) != value:
                patch[name] = dict.fromkeys(spec.get(name) or {}) | value
        elif name == "ports":
            if port_shape(spec.get(name) or []) != port_shape(value):
                patch[name] = value
        elif spec.get(name) != value:
            patch[name] = value
    return patch


def annotations_patch(current: bodies.Json, wanted: bodies.Json) -> dict[str, str]:
    have = bodies.meta(current).get("annotations") or {}
    want: dict[str, str] = bodies.meta(wanted).get("annotations") or {}
    return {k: v for k, v in want.items() if have.get(k) != v}


class ServiceKeeper:
    """Creates, replaces and patches the Services of game servers in one Service cache
    (`create_soon` serves any kind's cache: the global-address objects use it)."""

    def __init__(
        self,
        kube: kclient.KubeClient,
        services: WatchCache,
        requeue: Callable[[Key, float], None] | None = None,
    ) -> None:
        self._kube = kube
        self.services = services
        self._requeue = requeue
        self._creates = asyncio.Semaphore(CREATES_IN_FLIGHT)
        self._creating: dict[Key, asyncio.Task[None]] = {}
        self._created: dict[Key, int] = {}
        """Services created whose creation the cache may not show yet (key -> rv)."""

    def creating(self, key: Key) -> bool:
        return key in self._creating

    def _start_create(
        self, key: Key, set_key: Key, body: bodies.Json, failed: Callable[[], None] | None
    ) -> None:
        """The Service's ADDED event queues the set again; a failure retries the set."""
        if key in self._creating:
            return

        async def create() -> None:
            ok = False
            try:
                async with self._creates:
                    created = await self._kube.create(self.services.resource, key[0], body)
                self._created[key] = rv_of(created)
                ok = True
            except kclient.ApiError as exc:
                ok = exc.conflict
                if not exc.conflict:
                    _log.warning("creating %s %s/%s: %s", self.services.resource.kind, *key, exc)
            except Exception as exc:
                _log.warning("creating %s %s/%s: %r", self.services.resource.kind, *key, exc)
            finally:
                self._creating.pop(key, None)
            if not ok:
                if failed is not None:
                    failed()
                if self._requeue is not None:
                    self._requeue(set_key, 1.0)

        self._creating[key] = asyncio.create_task(create(), name=f"service-{key[1]}")

    def create_soon(self, key: Key, set_key: Key, body: bodies.Json) -> None:
        """Create the object in the background (its cache's ADDED event queues the set again),
        unless a creation is under way or the cache does not show the last one yet."""
        rv = self._created.get(key)
        if rv is not None and not self.services.has_seen(key, rv):
            return
        self._created.pop(key, None)
        self._start_create(key, set_key, body, None)

    async def ensure(
        self,
        server: plugin.Server,
        wanted: bodies.Json | Callable[[], bodies.Json],
        fixed: bool,
        expect: plugin.Expect,
        *,
        failed: Callable[[], None] | None = None,
        name: str | None = None,
    ) -> bodies.Json | None:
        """The server's Service brought to `wanted` (a body, or a function making it: called
        only when the Service must be created); None while it is being created or replaced.
        `failed` is called when a creation fails. `name`: a Service not named like the server
        (a server with several)."""
        key = (server.namespace, name or server.name)
        svc = self.services.get(key)
        if svc is None:
            rv = self._created.get(key)
            if rv is None or self.services.has_seen(key, rv):
                self._created.pop(key, None)
                body = wanted() if callable(wanted) else wanted
                self._start_create(key, (server.namespace, server.set_name), body, failed)
            return None
        self._created.pop(key, None)
        want = service_meta(server, fixed)
        owner_uid = str(want["ownerReferences"][0]["uid"])
        owners = [str(r.get("uid")) for r in bodies.meta(svc).get("ownerReferences") or []]
        if owner_uid not in owners:
            if not fixed:
                # The Service of an earlier pod of this ordinal: replace it.
                uid = str(bodies.meta(svc).get("uid", ""))
                await kclient.unless_gone(
                    self._kube.delete(resources.SERVICE, server.namespace, key[1], uid=uid)
                )
                expect.deleted(self.services, key, uid)
                return None
            patched = await kclient.unless_gone(
                self._kube.patch(
                    resources.SERVICE,
                    server.namespace,
                    key[1],
                    {"metadata": {"ownerReferences": want["ownerReferences"]}},
                )
            )
            if patched is not None:
                expect.wrote(self.services, patched)
                svc = patched
        body = wanted() if callable(wanted) else wanted
        patch: bodies.Json = {}
        spec = spec_patch(svc, body)
        if spec:
            patch["spec"] = spec
        notes = annotations_patch(svc, body)
        if notes:
            patch["metadata"] = {"annotations": notes}
        if not patch:
            return svc
        patched = await kclient.unless_gone(
            self._kube.patch(resources.SERVICE, server.namespace, key[1], patch)
        )
        if patched is not None:
            expect.wrote(self.services, patched)
        return patched

    async def remove_others(
        self,
        gss: bodies.Json,
        target: set[int],
        expect: plugin.Expect,
        cache: WatchCache | None = None,
    ) -> None:
        """Delete the set's objects in `cache` (its Services by default) of ordinals it no
        longer has."""
        cache = cache or self.services
        meta = bodies.meta(gss)
        namespace, set_name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        prefix = f"{set_name}-"
        for obj in cache.by_index(f"{namespace}/{set_name}"):
            ometa = bodies.meta(obj)
            name = str(ometa.get("name", ""))
            suffix = name[len(prefix) :] if name.startswith(prefix) else ""
            if not suffix.isdigit() or int(suffix) in target or ometa.get("deletionTimestamp"):
                continue
            uid = str(ometa.get("uid", ""))
            await kclient.unless_gone(self._kube.delete(cache.resource, namespace, name, uid=uid))
            expect.deleted(cache, (namespace, name), uid)
