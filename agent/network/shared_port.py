"""`AlibabaCloud-SLB-SharedPort` and `-NLB-SharedPort`: one LoadBalancer Service per load
balancer, named after it and selecting the pods labelled with it; each pod is labelled at
creation (the SLB with the fewest servers, at most 200) and records its choice
(`gamefleet.io/shared-lb`), so `networkDisabled` can take the label away and give it back
(rules in `agent.core.network.shared_port`). The count of servers per SLB is rebuilt from the
pods' records, so an agent restart continues it.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

from agent.core import bodies
from agent.core.network import lbports
from agent.core.network import shared_port as core
from agent.kube import client as kclient
from agent.kube import resources
from okg.network import conf as nconf
from okg.network import shared_port as shared_port_conf

from . import plugin, services

if TYPE_CHECKING:
    from agent.kube.cache import EventType, Key, WatchCache


def _key(obj: bodies.Json) -> Key:
    meta = bodies.meta(obj)
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


def chosen(pod: bodies.Json) -> str:
    return str((bodies.meta(pod).get("annotations") or {}).get(core.CHOSEN, ""))


class SharedPortPlugin:
    def __init__(
        self, kube: kclient.KubeClient, services_cache: WatchCache, pods: WatchCache
    ) -> None:
        self._kube = kube
        self._services = services_cache
        self._pods = pods
        self._chosen: dict[Key, str] = {}
        """Pod -> its load balancer: from the pods' records, and reservations for pods about
        to be created."""

    def on_pod(self, kind: EventType, pod: bodies.Json) -> None:
        """Pods cache handler: keep the count of servers per load balancer."""
        lb_id = chosen(pod)
        if kind == "DELETED":
            if self._chosen.get(_key(pod)) == lb_id:
                self._chosen.pop(_key(pod), None)
        elif lb_id:
            self._chosen[_key(pod)] = lb_id

    def prepare_pod(self, conf: nconf.NetworkConf, pod: bodies.Json) -> None:
        assert isinstance(conf, shared_port_conf.SharedPortConf)
        backends = collections.Counter(self._chosen.values())
        lb_id = core.choose(conf, backends)
        if lb_id is None:
            raise lbports.NoCapacityError(
                f"every load balancer of {', '.join(conf.lb_ids)} has {core.MAX_BACKENDS} servers"
            )
        meta = pod.setdefault("metadata", {})
        meta.setdefault("labels", {}).update(core.pod_labels(conf, lb_id))
        meta.setdefault("annotations", {})[core.CHOSEN] = lb_id
        self._chosen[_key(pod)] = lb_id

    def forget_pod(self, pod: bodies.Json) -> None:
        self._chosen.pop(_key(pod), None)

    async def sync_server(
        self, conf: nconf.NetworkConf, server: plugin.Server, expect: plugin.Expect
    ) -> plugin.Observed:
        assert isinstance(conf, shared_port_conf.SharedPortConf)
        pod = server.pod
        lb_id = chosen(pod)
        if lb_id:
            change = core.label_patch(conf, pod, lb_id, server.network_disabled)
            if change:
                patched = await kclient.unless_gone(
                    self._kube.patch(
                        resources.POD,
                        server.namespace,
                        server.name,
                        {"metadata": {"labels": change}},
                    )
                )
                if patched is not None:
                    expect.wrote(self._pods, patched)
                    pod = patched
        svc = self._services.get((server.namespace, lb_id)) if lb_id else None
        internal, external, state = core.observed(svc, pod, lb_id, server.pod_ip, server.running)
        return plugin.Observed(internal, external, state)

    async def sync_set(
        self, conf: nconf.NetworkConf, gss: bodies.Json, target: set[int], expect: plugin.Expect
    ) -> None:
        """One Service per load balancer, owned by the set; none is deleted by a scale-down."""
        assert isinstance(conf, shared_port_conf.SharedPortConf)
        meta = bodies.meta(gss)
        namespace, set_name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        owner = services.owner(gss, "GameServerSet")
        for lb_id in conf.lb_ids:
            if self._services.get((namespace, lb_id)) is not None:
                continue
            body = core.service_body(conf, namespace, set_name, owner, lb_id)
            created = await kclient.unless_gone(
                self._kube.create(resources.SERVICE, namespace, body)
            )
            if created is not None:
                expect.wrote(self._services, created)
