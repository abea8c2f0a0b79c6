"""What the GameServerSet reconciler calls: check a set's `spec.network`, prepare a pod at
creation, sync one server's network (its objects, its status), and clean up a set's objects.

A set without `networkType` is left as before (desired and current network state only).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from agent.core import bodies, conditions, servers, views, wire
from agent.core.network import gcp_global as gcp_global_core
from agent.core.network import global_accel as global_accel_core
from agent.core.network import hostport as hostport_core
from agent.core.network import lbports
from agent.core.network import status as nstatus
from agent.kube import cache as kcache
from agent.kube import client as kclient
from agent.kube import resources
from okg import vocabulary
from okg.network import auto_nlbs as auto_nlbs_conf
from okg.network import conf as nconf
from okg.network import loadbalancer as lbconf
from okg.network import multi_nlbs as multi_nlbs_conf
from okg.network import pod_address as pod_address_conf
from okg.network import shared_port as shared_port_conf

from . import (
    auto_nlbs,
    aws_nlb,
    crd_gate,
    gcp_global,
    global_accel,
    hostport,
    ingress,
    loadbalancer,
    multi_nlbs,
    nodeport,
    plugin,
    pod_address,
    services,
    shared_port,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from agent.kube.events import EventRecorder

_log = logging.getLogger(__name__)

CONDITION = "NetworkConfigInvalid"


def network_spec(gss: bodies.Raw) -> tuple[str, object]:
    network = (gss.get("spec") or {}).get("network") or {}
    return str(network.get("networkType") or ""), network.get("networkConf")


def _containers(gss: bodies.Raw) -> list[str]:
    template = (gss.get("spec") or {}).get("gameServerTemplate") or {}
    return [str(c.get("name")) for c in (template.get("spec") or {}).get("containers") or []]


ServerNetwork = servers.NetworkOutcome
"""A server's network status and the pod annotations that carry it; `stranded`: see
`plugin.Observed.stranded`."""


class Network:
    """Every plugin of one agent, with the Node and Service caches they read."""

    def __init__(
        self,
        kube: kclient.KubeClient,
        pods: kcache.WatchCache,
        recorder: EventRecorder,
        *,
        namespace: str | None = None,
        host_port_range: tuple[int, int] = (8000, 9000),
        requeue: Callable[[kcache.Key, float], None] | None = None,
    ) -> None:
        self._kube = kube
        self._events = recorder
        self.nodes = kcache.WatchCache(kube, resources.NODE)
        self.services = kcache.WatchCache(
            kube,
            resources.SERVICE,
            namespace=namespace,
            label_selector=wire.OWNER_GSS,
            index=views.owner_index,
        )
        self.ingresses = kcache.WatchCache(
            kube,
            resources.INGRESS,
            namespace=namespace,
            label_selector=wire.OWNER_GSS,
            index=views.owner_index,
        )
        keeper = services.ServiceKeeper(kube, self.services, requeue)
        self.host_port = hostport.HostPortPlugin(self.nodes, host_port_range)
        self.node_port = nodeport.NodePortPlugin(keeper, self.nodes)
        self.load_balancer = loadbalancer.LoadBalancerPlugin(keeper)
        # Its custom resources exist only where the AWS controllers are installed: the plugin
        # starts these caches itself once discovery shows them.
        self.aws_nlb = aws_nlb.AwsNlbPlugin(
            kube,
            keeper,
            self.load_balancer.table,
            target_groups=self._labelled(resources.TARGET_GROUP, namespace),
            listeners=self._labelled(resources.LISTENER, namespace),
            bindings=self._labelled(resources.TARGET_GROUP_BINDING, namespace),
        )
        self._plugins: dict[str, plugin.NetworkPlugin] = {
            nconf.HOST_PORT: self.host_port,
            nconf.NODE_PORT: self.node_port,
            nconf.INGRESS: ingress.IngressPlugin(kube, keeper, self.ingresses),
        }
        for network_type in nconf.LOAD_BALANCERS:
            self._plugins[network_type] = self.load_balancer
        self._plugins[lbconf.AWS_NLB.network_type] = self.aws_nlb
        self.global_accel = global_accel.GlobalAccelerators(
            kube, self._labelled(resources.GLOBAL_ACCELERATOR, namespace)
        )
        self.gcp_global = gcp_global.GlobalAddresses(kube, namespace, self.services, requeue)
        self._plugins[auto_nlbs_conf.NETWORK_TYPE] = auto_nlbs.AutoNlbsPlugin(
            kube, self.services, requeue
        )
        self._plugins[multi_nlbs_conf.NETWORK_TYPE] = multi_nlbs.MultiNlbsPlugin(
            kube, keeper, self.load_balancer.table
        )
        self.pod_address = pod_address.PodAddressPlugin(kube, namespace, requeue)
        for network_type in pod_address_conf.PROFILES:
            self._plugins[network_type] = self.pod_address
        shared = shared_port.SharedPortPlugin(kube, self.services, pods)
        pods.add_handler(shared.on_pod)
        for network_type in shared_port_conf.KNOWN:
            self._plugins[network_type] = shared
        pods.add_handler(self.host_port.on_pod)
        self._pods = pods
        self._node_health: dict[str, bodies.Condition] = {}
        self.nodes.add_handler(self._on_node)
        self.services.add_handler(self.load_balancer.on_service)
        self._reported: dict[kcache.Key, tuple[int, str]] = {}
        self._requeue = requeue
        self._unavailable: dict[kcache.Key, tuple[str, float]] = {}

    def _on_node(self, kind: kcache.EventType, node: bodies.Json) -> None:
        """A node went: the sets with host ports on it look again (a pod still waiting for it
        is stranded). A node's health changed: the sets with pods on it look again (their
        GameServers' NodeNormal condition)."""
        if self._requeue is None:
            return
        name = bodies.name(node)
        if kind == "DELETED":
            self._node_health.pop(name, None)
            for namespace, pod_name in self.host_port.table.pods_on(name):
                self._requeue((namespace, pod_name.rsplit("-", 1)[0]), 0.0)
            return
        health = conditions.node_condition(node)
        before = self._node_health.get(name)
        self._node_health[name] = health
        if before is None or before == health:
            return
        for pod in self._pods.all():
            owner = bodies.labels_of(pod).get(wire.OWNER_GSS)
            if owner and (pod.get("spec") or {}).get("nodeName") == name:
                self._requeue((bodies.namespace(pod), owner), 0.0)

    def _labelled(self, resource: resources.Resource, namespace: str | None) -> kcache.WatchCache:
        """A cache of the objects labelled with their set, indexed by set."""
        return kcache.WatchCache(
            self._kube,
            resource,
            namespace=namespace,
            label_selector=wire.OWNER_GSS,
            index=views.owner_index,
        )

    @property
    def caches(self) -> tuple[kcache.WatchCache, ...]:
        """The caches the agent starts (and waits for) at once."""
        return (self.nodes, self.services, self.ingresses)

    @property
    def child_caches(self) -> tuple[kcache.WatchCache, ...]:
        """Every cache of objects labelled with their set (events requeue the set)."""
        return (
            self.services,
            self.ingresses,
            *self.aws_nlb.caches,
            self.global_accel.cache,
            *self.gcp_global.caches.values(),
        )

    async def stop(self) -> None:
        """Stop the caches the plugins started."""
        await self.aws_nlb.stop()
        await self.pod_address.stop()
        await self.global_accel.stop()
        await self.gcp_global.stop()

    def _conf(self, gss: bodies.Raw) -> tuple[plugin.NetworkPlugin, nconf.NetworkConf] | None:
        network_type, conf = network_spec(gss)
        if not network_type:
            return None
        parsed = nconf.parse_network(network_type, conf, _containers(gss))
        chosen = self._plugins.get(network_type)
        if chosen is None:
            raise nconf.NetworkConfError(
                [(-1, f"network.networkType: {network_type!r} is not realised by this agent yet")]
            )
        return chosen, parsed

    # The set.

    async def check(self, gss: bodies.Raw) -> bool:
        """True when the set's network is absent or valid. Otherwise record a Warning event
        (once per generation) and the `NetworkConfigInvalid` condition, and return False: the
        reconciler then creates nothing for the set."""
        try:
            found = self._conf(gss)
        except nconf.NetworkConfError as exc:
            await self._report(gss, str(exc))
            return False
        lacking = await self._lacking(*found) if found is not None else None
        if lacking is not None:
            # Installing a cloud's controller raises no event the agent watches: look again.
            await self._report(gss, lacking)
            if self._requeue is not None:
                self._requeue(bodies.key(gss), crd_gate.RECHECK_SECONDS)
            return False
        self._reported.pop(bodies.key(gss), None)
        return True

    async def _lacking(self, chosen: plugin.NetworkPlugin, conf: nconf.NetworkConf) -> str | None:
        """What the cluster lacks of the cloud controllers' kinds the set needs (None: all)."""
        missing = None
        if chosen is self.aws_nlb:
            missing = await self.aws_nlb.available()
        elif isinstance(chosen, plugin.NeedsResources):
            missing = await chosen.missing_resources(conf)
        if missing is None and global_accel_core.wanted(conf):
            missing = await self.global_accel.missing()
        if missing is None and gcp_global_core.wanted(conf):
            missing = await self.gcp_global.missing()
        return missing

    async def _report(self, gss: bodies.Raw, message: str) -> None:
        key = bodies.key(gss)
        generation = bodies.generation(gss)
        status = gss.get("status") or {}
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != CONDITION]
        old = next((c for c in status.get("conditions") or [] if c.get("type") == CONDITION), None)
        if self._reported.get(key) != (generation, message):
            self._reported[key] = (generation, message)
            _log.warning("GameServerSet %s/%s: %s", *key, message)
            await self._events.record(gss, "Warning", CONDITION, message)
        if (
            old is not None
            and old.get("message") == message
            and status.get("observedGeneration") == generation
        ):
            return
        now = bodies.rfc3339(time.time())
        conditions.append(
            {
                "type": CONDITION,
                "status": "True",
                "reason": "InvalidNetworkConf",
                "message": message,
                "lastTransitionTime": (old or {}).get("lastTransitionTime") or now,
                "observedGeneration": generation,
            }
        )
        try:
            await self._kube.patch(
                resources.GAME_SERVER_SET,
                key[0],
                key[1],
                {"status": {"conditions": conditions, "observedGeneration": generation}},
                subresource="status",
            )
        except kclient.ApiError as exc:
            if not exc.not_found:
                raise

    async def sync_set(self, gss: bodies.Raw, target: set[int], expect: plugin.Expect) -> None:
        found = self._conf(gss)
        if found is not None:
            await found[0].sync_set(found[1], bodies.json_of(gss), target, expect)
        if found is not None and global_accel_core.wanted(found[1]):
            assert isinstance(found[1], lbconf.LoadBalancerConf)
            await self.global_accel.sync_set(found[1], bodies.json_of(gss), expect)
        elif self.global_accel.watching:
            await self.global_accel.remove(bodies.json_of(gss), expect)
        if found is not None and gcp_global_core.wanted(found[1]):
            assert isinstance(found[1], lbconf.LoadBalancerConf)
            await self.gcp_global.sync_set(found[1], bodies.json_of(gss), expect)
        elif self.gcp_global.watching:
            await self.gcp_global.remove(bodies.json_of(gss), expect)

    # A pod.

    def prepare_pod(self, gss: bodies.Raw, pod: bodies.Json) -> None:
        """At creation: the network annotations, and the plugin's pod fields."""
        found = self._conf(gss)
        if found is None:
            return
        network_type, conf = network_spec(gss)
        notes = pod.setdefault("metadata", {}).setdefault("annotations", {})
        notes[wire.NETWORK_TYPE] = network_type
        notes[wire.NETWORK_CONF] = nconf.conf_annotation(conf)
        try:
            found[0].prepare_pod(found[1], pod)
        except (hostport_core.NoCapacityError, lbports.NoCapacityError) as exc:
            raise plugin.NetworkUnavailable(str(exc)) from None

    async def report_unavailable(self, gss: bodies.Raw, message: str) -> None:
        """A pod was not created for want of network: a Warning event `NetworkUnavailable`
        (at most once a minute per set and message), and the set is retried in 5 s."""
        key = bodies.key(gss)
        last = self._unavailable.get(key)
        now = time.monotonic()
        if last is None or last[0] != message or now - last[1] > 60.0:
            self._unavailable[key] = (message, now)
            _log.warning("GameServerSet %s/%s: %s", *key, message)
            await self._events.record(gss, "Warning", "NetworkUnavailable", message)
        if self._requeue is not None:
            self._requeue(key, 5.0)

    def forget_pod(self, gss: bodies.Raw, pod: bodies.Json) -> None:
        found = self._conf(gss)
        if found is not None:
            found[0].forget_pod(pod)

    async def sync_server(
        self,
        gss: bodies.Raw,
        pod: bodies.Raw,
        gs: bodies.Raw | None,
        network_disabled: bool,
        now_text: str,
        expect: plugin.Expect,
    ) -> ServerNetwork | None:
        """None when the set has no network plugin."""
        found = self._conf(gss)
        if found is None:
            return None
        chosen, conf = found
        network_type, _ = network_spec(gss)
        server = plugin.Server(
            namespace=bodies.namespace(gss),
            set_name=bodies.name(gss),
            gss=bodies.json_of(gss),
            pod=bodies.json_of(pod),
            network_disabled=network_disabled,
        )
        previous = ((gs or {}).get("status") or {}).get("networkStatus") or None
        desired = (
            vocabulary.NetworkState.NOT_READY if network_disabled else vocabulary.NetworkState.READY
        )
        if bodies.terminating(pod):
            observed = plugin.Observed([], [], vocabulary.NetworkState.NOT_READY)
        else:
            observed = await chosen.sync_server(conf, server, expect)
        entries = (
            self.global_accel.addresses(server.namespace, server.set_name, observed)
            if global_accel_core.wanted(conf)
            else []
        )
        if gcp_global_core.wanted(conf):
            assert isinstance(conf, lbconf.LoadBalancerConf)
            # Regional first: a server's global objects are made once its regional address
            # works, so they never compete with the Services for the API server.
            if observed.current == vocabulary.NetworkState.READY:
                await self.gcp_global.sync_server(conf, server, expect)
            entries = self.gcp_global.addresses(conf, server, observed)
        status = nstatus.network_status(
            network_type,
            observed.internal,
            observed.external,
            desired,
            observed.current,
            previous,
            now_text,
            entries,
        )
        return ServerNetwork(
            status,
            {wire.NETWORK_STATUS: nstatus.status_annotation(status)},
            stranded=observed.stranded,
        )
