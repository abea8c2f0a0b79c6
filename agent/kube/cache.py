"""List+watch caches: one per kind, kept current by a watch that resumes from its
resourceVersion, re-lists only after 410 Gone (or a broken stream), and never resyncs on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from typing import TYPE_CHECKING, Any

from agent.core import bodies

from . import client as kclient

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from . import resources

Key = tuple[str, str]
"""(namespace, name)."""

_log = logging.getLogger(__name__)
_PAGE = 500
_WATCH_SECONDS = 290


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


key_of = bodies.key


def rv_of(obj: bodies.Raw | None) -> int:
    """An object's resourceVersion as a number (etcd revisions); 0 when unknown."""
    try:
        return int(bodies.resource_version(obj) or 0)
    except ValueError:
        return 0


def _slim(obj: kclient.Obj) -> kclient.Obj:
    """Drop what the agent never reads and that dominates an object's size."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def _keep(obj: kclient.Obj) -> kclient.Obj:
    return obj


class WatchCache:
    """A current copy of every object of one kind (in one namespace or all), with an index."""

    def __init__(
        self,
        kube: kclient.KubeClient,
        resource: resources.Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        index: Callable[[kclient.Obj], str | None] | None = None,
        keep_managed_fields: bool = False,
    ) -> None:
        self._kube = kube
        self._slim = _keep if keep_managed_fields else _slim
        self.resource = resource
        self._namespace = namespace
        self._selector = label_selector
        self._index_fn = index
        self._objects: dict[Key, kclient.Obj] = {}
        self._index: dict[str, dict[Key, kclient.Obj]] = {}
        self._handlers: list[Callable[[EventType, kclient.Obj], None]] = []
        self._changed = asyncio.Event()
        self.synced = asyncio.Event()
        self.last_rv = 0
        self.relists = 0
        self.events = 0

    def add_handler(self, handler: Callable[[EventType, kclient.Obj], None]) -> None:
        self._handlers.append(handler)

    # Reads.

    def get(self, key: Key) -> kclient.Obj | None:
        return self._objects.get(key)

    def by_index(self, value: str) -> list[kclient.Obj]:
        return list(self._index.get(value, {}).values())

    def all(self) -> Iterable[kclient.Obj]:
        return list(self._objects.values())

    def __len__(self) -> int:
        return len(self._objects)

    async def wait_until(self, predicate: Callable[[], bool], seconds: float) -> bool:
        """Wait until `predicate()` holds after some event; False on timeout."""
        deadline = time.monotonic() + seconds
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        return True

    async def next_change(self, seconds: float) -> None:
        """Return after the next event (or bookmark), or after `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    def has_seen(self, key: Key, min_rv: int) -> bool:
        """The cache reflects a write that returned `min_rv` for this object (or anything newer)."""
        return self.last_rv >= min_rv or rv_of(self._objects.get(key)) >= min_rv

    # Updates.

    def _store(self, obj: kclient.Obj) -> tuple[EventType, kclient.Obj | None]:
        key = key_of(obj)
        old = self._objects.get(key)
        self._objects[key] = obj
        if self._index_fn is not None:
            if old is not None:
                old_ix = self._index_fn(old)
                if old_ix is not None:
                    self._index.get(old_ix, {}).pop(key, None)
            ix = self._index_fn(obj)
            if ix is not None:
                self._index.setdefault(ix, {})[key] = obj
        return (EventType.ADDED if old is None else EventType.MODIFIED), old

    def _remove(self, key: Key) -> kclient.Obj | None:
        old = self._objects.pop(key, None)
        if old is not None and self._index_fn is not None:
            ix = self._index_fn(old)
            if ix is not None:
                bucket = self._index.get(ix, {})
                bucket.pop(key, None)
                if not bucket:
                    self._index.pop(ix, None)
        return old

    def _notify(self, kind: EventType, obj: kclient.Obj) -> None:
        self.events += 1
        for handler in self._handlers:
            try:
                handler(kind, obj)
            except Exception:
                _log.exception("cache handler failed for %s", self.resource.plural)

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self._selector:
            params["labelSelector"] = self._selector
        return params

    async def _list(self) -> int:
        """List everything (paginated), replace the store, emit the differences."""
        seen: set[Key] = set()
        token: str | None = None
        list_rv = 0
        while True:
            params = {**self._params(), "limit": _PAGE, "continue": token}
            page = await self._kube.request(
                "GET", self.resource.collection(self._namespace), params=params
            )
            for item in page.get("items") or []:
                item = self._slim(item)
                item.setdefault("apiVersion", self.resource.api_version)
                item.setdefault("kind", self.resource.kind)
                key = key_of(item)
                seen.add(key)
                old = self._objects.get(key)
                if old is not None and rv_of(old) == rv_of(item):
                    continue
                kind, _ = self._store(item)
                self._notify(kind, item)
            meta = page.get("metadata") or {}  # a list's metadata: continue, resourceVersion
            token = meta.get("continue") or None
            list_rv = max(list_rv, int(meta.get("resourceVersion") or 0))
            if not token:
                break
        for key in [k for k in self._objects if k not in seen]:
            gone = self._remove(key)
            if gone is not None:
                self._notify(EventType.DELETED, gone)
        self.last_rv = max(self.last_rv, list_rv)
        self.relists += 1
        self._wake()
        return list_rv

    async def run(self) -> None:
        """List, then watch forever; re-list on 410 Gone or after repeated stream errors."""
        rv = 0
        failures = 0
        while True:
            try:
                if rv == 0:
                    rv = await self._list()
                    self.synced.set()
                rv = await self._watch(rv)
                failures = 0
            except asyncio.CancelledError:
                raise
            except kclient.ApiError as exc:
                if exc.gone:
                    _log.info("%s watch expired (410): re-listing", self.resource.plural)
                    rv = 0
                    continue
                failures += 1
                _log.warning("%s watch failed: %s", self.resource.plural, exc)
            except Exception as exc:
                failures += 1
                _log.warning("%s watch broke: %r", self.resource.plural, exc)
            if failures >= 5:
                rv = 0
            await asyncio.sleep(min(5.0, 0.2 * 2**failures))

    async def _watch(self, rv: int) -> int:
        params = {
            **self._params(),
            "resourceVersion": str(rv),
            "allowWatchBookmarks": True,
            "timeoutSeconds": _WATCH_SECONDS,
        }
        async for event in self._kube.watch_lines(
            self.resource.collection(self._namespace), params, seconds=_WATCH_SECONDS + 30
        ):
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == "ERROR":
                code = int(obj.get("code") or 0)
                raise kclient.ApiError(code or 500, obj)
            new_rv = rv_of(obj)
            if kind == "BOOKMARK":
                rv = max(rv, new_rv)
                self.last_rv = max(self.last_rv, rv)
                self._wake()
                continue
            obj = self._slim(obj)
            if kind == "DELETED":
                gone = self._remove(key_of(obj))
                self._notify(EventType.DELETED, gone or obj)
            elif kind in ("ADDED", "MODIFIED"):
                stored, _ = self._store(obj)
                self._notify(stored, obj)
            rv = max(rv, new_rv)
            self.last_rv = max(self.last_rv, rv)
            self._wake()
        return rv
