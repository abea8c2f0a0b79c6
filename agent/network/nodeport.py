"""`Kubernetes-NodePort`: one NodePort Service per game server, named after it.

The Service selects `statefulset.kubernetes.io/pod-name: <name>`; `networkDisabled` swaps the
key to `game.kruise.io/svc-selector-disabled` (the server is isolated, desired NotReady). It is
owned by the pod, or with `Fixed=true` by the set, so it (and its node ports) outlive the pod.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from agent.core import model, wire
from agent.core.network import conf as nconf
from agent.core.network import nodes
from agent.core.network import status as nstatus
from agent.kube import client as kclient
from agent.kube import resources
from agent.kube.cache import rv_of

from . import plugin

if TYPE_CHECKING:
    from collections.abc import Callable

    from agent.kube.cache import Key, WatchCache

Obj = dict[str, Any]
_log = logging.getLogger(__name__)

SELECTOR = "statefulset.kubernetes.io/pod-name"
CREATES_IN_FLIGHT = 4
"""Service creations at once: each allocates a cluster IP and node ports, which the API server
serialises; measured on the local cluster, 4 at once create 14/s, 16 or 64 at once 3-6/s."""
SELECTOR_DISABLED = "game.kruise.io/svc-selector-disabled"


def _meta(obj: Obj | None) -> Obj:
    value = (obj or {}).get("metadata")
    return value if isinstance(value, dict) else {}


def service_ports(conf: nconf.NodePortConf) -> list[Obj]:
    ports: list[Obj] = []
    for pp in conf.ports:
        protos = pp.protocol.kube()
        for proto in protos:
            ports.append(
                {
                    "name": nstatus.port_name(pp.port, proto, len(protos) > 1),
                    "port": pp.port,
                    "protocol": proto,
                    "targetPort": pp.port,
                }
            )
    return ports


def selector(name: str, disabled: bool) -> dict[str, str]:
    return {SELECTOR_DISABLED if disabled else SELECTOR: name}


def _owner(obj: Obj, kind: str) -> Obj:
    meta = _meta(obj)
    return {
        "apiVersion": str(obj.get("apiVersion") or ("v1" if kind == "Pod" else wire.API_VERSION)),
        "kind": kind,
        "name": str(meta.get("name", "")),
        "uid": str(meta.get("uid", "")),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def service_body(conf: nconf.NodePortConf, server: plugin.Server) -> Obj:
    owner = _owner(server.gss, "GameServerSet") if conf.fixed else _owner(server.pod, "Pod")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": server.name,
            "namespace": server.namespace,
            "labels": {wire.OWNER_GSS: server.set_name},
            "ownerReferences": [owner],
        },
        "spec": {
            "type": "NodePort",
            "selector": selector(server.name, server.network_disabled),
            "ports": service_ports(conf),
        },
    }


def _port_shape(ports: list[Obj]) -> list[tuple[str, int, str, object]]:
    return [
        (str(p.get("name")), int(p.get("port") or 0), str(p.get("protocol") or "TCP"),
         p.get("targetPort"))
        for p in ports
    ]  # fmt: skip


class NodePortPlugin:
    """Keeps each server's Service and reports pod IP + port, node IP + node port."""

    def __init__(
        self,
        kube: kclient.KubeClient,
        services: WatchCache,
        nodes_cache: WatchCache,
        requeue: Callable[[Key, float], None] | None = None,
    ) -> None:
        self._kube = kube
        self.services = services
        self._nodes = nodes_cache
        self._requeue = requeue
        self._creates = asyncio.Semaphore(CREATES_IN_FLIGHT)
        self._creating: dict[Key, asyncio.Task[None]] = {}
        self._created: dict[Key, int] = {}
        """Services created whose creation the cache may not show yet (key -> rv)."""

    def _start_create(self, key: Key, set_key: Key, body: Obj) -> None:
        """Create a Service without holding up the server's sync: the API server creates them
        slowly (cluster IP + node port allocation), and the GameServer's own state must not
        wait. The Service's ADDED event queues the set again; a failure retries the set."""
        if key in self._creating:
            return

        async def create() -> None:
            try:
                async with self._creates:
                    created = await self._kube.create(resources.SERVICE, key[0], body)
                self._created[key] = rv_of(created)
            except kclient.ApiError as exc:
                if not exc.conflict:
                    _log.warning("creating Service %s/%s: %s", *key, exc)
                    if self._requeue is not None:
                        self._requeue(set_key, 1.0)
            except Exception as exc:
                _log.warning("creating Service %s/%s: %r", *key, exc)
                if self._requeue is not None:
                    self._requeue(set_key, 1.0)
            finally:
                self._creating.pop(key, None)

        self._creating[key] = asyncio.create_task(create(), name=f"service-{key[1]}")

    def prepare_pod(self, conf: nconf.NetworkConf, pod: Obj) -> None:
        return None

    def forget_pod(self, pod: Obj) -> None:
        return None

    async def _ignore_missing(self, call: Any) -> Obj | None:
        try:
            result: Obj = await call
        except kclient.ApiError as exc:
            if exc.not_found or exc.conflict:
                return None
            raise
        return result

    async def sync_server(
        self, conf: nconf.NetworkConf, server: plugin.Server, expect: plugin.Expect
    ) -> plugin.Observed:
        assert isinstance(conf, nconf.NodePortConf)
        key = (server.namespace, server.name)
        svc = self.services.get(key)
        wanted = service_body(conf, server)
        not_ready = plugin.Observed([], [], model.NetworkState.NOT_READY)
        if svc is None:
            rv = self._created.get(key)
            if rv is None or self.services.has_seen(key, rv):
                self._created.pop(key, None)
                self._start_create(key, (server.namespace, server.set_name), wanted)
            return not_ready
        self._created.pop(key, None)
        owner_uid = str(wanted["metadata"]["ownerReferences"][0]["uid"])
        owners = [str(r.get("uid")) for r in _meta(svc).get("ownerReferences") or []]
        if owner_uid not in owners:
            if not conf.fixed:
                # The Service of an earlier pod of this ordinal: replace it.
                uid = str(_meta(svc).get("uid", ""))
                await self._ignore_missing(
                    self._kube.delete(resources.SERVICE, server.namespace, server.name, uid=uid)
                )
                expect.deleted(self.services, key, uid)
                return not_ready
            patched = await self._ignore_missing(
                self._kube.patch(
                    resources.SERVICE,
                    server.namespace,
                    server.name,
                    {"metadata": {"ownerReferences": wanted["metadata"]["ownerReferences"]}},
                )
            )
            if patched is not None:
                expect.wrote(self.services, patched)
                svc = patched
        spec = svc.get("spec") or {}
        patch: Obj = {}
        current_selector = dict(spec.get("selector") or {})
        if current_selector != wanted["spec"]["selector"]:
            patch["selector"] = dict.fromkeys(current_selector) | wanted["spec"]["selector"]
        if _port_shape(spec.get("ports") or []) != _port_shape(wanted["spec"]["ports"]):
            patch["ports"] = wanted["spec"]["ports"]
        if patch:
            patched = await self._ignore_missing(
                self._kube.patch(resources.SERVICE, server.namespace, server.name, {"spec": patch})
            )
            if patched is None:
                return not_ready
            expect.wrote(self.services, patched)
            svc = patched
            spec = svc.get("spec") or {}
        return self._observed(spec, server)

    def _observed(self, spec: Obj, server: plugin.Server) -> plugin.Observed:
        node_name = str((server.pod.get("spec") or {}).get("nodeName") or "")
        node_ip = nodes.node_ip(self._nodes.get(("", node_name))) if node_name else ""
        inner: list[nstatus.Port] = []
        outer: list[nstatus.Port] = []
        for port in spec.get("ports") or []:
            name, proto = str(port.get("name", "")), str(port.get("protocol") or "TCP")
            inner.append(nstatus.Port(name, proto, int(port.get("targetPort") or port["port"])))
            if port.get("nodePort"):
                outer.append(nstatus.Port(name, proto, int(port["nodePort"])))
        internal = [nstatus.Address(server.pod_ip, tuple(inner))] if server.pod_ip else []
        external = [nstatus.Address(node_ip, tuple(outer))] if node_ip and outer else []
        selected = SELECTOR in (spec.get("selector") or {})
        ready = (
            selected
            and server.running
            and bool(external)
            and len(outer) == len(spec.get("ports") or [])
        )
        state = model.NetworkState.READY if ready else model.NetworkState.NOT_READY
        return plugin.Observed(internal, external, state)

    async def sync_set(
        self, conf: nconf.NetworkConf, gss: Obj, target: set[int], expect: plugin.Expect
    ) -> None:
        meta = _meta(gss)
        namespace, set_name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        prefix = f"{set_name}-"
        for svc in self.services.by_index(f"{namespace}/{set_name}"):
            smeta = _meta(svc)
            name = str(smeta.get("name", ""))
            suffix = name[len(prefix) :] if name.startswith(prefix) else ""
            if not suffix.isdigit() or int(suffix) in target or smeta.get("deletionTimestamp"):
                continue
            uid = str(smeta.get("uid", ""))
            await self._ignore_missing(
                self._kube.delete(resources.SERVICE, namespace, name, uid=uid)
            )
            expect.deleted(self.services, (namespace, name), uid)
