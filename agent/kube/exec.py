"""`pods/exec` over the API server's WebSocket endpoint (channel protocol v4/v5).

Runs one command in a container and returns its exit code and stdout, as `kubectl exec` does
(without stdin or a TTY). The connection goes through the client's own aiohttp session, so the
kubeconfig's TLS settings and credentials apply.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import urllib.parse
from typing import TYPE_CHECKING

import aiohttp

from . import resources

if TYPE_CHECKING:
    from .client import KubeClient

_STDOUT, _STDERR, _ERROR = 1, 2, 3
_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
MAX_OUTPUT = 10 * 1024
"""Bytes of stdout kept, as the kubelet keeps for a probe's output."""


@dataclasses.dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str = ""


class ExecError(Exception):
    """The command could not be run (no such pod or container, exec refused, bad frames)."""


async def run(
    kube: KubeClient,
    namespace: str,
    pod: str,
    command: tuple[str, ...],
    *,
    container: str = "",
    timeout: float = 5.0,
) -> ExecResult:
    """Run `command` in the pod; a timeout raises `TimeoutError`."""
    params: list[tuple[str, str]] = [("command", c) for c in command]
    params += [("stdout", "true"), ("stderr", "true")]
    if container:
        params.append(("container", container))
    path = resources.POD.item(namespace, pod, "exec")
    url = kube.url(path, None) + "?" + urllib.parse.urlencode(params)
    url = "ws" + url[4:] if url.startswith("http") else url
    headers = await kube.auth_headers()
    kube.requests += 1
    stdout, stderr = bytearray(), bytearray()
    status: dict[str, object] | None = None
    async with asyncio.timeout(timeout):
        try:
            async with kube.session().ws_connect(url, headers=headers, protocols=_PROTOCOLS) as ws:
                async for msg in ws:
                    if msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                        break
                    data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                    if not data:
                        continue
                    channel, payload = data[0], data[1:]
                    if channel == _STDOUT and len(stdout) < MAX_OUTPUT:
                        stdout += payload
                    elif channel == _STDERR and len(stderr) < MAX_OUTPUT:
                        stderr += payload
                    elif channel == _ERROR and payload:
                        status = json.loads(payload)
        except aiohttp.WSServerHandshakeError as exc:
            raise ExecError(f"exec in {namespace}/{pod}: {exc.status} {exc.message}") from exc
        except aiohttp.ClientError as exc:
            raise ExecError(f"exec in {namespace}/{pod}: {exc}") from exc
    return ExecResult(
        _exit_code(status),
        stdout[:MAX_OUTPUT].decode(errors="replace"),
        stderr[:MAX_OUTPUT].decode(errors="replace"),
    )


def _exit_code(status: dict[str, object] | None) -> int:
    """Read the error channel's Status: Success is 0, NonZeroExitCode carries the code."""
    if status is None or status.get("status") == "Success":
        return 0
    details = status.get("details")
    if isinstance(details, dict):
        for cause in details.get("causes") or []:
            if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
                try:
                    return int(str(cause.get("message")))
                except ValueError:
                    break
    # kwok's emulated exec reports a non-zero exit as an internal error naming the status.
    found = re.search(r"exit status (\d+)", str(status.get("message") or ""))
    if found:
        return int(found.group(1))
    raise ExecError(f"exec failed: {status.get('message') or status}")
