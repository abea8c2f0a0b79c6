"""Allocation choice: which Ready game server of a fleet a match gets, state in, state out.

Candidates are the fleet's servers that are Ready with opsState None, not being deleted, not
network-disabled, on clusters that are Ready and not cordoned. The first selector that matches
any candidate wins (as Agones does). Preferred clusters come first, in their order; then
scheduling orders clusters and nodes by how many servers of the fleet they already hold
allocated: most first (Packed) or fewest first (Distributed).
"""

from __future__ import annotations

import dataclasses
import enum
import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

from okg import capacity as cap
from okg import vocabulary

READY = "Ready"
UPDATING = "Updating"
ALLOCATED = vocabulary.OpsState.ALLOCATED.value
OPS_NONE = ("", "None")


class Scheduling(enum.Enum):
    PACKED = "Packed"
    DISTRIBUTED = "Distributed"


@dataclasses.dataclass(frozen=True, slots=True)
class Server:
    """One game server of the fleet as the hub sees it."""

    cluster: str
    name: str
    state: str = READY
    ops_state: str = "None"
    node: str = ""
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    deleting: bool = False
    network_disabled: bool = False
    # Its counters and lists, when it declares any.
    capacity: cap.Capacity | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.cluster, self.name)


def is_candidate(server: Server) -> bool:
    """True when ``server`` may be allocated (its cluster's readiness is checked apart)."""
    return (
        server.state == READY
        and server.ops_state in OPS_NONE
        and not server.deleting
        and not server.network_disabled
    )


def is_allocated(server: Server) -> bool:
    return server.ops_state == ALLOCATED


def holds_players(server: Server) -> bool:
    """Not Allocated, but players on its counters or lists: in use all the same (the agent
    never removes it; a drain and the autoscaler count it with the Allocated ones)."""
    return server.capacity is not None and not is_allocated(server) and server.capacity.in_use()


def is_reallocatable(server: Server) -> bool:
    """True when ``server`` is Allocated and may take another match (if it has room)."""
    return (
        server.state == READY
        and is_allocated(server)
        and not server.deleting
        and not server.network_disabled
    )


def matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def select(candidates: Sequence[Server], selectors: Sequence[Mapping[str, str]]) -> list[Server]:
    """The candidates of the first selector that matches any; every candidate without one."""
    if not selectors:
        return list(candidates)
    for selector in selectors:
        chosen = [s for s in candidates if matches(s.labels, selector)]
        if chosen:
            return chosen
    return []


def order(
    candidates: Iterable[Server],
    allocated: Iterable[Server],
    scheduling: Scheduling = Scheduling.PACKED,
    preferred: Sequence[str] = (),
) -> list[Server]:
    """Candidates in the order to try them.

    ``allocated`` are the fleet's servers already allocated (or being allocated): they weigh
    clusters and nodes for scheduling.
    """
    per_cluster: Counter[str] = Counter()
    per_node: Counter[tuple[str, str]] = Counter()
    for server in allocated:
        per_cluster[server.cluster] += 1
        per_node[(server.cluster, server.node)] += 1
    rank = {name: i for i, name in reversed(list(enumerate(preferred)))}
    sign = -1 if scheduling is Scheduling.PACKED else 1

    def key(server: Server) -> tuple[int, int, int, str, str]:
        return (
            rank.get(server.cluster, len(rank)),
            sign * per_cluster[server.cluster],
            sign * per_node[(server.cluster, server.node)],
            server.cluster,
            server.name,
        )

    return sorted(candidates, key=key)


def choose(
    servers: Iterable[Server],
    ready_clusters: Iterable[str],
    selectors: Sequence[Mapping[str, str]] = (),
    scheduling: Scheduling = Scheduling.PACKED,
    preferred: Sequence[str] = (),
    reserved: Iterable[tuple[str, str]] = (),
) -> list[Server]:
    """Every server to try for one allocation, best first.

    ``reserved`` are (cluster, name) of servers other requests are allocating: they are not
    candidates, and they count as allocated for scheduling.
    """
    usable = set(ready_clusters)
    taken = set(reserved)
    candidates: list[Server] = []
    allocated: list[Server] = []
    for server in servers:
        if is_allocated(server) or server.key in taken:
            allocated.append(server)
        elif server.cluster in usable and is_candidate(server):
            candidates.append(server)
    return order(select(candidates, selectors), allocated, scheduling, preferred)


