"""The interface every network plugin implements, and what the reconciler hands it."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from agent.core import bodies
from okg import vocabulary

if TYPE_CHECKING:
    from agent.core.network import status as nstatus
    from agent.kube.cache import Key, WatchCache
    from okg.network import conf as nconf


class NetworkUnavailable(Exception):
    """The plugin cannot give a new pod its network now (e.g. no free host port): the pod is
    not created, and the set is retried later."""


class Expect(Protocol):
    """The reconciler's settle barrier: writes the caches must show before the next run."""

    def wrote(self, cache: WatchCache, result: bodies.Json) -> None: ...

    def deleted(self, cache: WatchCache, key: Key, uid: str) -> None: ...


@dataclasses.dataclass(frozen=True)
class Server:
    """One game server as a plugin sees it."""

    namespace: str
    set_name: str
    gss: bodies.Json
    pod: bodies.Json
    network_disabled: bool

    @property
    def name(self) -> str:
        return bodies.name(self.pod)

    @property
    def pod_ip(self) -> str:
        return str((self.pod.get("status") or {}).get("podIP") or "")

    @property
    def running(self) -> bool:
        return (self.pod.get("status") or {}).get("phase") == "Running" and bool(self.pod_ip)


@dataclasses.dataclass(frozen=True)
class Observed:
    """What the real objects say about a server's network."""

    internal: list[nstatus.Address]
    external: list[nstatus.Address]
    current: vocabulary.NetworkState
    stranded: bool = False
    """The pod can never run where its network put it (its pinned node is gone): the reconciler
    recreates it, unless the server is Allocated."""
    load_balancer: str = ""
    """The load balancer the external ports are on (global addresses are made in front of it)."""


class NetworkPlugin(Protocol):
    """One `networkType`."""

    def prepare_pod(self, conf: nconf.NetworkConf, pod: bodies.Json) -> None:
        """Set what must be on the pod at creation (may raise to refuse the creation)."""

    def forget_pod(self, pod: bodies.Json) -> None:
        """The pod prepared by `prepare_pod` was not created."""

    async def sync_server(
        self, conf: nconf.NetworkConf, server: Server, expect: Expect
    ) -> Observed:
        """Make the server's network objects match, and report what they show."""

    async def sync_set(
        self, conf: nconf.NetworkConf, gss: bodies.Json, target: set[int], expect: Expect
    ) -> None:
        """Remove network objects of ordinals the set no longer has."""


@runtime_checkable
class NeedsResources(Protocol):
    """A plugin whose objects are custom resources of a cloud's controller."""

    async def missing_resources(self, conf: nconf.NetworkConf) -> str | None:
        """None when the cluster serves what the set needs; else the message naming what it
        lacks (the set gets `NetworkConfigInvalid`, and is looked at again later)."""
