"""Why a hub cannot start, attributed to the setting (the ``hub serve`` flag) at fault."""

from __future__ import annotations

import socket
from pathlib import Path

from . import metrics


class StartError(ValueError):
    """The hub cannot start because of ``setting``, a HubConfig field such as ``store_url``."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting
        self.message = message


def read_file(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StartError(setting, f"cannot read {path}: {exc.strerror or exc}") from exc


def check_bindable(address: str, setting: str) -> None:
    """StartError when a HOST:PORT address cannot be bound, saying why.

    Checked before gRPC binds: gRPC says only that it failed, and logs its own reason on
    stderr. Unix socket addresses (``unix:PATH``) are left to gRPC.
    """
    if address.startswith(("unix:", "unix-abstract:")):
        return
    try:
        host, port = metrics.parse_listen(address)
    except ValueError as exc:
        raise StartError(setting, str(exc)) from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise StartError(setting, f"cannot listen on {address}: {exc.strerror or exc}") from None
    family, kind, protocol, _, where = infos[0]
    with socket.socket(family, kind, protocol) as probe:
        # As gRPC binds: a port in TIME_WAIT is free, one with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(where)
        except OSError as exc:
            raise StartError(
                setting, f"cannot listen on {address}: {exc.strerror or exc}"
            ) from None