@dataclasses.dataclass(frozen=True)
class Selector:
    """One selector of an allocation by capacity: labels, and the state, counters and lists
    the server must have."""

    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    need: cap.Need = cap.NO_NEED


def fits(server: Server, need: cap.Need, actions: cap.Actions) -> bool:
    """True when ``server`` is in the state ``need`` asks, within its bounds, and
    ``actions`` fit it."""
    if not (is_reallocatable(server) if need.allocated else is_candidate(server)):
        return False
    return cap.within(server.capacity, need) and cap.fits(server.capacity, actions)


def choose_by_capacity(
    servers: Iterable[Server],
    ready_clusters: Iterable[str],
    selectors: Sequence[Selector],
    actions: cap.Actions = cap.NO_ACTIONS,
    scheduling: Scheduling = Scheduling.PACKED,
    preferred: Sequence[str] = (),
    reserved: Iterable[tuple[str, str]] = (),
    tried: Iterable[tuple[str, str]] = (),
) -> Server | None:
    """The server to try first for an allocation that names counters, lists, actions or
    Allocated servers (re-allocation); None when none fits.

    The first selector that some server fits wins (as Agones does). Servers being allocated
    by other requests (``reserved``) and ``tried`` ones are skipped; reserved ones count as
    allocated for scheduling. The order is ``order``'s with each server's room
    (``cap.room_of``: least first when Packed, most when Distributed) right after
    the preferred clusters.
    """
    usable = set(ready_clusters)
    taken = set(reserved)
    skip = taken | set(tried)
    pool = list(servers)
    per_cluster: Counter[str] = Counter()
    per_node: Counter[tuple[str, str]] = Counter()
    for server in pool:
        if is_allocated(server) or server.key in taken:
            per_cluster[server.cluster] += 1
            per_node[(server.cluster, server.node)] += 1
    for selector in selectors or [Selector()]:
        fitting = [
            s
            for s in pool
            if s.cluster in usable
            and s.key not in skip
            and matches(s.labels, selector.labels)
            and fits(s, selector.need, actions)
        ]
        if fitting:
            rank = _capacity_rank(
                selector.need, actions, scheduling, preferred, per_cluster, per_node
            )
            return min(fitting, key=rank)
    return None


def _capacity_rank(
    need: cap.Need,
    actions: cap.Actions,
    scheduling: Scheduling,
    preferred: Sequence[str],
    per_cluster: Mapping[str, int],
    per_node: Mapping[tuple[str, str], int],
) -> Callable[[Server], tuple[int, int, int, int, str, str]]:
    """The order of ``order`` with each server's room right after the preferred clusters."""
    rank = {name: i for i, name in reversed(list(enumerate(preferred)))}
    sign = -1 if scheduling is Scheduling.PACKED else 1
    room = cap.room_of(need, actions)

    def key(server: Server) -> tuple[int, int, int, int, str, str]:
        return (
            rank.get(server.cluster, len(rank)),
            -sign * room(server.capacity),
            sign * per_cluster.get(server.cluster, 0),
            sign * per_node.get((server.cluster, server.node), 0),
            server.cluster,
            server.name,
        )

    return key


@dataclasses.dataclass(frozen=True)
class UpdatingSince:
    """The server of a fleet that has been Updating the longest, and since when (epoch s)."""

    cluster: str
    name: str
    since: float


