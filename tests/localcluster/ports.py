"""Loopback port blocks and pod IP ranges that do not collide across clusters or checkouts.

A cluster takes slot (hash(checkout) + index) and the next free slot after it. A slot is a block
of PORTS_PER_SLOT ports below the Linux ephemeral range (32768+), so outgoing connections never
hold them; the same slot picks the cluster's pod range 127.<octet>.0.0/16.
"""

from __future__ import annotations

import hashlib
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Collection

PORT_NAMES = ("etcd", "etcd_peer", "apiserver", "controller_manager", "scheduler", "kwok")
PORTS_PER_SLOT = 8
FIRST_PORT = 10000
SLOTS = (32000 - FIRST_PORT) // PORTS_PER_SLOT
_OCTETS = 240  # second octets 10..249 of 127.0.0.0/8; 127.0.x.x stays for ordinary loopback


def base_slot(checkout: pathlib.Path) -> int:
    digest = hashlib.sha256(str(checkout.resolve()).encode()).digest()
    return int.from_bytes(digest[:4], "big") % SLOTS


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR too, so TIME_WAIT leftovers do not count as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def slot_ports(slot: int) -> dict[str, int]:
    first = FIRST_PORT + slot * PORTS_PER_SLOT
    return {name: first + i for i, name in enumerate(PORT_NAMES)}


def pick_slot(start: int, taken: Collection[int]) -> int:
    """First slot from start on that is not taken and whose ports are all free."""
    for step in range(SLOTS):
        slot = (start + step) % SLOTS
        if slot not in taken and all(port_free(p) for p in slot_ports(slot).values()):
            return slot
    raise RuntimeError("no free loopback port block left in 10000-32000")


def pod_cidr(slot: int) -> str:
    return f"127.{10 + slot % _OCTETS}.0.0/16"


def node_pod_cidr(cluster_cidr: str, node_index: int) -> str:
    """Node j gets the j-th /20 (4094 addresses) of the cluster's /16."""
    prefix = cluster_cidr.split(".")[1]
    return f"127.{prefix}.{16 * node_index}.0/20"
