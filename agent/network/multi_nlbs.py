"""`AlibabaCloud-Multi-NLBs`: per server one LoadBalancer Service per line, each bound to that
line's NLB of the server's group, all on the same ports (rules in
`agent.core.network.multi_nlbs`). Ports are reserved on every NLB of the group when the pod is
created, in the table every load-balancer plugin shares, and each Service records its own;
`networkDisabled` makes every line's Service ClusterIP and back.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from agent.core import bodies
from agent.core.network import lbports
from agent.core.network import multi_nlbs as core
from agent.kube import client as kclient
from agent.kube import resources
from okg import vocabulary
from okg.network import conf as nconf
from okg.network import multi_nlbs as multi_nlbs_conf

from . import plugin, services

if TYPE_CHECKING:
    from agent.kube.cache import WatchCache

_log = logging.getLogger(__name__)


def _name(obj: bodies.Json) -> str:
    return str(bodies.meta(obj).get("name", ""))


def _record(svc: bodies.Json | None) -> lbports.Allocation | None:
    if svc is None:
        return None
    meta = bodies.meta(svc)
    return lbports.read_record(meta.get("annotations") or {}, str(meta.get("uid") or "") or None)


class MultiNlbsPlugin:
    def __init__(
        self, kube: kclient.KubeClient, keeper: services.ServiceKeeper, table: lbports.LbPortTable
    ) -> None:
        self._kube = kube
        self._keeper = keeper
        self.table = table
        self._reserved: dict[lbports.ServiceKey, list[lbports.ServiceKey]] = {}
        """Pod -> the line Services reserved for it at creation (dropped if the create fails)."""

    @property
    def _services(self) -> WatchCache:
        return self._keeper.services

    def prepare_pod(self, conf: nconf.NetworkConf, pod: bodies.Json) -> None:
        """The same ports on every NLB of one group, before the pod exists (none free refuses
        the pod, as for the other load balancers)."""
        assert isinstance(conf, multi_nlbs_conf.MultiNlbsConf)
        namespace = str(bodies.meta(pod).get("namespace", ""))
        core.allocate(self.table, conf, namespace, _name(pod))
        keys = core.service_keys(conf, namespace, _name(pod))
        self._reserved[(namespace, _name(pod))] = keys

    def forget_pod(self, pod: bodies.Json) -> None:
        namespace = str(bodies.meta(pod).get("namespace", ""))
        for key in self._reserved.pop((namespace, _name(pod)), []):
            self.table.forget(key)

    async def sync_server(
        self, conf: nconf.NetworkConf, server: plugin.Server, expect: plugin.Expect
    ) -> plugin.Observed:
        assert isinstance(conf, multi_nlbs_conf.MultiNlbsConf)
        keys = core.service_keys(conf, server.namespace, server.name)
        held = [_record(self._services.get(k)) for k in keys]
        whole = all(a is not None and len(a.ports) == len(conf.ports) for a in held)
        try:
            allocations = (
                [a for a in held if a is not None]
                if whole
                else core.allocate(self.table, conf, server.namespace, server.name)
            )
        except lbports.NoCapacityError as exc:
            _log.warning("%s/%s: %s", server.namespace, server.name, exc)
            return plugin.Observed([], [], vocabulary.NetworkState.NOT_READY)
        meta = services.service_meta(server, conf.fixed)
        lines: dict[str, bodies.Json | None] = {}
        for line, key, allocation in zip(conf.lines, keys, allocations, strict=True):
            body = core.service_body(
                conf,
                meta,
                line,
                allocation,
                services.selector(server.name, False),
                server.network_disabled,
            )
            lines[line] = await self._keeper.ensure(
                server,
                body,
                conf.fixed,
                expect,
                failed=functools.partial(self.table.forget, key),
                name=key[1],
            )
        internal, external, state = core.observed(conf, lines, server.pod_ip, server.running)
        return plugin.Observed(internal, external, state)

    async def sync_set(
        self, conf: nconf.NetworkConf, gss: bodies.Json, target: set[int], expect: plugin.Expect
    ) -> None:
        """The line Services of ordinals the set no longer has go, whatever owns them."""
        meta = bodies.meta(gss)
        namespace, set_name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        keep = {f"{set_name}-{ordinal}" for ordinal in target}
        for svc in self._services.by_index(f"{namespace}/{set_name}"):
            smeta = bodies.meta(svc)
            if not core.is_mine(svc) or core.owner_server(svc) in keep:
                continue
            if smeta.get("deletionTimestamp"):
                continue
            uid = str(smeta.get("uid", ""))
            await kclient.unless_gone(
                self._kube.delete(resources.SERVICE, namespace, _name(svc), uid=uid)
            )
            expect.deleted(self._services, (namespace, _name(svc)), uid)