class Pool:
    """One fleet's servers, indexed so a choice looks at clusters and nodes, not every server.

    Gives the first server ``choose`` would order first, without sorting the whole fleet, and
    per cluster the number of candidates and of servers Updating, without walking them.
    """

    def __init__(self) -> None:
        self._servers: dict[tuple[str, str], Server] = {}
        # cluster -> node -> names of candidate servers.
        self._free: dict[str, dict[str, set[str]]] = {}
        self._free_count: Counter[str] = Counter()
        self._allocated: Counter[str] = Counter()
        self._allocated_on: Counter[tuple[str, str]] = Counter()
        self._allocated_keys: set[tuple[str, str]] = set()
        # Per cluster, servers not Allocated that hold players, and those of them candidates.
        self._players: Counter[str] = Counter()
        self._free_players: Counter[str] = Counter()
        # Servers Updating: since when, per cluster, and a heap (with stale entries) of when.
        self._updating: dict[tuple[str, str], float] = {}
        self._updating_count: Counter[str] = Counter()
        self._updating_heap: list[tuple[float, tuple[str, str]]] = []

    def __len__(self) -> int:
        return len(self._servers)

    def get(self, key: tuple[str, str]) -> Server | None:
        return self._servers.get(key)

    def names_in(self, cluster: str) -> list[str]:
        """The names of the fleet's servers in ``cluster``."""
        return [name for (where, name) in self._servers if where == cluster]

    def candidates(self, cluster: str) -> int:
        """How many of the cluster's servers may be allocated (its readiness aside)."""
        return self._free_count[cluster]

    def updating(self, cluster: str) -> int:
        return self._updating_count[cluster]

    def longest_updating(self) -> UpdatingSince | None:
        heap = self._updating_heap
        while heap and self._updating.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        if not heap:
            return None
        since, (cluster, name) = heap[0]
        return UpdatingSince(cluster, name, since)

    def put(self, server: Server, since: float = 0.0) -> None:
        """Hold ``server``; ``since`` is when it entered its state (read while Updating)."""
        self.remove(server.key)
        self._servers[server.key] = server
        if server.state == UPDATING:
            self._updating[server.key] = since
            self._updating_count[server.cluster] += 1
            heapq.heappush(self._updating_heap, (since, server.key))
            if len(self._updating_heap) > 2 * len(self._updating) + 64:
                self._updating_heap = [(t, k) for k, t in self._updating.items()]
                heapq.heapify(self._updating_heap)
        if is_allocated(server):
            self._allocated[server.cluster] += 1
            self._allocated_on[(server.cluster, server.node)] += 1
            self._allocated_keys.add(server.key)
            return
        players = holds_players(server)
        self._players[server.cluster] += players
        if is_candidate(server):
            self._free.setdefault(server.cluster, {}).setdefault(server.node, set()).add(
                server.name
            )
            self._free_count[server.cluster] += 1
            self._free_players[server.cluster] += players

    def remove(self, key: tuple[str, str]) -> None:
        old = self._servers.pop(key, None)
        if old is None:
            return
        if self._updating.pop(key, None) is not None:
            self._updating_count[old.cluster] -= 1
        if is_allocated(old):
            self._allocated[old.cluster] -= 1
            self._allocated_on[(old.cluster, old.node)] -= 1
            self._allocated_keys.discard(key)
            return
        players = holds_players(old)
        self._players[old.cluster] -= players
        nodes = self._free.get(old.cluster, {})
        names = nodes.get(old.node)
        if names is not None and old.name in names:
            names.discard(old.name)
            self._free_count[old.cluster] -= 1
            self._free_players[old.cluster] -= players
            if not names:
                del nodes[old.node]

    def in_use(self, cluster: str) -> int:
        """The cluster's servers in use: Allocated, or holding players."""
        return self._allocated[cluster] + self._players[cluster]

    def tally(self) -> dict[str, tuple[int, int]]:
        """Per cluster: (servers in use, idle candidate servers), without walking the servers.
        A candidate holding players is in use, not idle (no autoscaler buffer counts it)."""
        clusters = set(self._allocated) | set(self._free) | set(self._players)
        return {
            cluster: (self.in_use(cluster), self._free_count[cluster] - self._free_players[cluster])
            for cluster in clusters
        }

    def drop_cluster(self, cluster: str) -> None:
        for key in [k for k in self._servers if k[0] == cluster]:
            self.remove(key)
        self._free.pop(cluster, None)
        self._free_count.pop(cluster, None)

    def best(
        self,
        ready_clusters: Iterable[str],
        selectors: Sequence[Mapping[str, str]] = (),
        scheduling: Scheduling = Scheduling.PACKED,
        preferred: Sequence[str] = (),
        reserved: Iterable[tuple[str, str]] = (),
        tried: Iterable[tuple[str, str]] = (),
    ) -> Server | None:
        """The server to try first for one allocation, or None.

        ``reserved`` are being allocated by other requests (they count as allocated);
        ``tried`` are skipped without weighing anything.
        """
        per_cluster, per_node, skip = self._weights(reserved, tried)
        rank = {name: i for i, name in reversed(list(enumerate(preferred)))}
        sign = -1 if scheduling is Scheduling.PACKED else 1
        clusters = sorted(
            (c for c in ready_clusters if c in self._free),
            key=lambda c: (rank.get(c, len(rank)), sign * per_cluster[c], c),
        )
        for selector in selectors or [{}]:
            for cluster in clusters:
                nodes = self._free[cluster]
                for node in sorted(nodes, key=lambda n: (sign * per_node[(cluster, n)], n)):
                    for name in sorted(nodes[node]):
                        server = self._servers[(cluster, name)]
                        if server.key not in skip and matches(server.labels, selector):
                            return server
        return None

    def _weights(
        self, reserved: Iterable[tuple[str, str]], tried: Iterable[tuple[str, str]]
    ) -> tuple[Counter[str], Counter[tuple[str, str]], set[tuple[str, str]]]:
        """Allocated servers per cluster and per (cluster, node), reserved ones counted as
        allocated, and the servers to skip (reserved and tried)."""
        per_cluster = Counter(self._allocated)
        per_node = Counter(self._allocated_on)
        skip = set(tried)
        for key in reserved:
            skip.add(key)
            held = self._servers.get(key)
            if held is not None and not is_allocated(held):
                per_cluster[held.cluster] += 1
                per_node[(held.cluster, held.node)] += 1
        return per_cluster, per_node, skip

    def best_by_capacity(
        self,
        ready_clusters: Iterable[str],
        selectors: Sequence[Selector],
        actions: cap.Actions = cap.NO_ACTIONS,
        scheduling: Scheduling = Scheduling.PACKED,
        preferred: Sequence[str] = (),
        reserved: Iterable[tuple[str, str]] = (),
        tried: Iterable[tuple[str, str]] = (),
    ) -> Server | None:
        """``choose_by_capacity`` over this pool: a selector for Allocated servers looks at the
        allocated ones only, one for Ready servers at the candidates only."""
        usable = set(ready_clusters)
        per_cluster, per_node, skip = self._weights(reserved, tried)
        for selector in selectors or [Selector()]:
            need = selector.need
            fitting = [
                server
                for server in self._candidates_for(need, usable)
                if server.key not in skip
                and matches(server.labels, selector.labels)
                and fits(server, need, actions)
            ]
            if fitting:
                rank = _capacity_rank(need, actions, scheduling, preferred, per_cluster, per_node)
                return min(fitting, key=rank)
        return None

    def _candidates_for(self, need: cap.Need, usable: set[str]) -> Iterable[Server]:
        if need.allocated:
            for key in self._allocated_keys:
                if key[0] in usable:
                    yield self._servers[key]
            return
        for cluster in usable:
            for names in self._free.get(cluster, {}).values():
                for name in names:
                    yield self._servers[(cluster, name)]


