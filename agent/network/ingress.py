"""`Kubernetes-Ingress`: a ClusterIP Service and an Ingress per game server, both named after it.

The Ingress routes `Host` + `Path` (with `<id>` replaced by the server's ordinal) to the
Service's `Port`. The external address is what the ingress controller writes to the Ingress'
`status.loadBalancer.ingress`; until it does, the network is NotReady. Owned by the pod, or with
`Fixed=true` by the set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.core import bodies
from agent.core.network import status as nstatus
from agent.kube import client as kclient
from agent.kube import resources
from okg import vocabulary
from okg.network import conf as nconf

from . import plugin, services

if TYPE_CHECKING:
    from agent.kube.cache import WatchCache


def ordinal_of(name: str) -> str:
    return name.rsplit("-", 1)[-1]


def service_and_ingress(
    conf: nconf.IngressConf, server: plugin.Server
) -> tuple[bodies.Json, bodies.Json]:
    """The Service and the Ingress of one server."""
    meta = services.service_meta(server, conf.fixed)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP",
            "selector": services.selector(server.name, server.network_disabled),
            "ports": [
                {"name": str(conf.port), "port": conf.port, "protocol": "TCP",
                 "targetPort": conf.port}
            ],
        },
    }  # fmt: skip
    rule: bodies.Json = {
        "http": {
            "paths": [
                {
                    "path": conf.path.replace("<id>", ordinal_of(server.name)),
                    "pathType": conf.path_type,
                    "backend": {"service": {"name": server.name, "port": {"number": conf.port}}},
                }
            ]
        }
    }
    if conf.host:
        rule["host"] = conf.host
    spec: bodies.Json = {"rules": [rule]}
    if conf.ingress_class:
        spec["ingressClassName"] = conf.ingress_class
    if conf.tls_hosts or conf.tls_secret:
        tls: bodies.Json = {"hosts": list(conf.tls_hosts)}
        if conf.tls_secret:
            tls["secretName"] = conf.tls_secret
        spec["tls"] = [tls]
    ingress_meta = dict(meta)
    if conf.annotations:
        ingress_meta["annotations"] = dict(conf.annotations)
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": ingress_meta,
        "spec": spec,
    }
    return service, ingress


class IngressPlugin:
    """Keeps each server's Service and Ingress; reports the Ingress' load-balancer address."""

    def __init__(
        self, kube: kclient.KubeClient, keeper: services.ServiceKeeper, ingresses: WatchCache
    ) -> None:
        self._kube = kube
        self._keeper = keeper
        self.services = keeper.services
        self.ingresses = ingresses

    def prepare_pod(self, conf: nconf.NetworkConf, pod: bodies.Json) -> None:
        return None

    def forget_pod(self, pod: bodies.Json) -> None:
        return None

    async def _ensure(
        self,
        cache: WatchCache,
        resource: resources.Resource,
        wanted: bodies.Json,
        expect: plugin.Expect,
    ) -> bodies.Json | None:
        """Create the object, replace one of an earlier pod, bring its spec to `wanted`."""
        meta = wanted["metadata"]
        key = (str(meta["namespace"]), str(meta["name"]))
        current = cache.get(key)
        if current is None:
            created = await kclient.unless_gone(self._kube.create(resource, key[0], wanted))
            if created is not None:
                expect.wrote(cache, created)
            return created
        owner_uid = str(meta["ownerReferences"][0]["uid"])
        if owner_uid not in [
            str(r.get("uid")) for r in bodies.meta(current).get("ownerReferences") or []
        ]:
            uid = str(bodies.meta(current).get("uid", ""))
            await kclient.unless_gone(self._kube.delete(resource, key[0], key[1], uid=uid))
            expect.deleted(cache, key, uid)
            return None
        spec = current.get("spec") or {}
        patch: bodies.Json = {}
        for field, value in wanted["spec"].items():
            if field == "selector" and spec.get(field) != value:
                patch[field] = dict.fromkeys(spec.get(field) or {}) | value
            elif field == "ports":
                shape = [(p.get("name"), p.get("port"), p.get("targetPort")) for p in value]
                have = [
                    (p.get("name"), p.get("port"), p.get("targetPort"))
                    for p in spec.get(field) or []
                ]
                if shape != have:
                    patch[field] = value
            elif spec.get(field) != value:
                patch[field] = value
        if not patch:
            return current
        patched = await kclient.unless_gone(
            self._kube.patch(resource, key[0], key[1], {"spec": patch})
        )
        if patched is not None:
            expect.wrote(cache, patched)
        return patched

    async def sync_server(
        self, conf: nconf.NetworkConf, server: plugin.Server, expect: plugin.Expect
    ) -> plugin.Observed:
        assert isinstance(conf, nconf.IngressConf)
        service_body, ingress_body = service_and_ingress(conf, server)
        service = await self._ensure(self.services, resources.SERVICE, service_body, expect)
        ingress = await self._ensure(self.ingresses, resources.INGRESS, ingress_body, expect)
        port = nstatus.Port(str(conf.port), "TCP", conf.port)
        internal = [nstatus.Address(server.pod_ip, (port,))] if server.pod_ip else []
        external: list[nstatus.Address] = []
        path = conf.path.replace("<id>", ordinal_of(server.name))
        for lb in ((ingress or {}).get("status") or {}).get("loadBalancer", {}).get(
            "ingress"
        ) or []:
            address = str(lb.get("ip") or lb.get("hostname") or "")
            if address:
                external.append(nstatus.Address(address, (port,), f"{conf.host}{path}"))
        ready = bool(external) and services.selected(service) and server.running
        return plugin.Observed(
            internal,
            external,
            vocabulary.NetworkState.READY if ready else vocabulary.NetworkState.NOT_READY,
        )

    async def sync_set(
        self, conf: nconf.NetworkConf, gss: bodies.Json, target: set[int], expect: plugin.Expect
    ) -> None:
        for cache in (self.services, self.ingresses):
            await self._keeper.remove_others(gss, target, expect, cache)
