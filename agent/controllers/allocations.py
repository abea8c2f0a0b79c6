"""The allocation ledger: allocations made durable in one write per batch, GameServers after.

An allocation the hub asks for is *taken* once its entry is in its set's ledger — a ConfigMap
`<set>-allocations` beside the GameServerSet, owned by it — and the agent answers only then.
Entries of concurrent allocations share one write per set (group commit: while one write is in
flight, the next batch gathers). The GameServer's `opsState: Allocated`, its labels and
annotations (with the request_id) follow after the answer, as fast as the API server takes
them; an entry leaves the ledger once its GameServer says the same (or is gone).

From the moment an entry exists, the agent's decisions read its server as Allocated (the
reconciler's views ask `allocated`), and a server the reconciler is deleting or updating right
now (`busy`) is not taken. A new leader loads every ledger before it reconciles a set.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import TYPE_CHECKING

from gamefleet import protocol

from agent import metrics
from agent.core import bodies, ledger, views, wire
from agent.kube import client as kclient
from agent.kube import resources
from agent.kube.cache import EventType, Key, key_of
from okg import vocabulary

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping

    from agent.kube.cache import WatchCache

_log = logging.getLogger(__name__)

LEDGER_LABEL = "gamefleet.io/allocation-ledger"
# GameServer writes of allocations (after their answers) in flight at once: few, so that the
# ledger writes the answers wait for do not queue behind them at the API server (16 measured
# half the allocations/s of 4 on the project machine, for a shorter lag).
CATCH_UP_WRITES = 4
_RETRY_S = 1.0
# A write of an idle ledger waits this long for allocations that arrive with the first (the
# hub's requests come in bursts); once writes follow one another, each in-flight write is the
# window of the next.
LINGER_S = 0.002
# A server a reconcile deleted or updated stays busy at most this long after its writes, until
# the caches show them.
SETTLE_S = 10.0


class LedgerError(Exception):
    """The ledger could not take an allocation (its write failed, or the entry is too large)."""


@dataclasses.dataclass
class _SetLedger:
    """One set's ledger: what its object holds, and what the next write changes."""

    entries: dict[str, ledger.Entry] = dataclasses.field(default_factory=dict)
    # server → the entry to write (None: drop it), with the futures waiting for that write.
    pending: dict[str, ledger.Entry | None] = dataclasses.field(default_factory=dict)
    waiting: list[asyncio.Future[None]] = dataclasses.field(default_factory=list)
    writing: bool = False
    exists: bool = False
    # Servers a reconcile is deleting or updating right now: not allocatable meanwhile.
    busy: dict[str, int] = dataclasses.field(default_factory=dict)
    # Direct path: servers whose allocation's GameServer PATCH is in flight, or written but not
    # in the cache yet: the reconciler reads them Allocated meanwhile.
    claimed: set[str] = dataclasses.field(default_factory=set)

    # The changes of the write in flight: neither pending nor in the object yet.
    writing_changes: dict[str, ledger.Entry | None] = dataclasses.field(default_factory=dict)

    def held(self, server: str) -> ledger.Entry | None:
        """The entry of ``server``: the latest change made, else the one being written, else
        the object's (a drop not written yet still holds)."""
        return (
            self.pending.get(server) or self.writing_changes.get(server) or self.entries.get(server)
        )

    def all_held(self) -> dict[str, ledger.Entry]:
        """Every server held once the changes made so far are written."""
        merged: dict[str, ledger.Entry | None] = {**self.entries}
        merged.update(self.writing_changes)
        merged.update(self.pending)
        return {s: e for s, e in merged.items() if e is not None}


