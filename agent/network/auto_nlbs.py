"""`AlibabaCloud-AutoNLBs`: the set's per-line, per-block LoadBalancer Services (Alibaba Cloud's
controller creates an NLB for each), kept ahead of the set's highest ordinal; each pod carries
container ports named after its ordinal, which the Services target (bodies and rules in
`agent.core.network.auto_nlbs`).

The Services are shared by a block of servers, so they are never deleted by a scale-down, and
a server's isolation changes only its own ports' targets, by a JSON patch guarded by each
port's name (servers of one set sync concurrently).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from agent.core import bodies, wire
from agent.core.network import auto_nlbs as core
from agent.kube import client as kclient
from agent.kube import resources
from okg.network import auto_nlbs as auto_nlbs_conf
from okg.network import conf as nconf

from . import plugin, services

if TYPE_CHECKING:
    from collections.abc import Callable

    from agent.kube.cache import Key, WatchCache

_log = logging.getLogger(__name__)


def ordinal_of(name: str) -> int:
    suffix = name.rsplit("-", 1)[-1]
    return int(suffix) if suffix.isdigit() else 0


class AutoNlbsPlugin:
    def __init__(
        self,
        kube: kclient.KubeClient,
        services_cache: WatchCache,
        requeue: Callable[[Key, float], None] | None = None,
    ) -> None:
        self._kube = kube
        self._services = services_cache
        self._requeue = requeue

    def prepare_pod(self, conf: nconf.NetworkConf, pod: bodies.Json) -> None:
        """The pod's first container carries the named ports its block's Services target."""
        assert isinstance(conf, auto_nlbs_conf.AutoNlbsConf)
        ordinal = ordinal_of(str(bodies.meta(pod).get("name", "")))
        containers = (pod.setdefault("spec", {}).get("containers")) or []
        if not containers:
            return
        named = core.container_ports(conf, ordinal)
        taken = {(p["containerPort"], p["protocol"]) for p in named}
        kept = [
            p
            for p in containers[0].get("ports") or []
            if (p.get("containerPort"), p.get("protocol") or "TCP") not in taken
        ]
        containers[0]["ports"] = kept + named

    def forget_pod(self, pod: bodies.Json) -> None:
        return None

    async def sync_server(
        self, conf: nconf.NetworkConf, server: plugin.Server, expect: plugin.Expect
    ) -> plugin.Observed:
        assert isinstance(conf, auto_nlbs_conf.AutoNlbsConf)
        ordinal = ordinal_of(server.name)
        block = conf.block(ordinal)
        lines: dict[str, bodies.Json | None] = {}
        for isp in conf.isp_types:
            name = core.service_name(server.set_name, isp, block)
            svc = self._services.get((server.namespace, name))
            if svc is not None:
                svc = await self._isolate(svc, ordinal, server.network_disabled, expect)
            lines[isp] = svc
        seen = core.observed(conf, ordinal, lines, server.pod_ip, server.running)
        return plugin.Observed(seen.internal, seen.external, seen.current)

    async def _isolate(
        self, svc: bodies.Json, ordinal: int, disabled: bool, expect: plugin.Expect
    ) -> bodies.Json:
        ops = core.isolation_patch(svc, ordinal, disabled)
        if not ops:
            return svc
        meta = bodies.meta(svc)
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        try:
            patched = await kclient.unless_gone(
                self._kube.patch(
                    resources.SERVICE, namespace, name, ops, content_type=kclient.JSON_PATCH
                )
            )
        except kclient.ApiError as exc:
            # A port moved under the guard: look again on the next run.
            _log.info("Service %s/%s: %s", namespace, name, exc)
            patched = None
        if patched is None:
            if self._requeue is not None:
                owner = str((meta.get("labels") or {}).get(wire.OWNER_GSS, ""))
                self._requeue((namespace, owner), 1.0)
            return svc
        expect.wrote(self._services, patched)
        return patched

    async def sync_set(
        self, conf: nconf.NetworkConf, gss: bodies.Json, target: set[int], expect: plugin.Expect
    ) -> None:
        """Every line's Services up to the highest ordinal's block and `ReserveNlbNum` more;
        none is ever deleted here (each holds a block of servers' addresses)."""
        assert isinstance(conf, auto_nlbs_conf.AutoNlbsConf)
        meta = bodies.meta(gss)
        namespace, set_name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        owner = services.owner(gss, "GameServerSet")
        for block in range(core.blocks_needed(conf, sorted(target))):
            for isp in conf.isp_types:
                name = core.service_name(set_name, isp, block)
                if self._services.get((namespace, name)) is not None:
                    continue
                body = core.service_body(conf, namespace, set_name, owner, isp, block)
                created = await kclient.unless_gone(
                    self._kube.create(resources.SERVICE, namespace, body)
                )
                if created is not None:
                    expect.wrote(self._services, created)
