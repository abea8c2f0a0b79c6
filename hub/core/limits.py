"""Every limit on what the hub's public API accepts, and the bounds shared with the agent
stream (whose checks are in agent_limits); docs/limits.md explains each.

Kubernetes' own limits where gamefleet writes Kubernetes objects (names, labels, annotations,
object size), the rest chosen so one request can neither exhaust the hub nor block it.
"""

from __future__ import annotations

from typing import Final

from okg import reserve_ids

# Names, as Kubernetes defines them.
DNS1123_LABEL_MAX_LENGTH: Final = 63
DNS1123_SUBDOMAIN_MAX_LENGTH: Final = 253
LABEL_VALUE_MAX_LENGTH: Final = 63
QUALIFIED_NAME_MAX_LENGTH: Final = 63

# A Fleet.
MAX_FLEET_BYTES: Final = 1_572_864
"""1.5 MiB of serialized Fleet: etcd's default request limit, which also caps every Kubernetes
object. A fleet is one store value, and its template becomes a GameServerSet in each cluster."""
MAX_ANNOTATIONS_BYTES: Final = 262_144
"""256 KiB: Kubernetes' limit on the keys and values of one object's annotations together."""
MAX_FLEET_REPLICAS: Final = 100_000
"""Replicas beyond this are a typo rather than a plan."""
MAX_PLACEMENT_CLUSTERS: Final = 1_000
"""Entries of spec.placement.clusters (each names one cluster; 200 are measured at scale)."""
MAX_TEMPLATE_OVERRIDES: Final = 100
"""Entries of spec.placement.overrides: each is validated as a whole template, on the hub's loop."""
MAX_OVERRIDE_CHECK_BYTES: Final = 4 * 2**20
"""Distinct override patches (placement.overrides and clusters[].override) times the template's
serialized size. The hub checks the template each patch produces as a whole (about 5 MB a second
on one core), so this bounds one apply's checking to about a second."""
MIN_FAILOVER_AFTER_S: Final = 1.0
"""Failover sooner than a second would move servers on a single late heartbeat."""
MAX_FAILOVER_AFTER_S: Final = 86_400.0
MAX_FAILOVER_REPLICAS_PER_SECOND: Final = 1_000
MAX_MIN_READY_SECONDS: Final = 300
MAX_RESERVED_IDS: Final = reserve_ids.MAX_IDS
"""Ordinals that reserveGameServerIds may expand to (the agent enforces the same number)."""

# google.protobuf.Duration and Timestamp, as their definitions bound them.
MAX_DURATION_SECONDS: Final = 315_576_000_000
NANOS_PER_SECOND: Final = 1_000_000_000

# Requests.
MAX_SELECTOR_LENGTH: Final = 4_096
"""Characters of a label_selector string."""
MAX_PAGE_TOKEN_LENGTH: Final = 2_048
"""Characters of a page_token; the hub's own tokens name a few keys and are far shorter."""
MAX_PAGE_SIZE: Final = 5_000
FLEETS_DEFAULT_PAGE_SIZE: Final = 500
GAME_SERVERS_DEFAULT_PAGE_SIZE: Final = 1_000
CLUSTERS_DEFAULT_PAGE_SIZE: Final = 500
LIST_PAGE_BYTES: Final = 2 * 2**20
"""A page of ListFleets, ListClusters or ListGameServers ends before it passes 2 MiB, whatever
page_size asks (gRPC's default message limit is 4 MiB; an agent may report game servers of up
to 16 KiB each)."""
MAX_REQUEST_ID_LENGTH: Final = 128
"""Characters of an allocation's request_id (the idempotency key, part of a store key)."""
MAX_ALLOCATION_SELECTORS: Final = 100
MAX_PREFERRED_CLUSTERS: Final = 1_000
MAX_REGION_LATENCIES: Final = 1_000
"""Regions one AllocateRequest may give round-trip times for."""
MAX_LATENCY_MS: Final = 600_000.0
MAX_GAME_SERVER_NAMES: Final = 10_000
"""Names one UpdateGameServers call may list."""
MAX_OPS_STATE_LENGTH: Final = 63
"""Characters of an opsState (OKG's are short words such as Allocated or Maintaining)."""
MAX_IMAGE_LENGTH: Final = 1_024
"""Characters of a container image reference in a targeted update."""

# gRPC.
MAX_REQUEST_BYTES: Final = 4 * 2**20
"""gRPC's default receive limit, kept: a larger request ends RESOURCE_EXHAUSTED before the hub
reads it. Every document limit above is smaller, so a refusal of ours always names a field."""

# Error messages: quoted input is cut, so a status never carries an unbounded value.
MAX_QUOTED_CHARACTERS: Final = 64
MAX_DETAILS_BYTES: Final = 1_024

# Shared with the agent stream (agent_limits).
INT32_MAX: Final = 2**31 - 1

# Cluster labels, from the agent's hello and from RegisterCluster. Keys and values follow
# Kubernetes' label rules (a key's name part ≤ 63 characters with an optional DNS-subdomain
# prefix ≤ 253, a value ≤ 63); Kubernetes sets no count, this is ours.
MAX_CLUSTER_LABELS: Final = 64

# The largest message gRPC accepts by default, and so what a stock agent receives.
AGENT_RECEIVE_BYTES: Final = 4 * 2**20
MAX_GROUP_MEMBERS: Final = 8
"""Members of one AllocateGroup request (each a server allocated in one cluster)."""
