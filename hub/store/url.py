"""Store URLs.

- ``sqlite:///abs/path/hub.db`` — an absolute path (three slashes: empty host, as in file URLs).
- ``sqlite:relative/hub.db`` — a path relative to the working directory.
- ``etcd://host:port[,host:port...][/prefix]`` — endpoints tried in order; prefix defaults to
  ``/gamefleet/``.

Query parameters: sqlite takes ``synchronous=full|normal`` and ``history=<revisions>``; etcd takes
none.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from typing import Final

from . import _etcd_rpc, sqlite

DEFAULT_ETCD_PREFIX: Final = "/gamefleet/"
_ENDPOINT: Final = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]+)(?::(?P<port>\d+))?$")


@dataclasses.dataclass(frozen=True, slots=True)
class SqliteUrl:
    path: str
    synchronous: sqlite.Synchronous = "full"
    history: int = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class EtcdUrl:
    endpoints: tuple[_etcd_rpc.Endpoint, ...]
    prefix: str = DEFAULT_ETCD_PREFIX


def parse(url: str) -> SqliteUrl | EtcdUrl:
    """Parse a store URL; raise ValueError naming the part that is wrong."""
    scheme, sep, _ = url.partition(":")
    if not sep:
        raise ValueError(f"store URL {url!r} has no scheme: use sqlite:///path or etcd://host:port")
    if scheme == "sqlite":
        return _parse_sqlite(url)
    if scheme == "etcd":
        return _parse_etcd(url)
    raise ValueError(f"store URL {url!r}: unknown scheme {scheme!r} (expected sqlite or etcd)")


def _parse_sqlite(url: str) -> SqliteUrl:
    parts = urllib.parse.urlsplit(url)
    if parts.netloc:
        raise ValueError(
            f"store URL {url!r}: host {parts.netloc!r} is not allowed for sqlite; "
            "use sqlite:///abs/path.db or sqlite:relative/path.db"
        )
    if not parts.path or parts.path.endswith("/"):
        raise ValueError(f"store URL {url!r}: missing database file path")
    result = SqliteUrl(path=urllib.parse.unquote(parts.path))
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if name == "synchronous":
            if value not in ("full", "normal"):
                raise ValueError(
                    f"store URL {url!r}: synchronous={value!r} (expected full or normal)"
                )
            result = dataclasses.replace(
                result, synchronous="full" if value == "full" else "normal"
            )
        elif name == "history":
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"store URL {url!r}: history={value!r} is not a positive integer")
            result = dataclasses.replace(result, history=int(value))
        else:
            raise ValueError(f"store URL {url!r}: unknown query parameter {name!r}")
    return result


def _parse_etcd(url: str) -> EtcdUrl:
    parts = urllib.parse.urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"store URL {url!r}: etcd URLs take no query or fragment")
    if not parts.netloc:
        raise ValueError(f"store URL {url!r}: missing etcd endpoint (etcd://host:port)")
    endpoints = []
    for item in parts.netloc.split(","):
        match = _ENDPOINT.match(item)
        if match is None:
            raise ValueError(f"store URL {url!r}: endpoint {item!r} is not host:port")
        port = int(match["port"] or 2379)
        if not 0 < port < 65536:
            raise ValueError(f"store URL {url!r}: endpoint {item!r} has port out of range")
        endpoints.append(_etcd_rpc.Endpoint(match["host"], port))
    prefix = parts.path.rstrip("/") + "/" if parts.path not in ("", "/") else DEFAULT_ETCD_PREFIX
    return EtcdUrl(endpoints=tuple(endpoints), prefix=prefix)