REGION_LABELS = ("region", "topology.kubernetes.io/region")
"""The cluster labels naming its region, in the order looked at."""


def cluster_region(labels: Mapping[str, str]) -> str:
    return next((labels[key] for key in REGION_LABELS if labels.get(key)), "")


def nearest_clusters(
    regions: Mapping[str, str],
    players_region: str = "",
    latency_ms: Mapping[str, float] | None = None,
) -> list[str]:
    """The clusters to try first for players, nearest first: those of a region with a measured
    latency (fastest first), then those of `players_region`; by name on a tie. `regions` maps
    each cluster to its region. Clusters of other regions are not listed: they come after, in
    the usual order, so a match is still placed when the near regions are full."""
    measured = latency_ms or {}
    ranked: list[tuple[int, float, str]] = []
    for cluster, region in regions.items():
        if region and region in measured:
            ranked.append((0, measured[region], cluster))
        elif region and region == players_region:
            ranked.append((1, 0.0, cluster))
    return [cluster for _, _, cluster in sorted(ranked)]


def with_nearest(preferred: Sequence[str], nearest: Sequence[str]) -> list[str]:
    """The request's own preferred clusters first (the caller's explicit choice), then the
    nearest ones."""
    return [*preferred, *(c for c in nearest if c not in preferred)]


def global_address(network_status: Mapping[str, object]) -> str:
    """`<address>:<port>` of the server's first global address and its first port (the address
    its IP, else its DNS name); "" without one."""
    found = network_status.get("globalAddresses")
    if not isinstance(found, Sequence) or not found or not isinstance(found[0], Mapping):
        return ""
    first = found[0]
    address = str(first.get("ip") or first.get("endPoint") or "")
    ports = first.get("ports")
    if not address or not isinstance(ports, Sequence) or not ports:
        return ""
    port = ports[0].get("port") if isinstance(ports[0], Mapping) else None
    if isinstance(port, float) and port.is_integer():
        port = int(port)  # a protobuf Struct's numbers are floats
    return f"{address}:{port}" if isinstance(port, int | str) and str(port) else ""
