"""The reported game servers the hub holds, kept compact: a million of them must fit in
well under 2 GiB.

A protobuf message costs about 1.2 KiB however small it is (its arena), so each server is
kept as its wire bytes plus the few fields that filters, counts and allocation read; it is
decoded only when handed out. Strings repeated across servers (namespace, fleet, cluster,
node, states) are interned and equal label sets are shared.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import weakref
from collections.abc import Mapping

from gamefleet import capacity_wire, protocol
from gamefleet.v1 import gameserver_pb2

from hub.core import allocation, selectors


class _Labels(dict[str, str]):
    """A label set shared by every server carrying it (never mutated once made)."""

    __slots__ = ("__weakref__",)


_shared_labels: weakref.WeakValueDictionary[frozenset[tuple[str, str]], _Labels] = (
    weakref.WeakValueDictionary()
)


# The last label set handed out: a status delta's servers mostly carry the same labels, and
# comparing with it is cheaper than hashing a protobuf map.
_last: list[_Labels] = []


def shared_labels(labels: Mapping[str, str]) -> Mapping[str, str]:
    """The one shared copy of ``labels``; it lives while a server carries it."""
    if _last:
        last = _last[0]
        if len(last) == len(labels) and all(labels.get(k) == v for k, v in last.items()):
            return last
    key = frozenset(labels.items())
    found = _shared_labels.get(key)
    if found is None:
        found = _Labels((sys.intern(k), sys.intern(v)) for k, v in labels.items())
        _shared_labels[key] = found
    _last[:] = [found]
    return found


@dataclasses.dataclass(slots=True)
class LiveServer:
    """One reported game server: what the hub reads often, and the rest as wire bytes.

    Never changed once made (a new report makes a new one); not frozen only because a frozen
    dataclass's constructor costs a tenth of an ingest.
    """

    namespace: str
    fleet: str
    allocation_request_id: str
    view: allocation.Server
    # The GameServer without its cluster, serialized deterministically (the status hash's input).
    wire: bytes

    @classmethod
    def of(cls, server: gameserver_pb2.GameServer, cluster: str) -> LiveServer:
        """Hold ``server`` as reported by ``cluster``'s agent (its ``cluster`` field ignored)."""
        if server.cluster:
            bare = gameserver_pb2.GameServer()
            bare.CopyFrom(server)
            bare.cluster = ""
            server = bare
        view = allocation.Server(
            cluster=sys.intern(cluster),
            name=server.name,
            state=sys.intern(server.state),
            ops_state=sys.intern(server.ops_state),
            node=sys.intern(server.node),
            labels=shared_labels(server.labels),
            deleting=server.deleted,
            network_disabled=server.network_disabled,
            capacity=capacity_wire.of(server.counters, server.lists),
        )
        return cls(
            namespace=sys.intern(server.namespace),
            fleet=sys.intern(server.fleet),
            allocation_request_id=server.allocation_request_id,
            view=view,
            wire=server.SerializeToString(deterministic=True),
        )

    @property
    def cluster(self) -> str:
        return self.view.cluster

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def state(self) -> str:
        return self.view.state

    @property
    def ops_state(self) -> str:
        return self.view.ops_state

    @property
    def labels(self) -> Mapping[str, str]:
        return self.view.labels

    def status_hash(self) -> str:
        """``protocol.status_hash`` of the server as its agent reported it."""
        return protocol.wire_hash(self.wire)

    def decode(self) -> gameserver_pb2.GameServer:
        """A new GameServer message of this server, with its cluster."""
        server = gameserver_pb2.GameServer.FromString(self.wire)
        server.cluster = self.view.cluster
        return server


@dataclasses.dataclass(frozen=True)
class ServerFilter:
    """Which servers a list or watch asks for; empty fields match everything."""

    namespace: str = ""
    fleet: str = ""
    cluster: str = ""
    state: str = ""
    ops_state: str = ""
    selector: selectors.Selector | None = None

    def matches(self, server: LiveServer) -> bool:
        return not (
            (self.namespace and server.namespace != self.namespace)
            or (self.fleet and server.fleet != self.fleet)
            or (self.cluster and server.cluster != self.cluster)
            or (self.state and server.state != self.state)
            or (self.ops_state and server.ops_state != self.ops_state)
            or (self.selector is not None and not self.selector.matches(server.labels))
        )


def updating_since(server: gameserver_pb2.GameServer) -> float:
    """When the server entered its state (epoch seconds), read only while it is Updating: an
    agent that does not say is taken to mean now."""
    if server.state != allocation.UPDATING:
        return 0.0
    stamp = server.last_transition_time
    return stamp.seconds + stamp.nanos / 1e9 if stamp.seconds else time.time()
