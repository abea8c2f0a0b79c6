"""Label and annotation keys of the OKG wire protocol, plus gamefleet's own keys."""

from __future__ import annotations

# Pod labels other OKG tools read.
OWNER_GSS = "game.kruise.io/owner-gss"
GS_STATE = "game.kruise.io/gs-state"
GS_OPS_STATE = "game.kruise.io/gs-opsState"
GS_UPDATE_PRIORITY = "game.kruise.io/gs-update-priority"
GS_DELETE_PRIORITY = "game.kruise.io/gs-delete-priority"
NETWORK_DISABLED = "game.kruise.io/network-disabled"
# On the pod of a server with players on its counters or lists (okg.capacity: in use), only
# then: the players' disruption budget selects it (agent/core/disruption.py).
HOLDS_PLAYERS = "gamefleet.io/holds-players"

# Pod annotations.
NETWORK_TYPE = "game.kruise.io/network-type"
NETWORK_CONF = "game.kruise.io/network-conf"
NETWORK_STATUS = "game.kruise.io/network-status"
OPS_STATE_LAST_CHANGED = "game.kruise.io/opsState-last-changed-time"
STATE_LAST_CHANGED = "game.kruise.io/state-last-changed-time"

# GameServer label: with reclaimPolicy Delete, remove the GameServer once its pod is gone.
GS_DELETING = "game.kruise.io/gs-deleting"

# GameServerSet annotation: the explicit reserved ids the controller last acted on (OKG's key).
RESERVE_IDS = "game.kruise.io/reserve-ids"
# GameServerSet annotation: ordinals removed by scale-down (OKG keeps these in the
# Advanced StatefulSet's reserveOrdinals; gamefleet has no StatefulSet).
IMPLICIT_RESERVE_IDS = "gamefleet.io/implicit-reserve-ids"

# Pod label: the template revision the pod runs, and its image-independent shape.
REVISION = "gamefleet.io/revision"
REVISION_SHAPE = "gamefleet.io/revision-shape"

NETWORK_SERVER = "gamefleet.io/server"
"""Label: the server a network object not named after it belongs to (its events concern that
server, not the whole set)."""

# GameServer labels and annotations with this prefix are copied to the pod.
GS_SYNC_PREFIX = "gs-sync/"

# OKG v1.1: the GameServer's node (from its pod), the template metadata the GameServer last
# took (a hash), and, on the pod of a server held before an in-place update (PreUpdate), the
# containers that update will restart (comma-separated).
NODE_NAME = "game.kruise.io/node-name"
TEMPLATE_METADATA_HASH = "game.kruise.io/gsTemplate-metadata-hash"
UPDATING_CONTAINERS = "game.kruise.io/gs-updating-containers"