class AllocationLedger:
    """Takes allocations for one cluster's GameServerSets and keeps their ledgers."""

    def __init__(
        self,
        kube: kclient.KubeClient,
        sets: WatchCache,
        game_servers: WatchCache,
        ledgers: WatchCache,
        requeue: Callable[[Key, str], None],
        pods: WatchCache | None = None,
        clock: Callable[[], float] = time.time,
        catch_up_delay: float = 0.0,
        linger: float = LINGER_S,
    ) -> None:
        """``requeue(set_key, server)`` asks the reconciler to look at a server again (its
        view now reads Allocated); ``catch_up_delay`` holds each GameServer write back that
        many seconds after its allocation (tests: a crash before the catch-up); ``linger``: how
        long the first write of an idle ledger waits for more allocations."""
        self._kube = kube
        self._sets = sets
        self._gs = game_servers
        self._pods = pods
        self._ledgers = ledgers
        self._requeue = requeue
        self._clock = clock
        self._by_set: dict[Key, _SetLedger] = {}
        self._catch_up: dict[Key, None] = {}  # GameServers to write, in order
        self._catch_up_wake = asyncio.Event()
        self._catch_up_delay = catch_up_delay
        self._linger = linger
        # GameServer writes in flight: a release waits for them before it writes.
        self._in_flight: dict[Key, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._settling: set[asyncio.Task[None]] = set()
        self.loaded = False
        game_servers.add_handler(self._on_game_server)

    # -- lifecycle ---------------------------------------------------------------------------

    def load(self) -> None:
        """Read every ledger object (the caches are synced): entries whose GameServer already
        says Allocated leave at the next write, the others are caught up."""
        for obj in self._ledgers.all():
            set_name = _labels(obj).get(LEDGER_LABEL)
            namespace, _ = key_of(obj)
            if not set_name:
                continue
            book = self._book((namespace, set_name))
            book.exists = True
            for server, text in dict(obj.get("data") or {}).items():
                entry = ledger.Entry.decode(str(text))
                if entry is not None:
                    book.entries[server] = entry
                    self._follow(namespace, server, entry)
        self.loaded = True

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._catch_up_loop(), name=f"allocation catch-up {i}")
            for i in range(CATCH_UP_WRITES)
        ]

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._settling]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # -- what the reconciler reads -----------------------------------------------------------

    def allocated(self, set_key: Key) -> Collection[str]:
        """The servers of a set its ledger holds, or the direct path is allocating (their
        GameServers may not say so yet)."""
        book = self._by_set.get(set_key)
        return set() if book is None else {*book.all_held(), *book.claimed}

    def claim(self, namespace: str, name: str) -> Callable[[str | None], None] | None:
        """Direct path: hold ``name`` for an allocation whose guarded GameServer PATCH is about
        to be sent. None when it may not be taken: a reconcile is deleting or updating it (busy),
        its pod is going away or updating, the ledger or another allocation holds it. Else the
        reconciler reads it Allocated from now until the returned function is called with the
        PATCH's resourceVersion (then until the cache shows that write, at most SETTLE_S), or
        with None (the PATCH failed: at once)."""
        gs = self._gs.get((namespace, name))
        set_key = _set_of(gs, namespace)
        if set_key is None:  # not a set's server: no reconcile of a set touches it
            return _unclaimed
        book = self._book(set_key)
        busy = name in book.busy or name in book.claimed
        decision = ledger.decide_allocation(
            self._server(namespace, name), book.held(name), busy, ""
        )
        if decision is not ledger.Decision.TAKE:
            return None
        book.claimed.add(name)

        def release(written: str | None) -> None:
            if written is None:
                book.claimed.discard(name)
                self._requeue(set_key, name)  # not taken after all: read it as it is again
                return
            task = asyncio.get_running_loop().create_task(
                self._unclaim_when_seen(book, (namespace, name), int(written or 0))
            )
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)

        return release

    async def _unclaim_when_seen(self, book: _SetLedger, key: Key, version: int) -> None:
        try:
            await self._gs.wait_until(lambda: self._gs.has_seen(key, version), SETTLE_S)
        finally:
            book.claimed.discard(key[1])

    def hold(
        self, set_key: Key, servers: Iterable[str], settled: Callable[[], Awaitable[object]] | None
    ) -> Callable[[], None]:
        """Make ``servers`` busy (not taken by an allocation: a reconcile is deleting or
        updating them) from now until the returned function is called and then, when given,
        until ``settled()`` resolves (the caches show the reconcile's writes: a deleted pod
        terminating, an updated one updating), at most SETTLE_S. Enter right after planning,
        before the first write."""
        book = self._book(set_key)
        names = list(servers)
        for name in names:
            book.busy[name] = book.busy.get(name, 0) + 1

        def free() -> None:
            for name in names:
                left = book.busy.get(name, 0) - 1
                if left > 0:
                    book.busy[name] = left
                else:
                    book.busy.pop(name, None)

        def done() -> None:
            if settled is None or not names:
                free()
                return
            task = asyncio.get_running_loop().create_task(self._free_when(settled, free))
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)

        return done

    @staticmethod
    async def _free_when(
        settled: Callable[[], Awaitable[object]], free: Callable[[], None]
    ) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settled(), SETTLE_S)
        finally:
            free()

    # -- allocations -------------------------------------------------------------------------

    def preview(self, namespace: str, name: str, request_id: str) -> ledger.Decision:
        """What ``allocate`` would decide for ``name`` now, taking nothing."""
        set_key = _set_of(self._gs.get((namespace, name)), namespace)
        book = self._by_set.get(set_key) if set_key is not None else None
        entry = book.held(name) if book is not None else None
        # A server the direct path is allocating is as unavailable as one a reconcile changes.
        busy = book is not None and (name in book.busy or name in book.claimed)
        return ledger.decide_allocation(self._server(namespace, name), entry, busy, request_id)

    async def allocate(
        self,
        namespace: str,
        name: str,
        request_id: str,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
    ) -> ledger.Decision:
        """Take ``name`` for ``request_id`` if it may be taken; returns once the entry is
        durable (TAKE), at once when the server is already this request's (HELD) or may not be
        taken (CONFLICT). Raises LedgerError when the ledger write fails."""
        decision = self.preview(namespace, name, request_id)
        set_key = _set_of(self._gs.get((namespace, name)), namespace)
        if set_key is None:
            return decision
        book = self._book(set_key)
        if decision is ledger.Decision.HELD and name in book.pending:
            await self._write(set_key, book)  # answered only once durable
        if decision is not ledger.Decision.TAKE:
            return decision
        taken = ledger.Entry(request_id, dict(labels), dict(annotations), self._clock())
        if problem := ledger.entry_problem(taken):
            raise LedgerError(problem)
        book.pending[name] = taken
        self._requeue(set_key, name)  # from now on, the reconciler reads it Allocated
        try:
            await self._write(set_key, book)
        except LedgerError:
            self._requeue(set_key, name)  # not taken after all: read it as it is again
            raise
        return decision

    async def release(self, namespace: str, name: str, request_id: str) -> ledger.Decision:
        """Give back ``request_id``'s allocation of ``name``: opsState None, the request-id
        annotation dropped, the entry gone. CONFLICT (nothing changed) when the server is not
        allocated for that request."""
        gs = self._gs.get((namespace, name))
        set_key = _set_of(gs, namespace)
        book = self._by_set.get(set_key) if set_key is not None else None
        entry = book.held(name) if book is not None else None
        decision = ledger.decide_release(_server(gs), entry, request_id)
        if decision is not ledger.Decision.TAKE:
            return decision
        # No catch-up write may land after the release's own write.
        self._catch_up.pop((namespace, name), None)
        in_flight = self._in_flight.get((namespace, name))
        if in_flight is not None:
            await in_flight.wait()
        if entry is not None and set_key is not None and book is not None:
            book.pending[name] = None
            await self._write(set_key, book)
        if gs is not None:
            patch = {
                "metadata": {"annotations": {protocol.ALLOCATION_REQUEST_ANNOTATION: None}},
                "spec": {"opsState": vocabulary.OpsState.NONE.value},
            }
            await kclient.unless_gone(
                self._kube.patch(resources.GAME_SERVER, namespace, name, patch)
            )
        return decision

    def holds(self, namespace: str, name: str) -> bool:
        """The ledger holds an allocation of this server its GameServer may not say yet."""
        return self.entry(namespace, name) is not None

    def entry(self, namespace: str, name: str) -> ledger.Entry | None:
        """The ledger's entry of this server, if it holds one."""
        set_key = _set_of(self._gs.get((namespace, name)), namespace)
        book = self._by_set.get(set_key) if set_key is not None else None
        return book.held(name) if book is not None else None

    async def settle(self, namespace: str, name: str) -> None:
        """Write the GameServer of a held allocation now (before another operation on it)."""
        self._catch_up.pop((namespace, name), None)
        in_flight = self._in_flight.get((namespace, name))
        if in_flight is not None:
            await in_flight.wait()
        await self._write_game_server(namespace, name)

    # -- the ledger's writes -----------------------------------------------------------------

    async def _write(self, set_key: Key, book: _SetLedger) -> None:
        """Wait until the book's pending changes (those made so far) are in its object."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        book.waiting.append(done)
        if not book.writing:
            book.writing = True
            asyncio.get_running_loop().create_task(self._flush(set_key, book))
        await done

    async def _flush(self, set_key: Key, book: _SetLedger) -> None:
        try:
            await asyncio.sleep(self._linger)
            while book.waiting or book.pending:
                changes, book.pending = book.pending, {}
                waiting, book.waiting = book.waiting, []
                book.writing_changes = changes
                try:
                    await self._commit(set_key, book, changes)
                except Exception as exc:
                    book.writing_changes = {}
                    _log.warning("allocation ledger of %s/%s: write failed: %s", *set_key, exc)
                    # The write may have landed all the same: the next one drops every entry
                    # it carried (a taken server whose caller heard of a failure is not held).
                    for server in changes:
                        book.pending.setdefault(server, None)
                    for future in waiting:
                        if not future.done():  # its caller may have gone (cancelled)
                            future.set_exception(LedgerError(f"the ledger write failed: {exc}"))
                            future.exception()
                    await asyncio.sleep(_RETRY_S)
                    continue
                for server, entry in changes.items():
                    if entry is None:
                        book.entries.pop(server, None)
                    else:
                        book.entries[server] = entry
                        # Here, not in `allocate`: its caller may be gone (the hub's link
                        # ended), and a durable entry's GameServer must follow all the same.
                        self._follow(set_key[0], server, entry)
                book.writing_changes = {}
                for future in waiting:
                    if not future.done():  # its caller may have gone (cancelled)
                        future.set_result(None)
        finally:
            book.writing = False

    async def _commit(
        self, set_key: Key, book: _SetLedger, changes: Mapping[str, ledger.Entry | None]
    ) -> None:
        if not changes:
            return
        metrics.ALLOCATION_LEDGER_WRITES.inc()
        namespace, set_name = set_key
        data = {s: (e.encode() if e is not None else None) for s, e in changes.items()}
        name = ledger.ledger_name(set_name)
        if book.exists:
            try:
                await self._kube.patch(resources.CONFIG_MAP, namespace, name, {"data": data})
                return
            except kclient.ApiError as exc:
                if not exc.not_found:
                    raise
                book.exists = False  # gone with an earlier set of this name
        adds = {k: v for k, v in data.items() if v is not None}
        if not adds:
            return
        try:
            body = self._new_ledger(set_key, adds)
            await self._kube.create(resources.CONFIG_MAP, namespace, body)
        except kclient.ApiError as exc:
            if not exc.conflict:
                raise
            await self._kube.patch(resources.CONFIG_MAP, namespace, name, {"data": data})
        book.exists = True

    def _new_ledger(self, set_key: Key, data: Mapping[str, str]) -> bodies.Json:
        namespace, set_name = set_key
        meta: bodies.Json = {
            "name": ledger.ledger_name(set_name),
            "namespace": namespace,
            "labels": {LEDGER_LABEL: set_name, wire.OWNER_GSS: set_name},
        }
        gss = self._sets.get(set_key)
        uid = bodies.uid(gss)
        if uid:
            meta["ownerReferences"] = [
                {
                    "apiVersion": vocabulary.API_VERSION,
                    "kind": "GameServerSet",
                    "name": set_name,
                    "uid": uid,
                    "controller": False,
                    "blockOwnerDeletion": False,
                }
            ]
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": dict(data)}

    # -- GameServers catch up ----------------------------------------------------------------

    def _follow(self, namespace: str, name: str, entry: ledger.Entry) -> None:
        """Drop the entry when its GameServer already says it; else queue that GameServer."""
        gs = self._gs.get((namespace, name))
        if ledger.caught_up(entry, _server(gs)):
            self._drop(namespace, name, entry)
        else:
            self._catch_up[(namespace, name)] = None
            self._catch_up_wake.set()

    def _on_game_server(self, kind: EventType, obj: bodies.Json) -> None:
        namespace, name = key_of(obj)
        set_key = _set_of(obj, namespace)
        book = self._by_set.get(set_key) if set_key is not None else None
        entry = book.held(name) if book is not None else None
        if entry is None:
            return
        server = None if kind is EventType.DELETED else _server(obj)
        if ledger.caught_up(entry, server):
            if server is not None:
                metrics.ALLOCATION_LAG_SECONDS.observe(max(0.0, self._clock() - entry.time))
            self._drop(namespace, name, entry)

    def _drop(self, namespace: str, name: str, entry: ledger.Entry) -> None:
        self._catch_up.pop((namespace, name), None)
        set_key = _set_of(self._gs.get((namespace, name)), namespace)
        if set_key is None:
            set_key = (namespace, _set_name_of(name))
        book = self._by_set.get(set_key)
        if book is None or book.held(name) is not entry:
            return
        book.pending[name] = None
        task = asyncio.get_running_loop().create_task(self._write(set_key, book))
        task.add_done_callback(_ignore_failure)

    async def _catch_up_loop(self) -> None:
        while True:
            while not self._catch_up:
                self._catch_up_wake.clear()
                await self._catch_up_wake.wait()
            key = next(iter(self._catch_up))
            del self._catch_up[key]
            if self._catch_up_delay:
                await asyncio.sleep(self._catch_up_delay)
            done = self._in_flight[key] = asyncio.Event()
            try:
                await self._write_game_server(*key)
            except Exception as exc:
                _log.warning("allocation of %s/%s: GameServer write failed: %s", *key, exc)
                await asyncio.sleep(_RETRY_S)
                self._catch_up.setdefault(key, None)
                self._catch_up_wake.set()
            finally:
                del self._in_flight[key]
                done.set()

    async def _write_game_server(self, namespace: str, name: str) -> None:
        gs = self._gs.get((namespace, name))
        set_key = _set_of(gs, namespace)
        book = self._by_set.get(set_key) if set_key is not None else None
        entry = book.held(name) if book is not None else None
        if entry is None or ledger.caught_up(entry, _server(gs)):
            return
        metrics.ALLOCATION_CATCH_UPS.inc()
        meta: bodies.Json = {
            "annotations": {
                **entry.annotations,
                protocol.ALLOCATION_REQUEST_ANNOTATION: entry.request_id,
            }
        }
        if entry.labels:
            meta["labels"] = dict(entry.labels)
        patch = {"metadata": meta, "spec": {"opsState": vocabulary.OpsState.ALLOCATED.value}}
        written = await kclient.unless_gone(
            self._kube.patch(resources.GAME_SERVER, namespace, name, patch)
        )
        if written is None:  # the server is gone: so is its allocation
            self._drop(namespace, name, entry)

    def _server(self, namespace: str, name: str) -> ledger.Server | None:
        """The GameServer as an allocation reads it: a server whose pod is going away or
        being updated in place is not taken (its GameServer may still say Ready)."""
        found = _server(self._gs.get((namespace, name)))
        if found is None or self._pods is None:
            return found
        pod = self._pods.get((namespace, name))
        if pod is None or bodies.terminating(pod) or views.in_place_updating(pod):
            return dataclasses.replace(found, deleting=True)
        return found

    def _book(self, set_key: Key) -> _SetLedger:
        book = self._by_set.get(set_key)
        if book is None:
            book = self._by_set[set_key] = _SetLedger()
        return book


def _server(gs: bodies.Json | None) -> ledger.Server | None:
    if gs is None:
        return None
    meta = bodies.meta(gs)
    return ledger.Server(
        state=str((gs.get("status") or {}).get("currentState") or ""),
        ops_state=str((gs.get("spec") or {}).get("opsState") or vocabulary.OpsState.NONE.value),
        request_id=str(
            (meta.get("annotations") or {}).get(protocol.ALLOCATION_REQUEST_ANNOTATION, "")
        ),
        deleting=bool(meta.get("deletionTimestamp")),
    )


def _labels(obj: bodies.Json) -> dict[str, str]:
    return bodies.labels_of(obj)


def _set_of(gs: bodies.Json | None, namespace: str) -> Key | None:
    if gs is None:
        return None
    owner = _labels(gs).get(wire.OWNER_GSS)
    return (namespace, owner) if owner else None


def _set_name_of(server: str) -> str:
    return server.rsplit("-", 1)[0]


def _unclaimed(_: str | None) -> None:
    pass


def _ignore_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
