"""The HOST:PORT form of a listen address, shared by the hub's and the agent's flags."""

from __future__ import annotations


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[V6]:PORT`` for an IPv6 address) as (host, port); ValueError if not."""
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT with a port from 0 to 65535, got {text!r}")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    if not host or (":" in host and not bracketed):
        raise ValueError(f"expected HOST:PORT, an IPv6 host in brackets, got {text!r}")
    return host, int(port)
