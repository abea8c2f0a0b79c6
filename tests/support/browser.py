"""A real browser for tests: Debian's headless Chromium, driven over the Chrome DevTools
protocol (a WebSocket, with aiohttp). No WebDriver, nothing downloaded.

``.ci/run`` installs the ``chromium`` package; without it, :func:`chromium_path` raises, so a
test that needs the browser fails saying how to install it (never skips).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
from typing import Any

import aiohttp

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
START_TIMEOUT_S = 30.0


class BrowserMissingError(RuntimeError):
    pass


def chromium_path() -> str:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserMissingError(
        "no Chromium on PATH: `apt-get install chromium` (.ci/run installs it)"
    )


def _launch(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _write(path: pathlib.Path, data: bytes) -> pathlib.Path:
    path.write_bytes(data)
    return path


class Browser:
    """One headless Chromium with one page (a tab), until :meth:`close`."""

    def __init__(self, width: int = 1400, height: int = 1000) -> None:
        self.width, self.height = width, height
        self._profile = pathlib.Path(tempfile.mkdtemp(prefix="gamefleet-chromium-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: list[tuple[str, asyncio.Queue[dict[str, Any]]]] = []
        self._reader: asyncio.Task[None] | None = None
        self.console: list[str] = []

    async def start(self) -> Browser:
        command = [
            chromium_path(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
            "--mute-audio", f"--user-data-dir={self._profile}", "--remote-debugging-port=0",
            f"--window-size={self.width},{self.height}", "about:blank",
        ]  # fmt: skip
        self._process = _launch(command)
        port = await self._devtools_port()
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as answer:
            targets = await answer.json()
        page = next(t for t in targets if t["type"] == "page")
        self._socket = await self._session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        for domain in ("Page", "Runtime"):
            await self.send(f"{domain}.enable")
        return self

    async def _devtools_port(self) -> int:
        marker = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._process.returncode}")
            if marker.is_file() and (text := marker.read_text().split()):
                return int(text[0])
            await asyncio.sleep(0.05)  # Chromium writes the file once it listens
        raise RuntimeError("chromium did not open its DevTools port in time")

    async def _read(self) -> None:
        assert self._socket is not None
        async for message in self._socket:
            data = json.loads(message.data)
            if "id" in data:
                future = self._answers.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
                continue
            self._note(data)
            for method, queue in self._listeners:
                if data.get("method") == method:
                    queue.put_nowait(data.get("params", {}))

    def _note(self, event: dict[str, Any]) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled":
            self.console.append(" ".join(str(a.get("value", "")) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            self.console.append(f"exception: {params['exceptionDetails']}")

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self._socket is not None
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._answers[ident] = future
        await self._socket.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        answer = await asyncio.wait_for(future, 60)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})  # type: ignore[no-any-return]

    async def navigate(self, url: str, timeout: float = 30.0) -> None:
        loaded: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._listeners.append(("Page.loadEventFired", loaded))
        try:
            await self.send("Page.navigate", url=url)
            await asyncio.wait_for(loaded.get(), timeout)
        finally:
            self._listeners.remove(("Page.loadEventFired", loaded))

    async def evaluate(self, expression: str) -> Any:
        answer = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30.0, what: str = "") -> Any:
        """Poll ``expression`` in the page (every 0.1 s, bounded) until it is truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what or expression}; "
                    f"page console: {self.console[-5:]}"
                )
            await asyncio.sleep(0.1)

    async def screenshot(self, path: pathlib.Path) -> pathlib.Path:
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        return _write(path, base64.b64decode(shot["data"]))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._socket is not None:
            await self._socket.close()
        if self._session is not None:
            await self._session.close()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        shutil.rmtree(self._profile, ignore_errors=True)


@contextlib.asynccontextmanager
async def browser(width: int = 1400, height: int = 1000) -> Any:
    """A started :class:`Browser`, closed on exit."""
    started = Browser(width, height)
    try:
        await started.start()
        yield started
    finally:
        await started.close()


def screenshot_dir(default: pathlib.Path) -> pathlib.Path:
    """``docs/`` when GAMEFLEET_UPDATE_SCREENSHOTS=1 (to refresh the committed pictures), else
    ``default`` (a test's temporary directory)."""
    if os.environ.get("GAMEFLEET_UPDATE_SCREENSHOTS") == "1":
        return pathlib.Path(__file__).resolve().parents[2] / "docs"
    return default
