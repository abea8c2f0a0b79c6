"""The embedded store: one SQLite file, one process, one replica.

SQLite calls run on two dedicated threads, each owning one connection, so the event loop never
blocks: the writer serializes every write (and the liveness check) without locks, the reader
serves gets, lists and watches. In WAL mode a reader sees every committed write and never waits
for a writer, so reads go on while a write is stuck (a disk that stalls a commit's fsync, or
another process holding the database's write lock). The ``events`` table is the watch history:
each commit appends its changes at the new revision, and commits trim it to the last
``history`` revisions.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import sqlite3
from typing import TYPE_CHECKING, Final, Literal, TypeVar

from . import interface

if TYPE_CHECKING:
    import builtins
    from collections.abc import AsyncGenerator, Callable, Sequence

_T = TypeVar("_T")

Synchronous = Literal["full", "normal"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS kv (
    key BLOB PRIMARY KEY,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    mod_revision INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    revision INTEGER NOT NULL,
    key BLOB NOT NULL,
    deleted INTEGER NOT NULL,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    PRIMARY KEY (revision, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0), ('compact_revision', 1);
"""

_WATCH_BATCH: Final = 256


def _range_end(prefix: bytes) -> bytes | None:
    """Return the smallest key greater than every key starting with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _prefix_clause(prefix: str) -> tuple[str, tuple[bytes, ...]]:
    start = prefix.encode()
    end = _range_end(start)
    if end is None:
        return "key >= ?", (start,)
    return "key >= ? AND key < ?", (start, end)


class SqliteStore:
    """``Store`` on a SQLite file in WAL mode.

    ``synchronous="full"`` (the default) fsyncs the WAL on every commit: an acknowledged write
    survives a process kill and a power loss. ``"normal"`` skips that fsync; in WAL mode a
    commit still reaches the OS before it is acknowledged, so it survives kill -9 of the
    process but not a crash of the machine.
    """

    def __init__(
        self, path: str, *, synchronous: Synchronous = "full", history: int = 10_000
    ) -> None:
        if history < 1:
            raise ValueError(f"history must be at least 1 revision, got {history}")
        self._path = path
        self._synchronous = synchronous
        self._history = history
        self._writer = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sqlite-store-writer"
        )
        self._reader = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sqlite-store-reader"
        )
        self._conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._revision = 0
        self._changed = asyncio.Condition()
        self._closed = False

    @classmethod
    async def open(
        cls, path: str, *, synchronous: Synchronous = "full", history: int = 10_000
    ) -> SqliteStore:
        store = cls(path, synchronous=synchronous, history=history)
        try:
            store._revision = await store._run(store._open)
            await store._read(store._open_reader)
        except BaseException:
            await store.close()
            raise
        return store

    async def _run(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the writer's thread."""
        return await self._on(self._writer, fn)

    async def _read(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the reader's thread."""
        return await self._on(self._reader, fn)

    async def _on(
        self, executor: concurrent.futures.ThreadPoolExecutor, fn: Callable[[], _T]
    ) -> _T:
        if self._closed:
            raise interface.StoreError("store is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, fn)
        except sqlite3.OperationalError as e:
            raise interface.StoreUnavailableError(f"sqlite {self._path}: {e}") from e
        except sqlite3.DatabaseError as e:
            raise interface.StoreError(f"sqlite {self._path}: {e}") from e

    def _db(self) -> sqlite3.Connection:
        assert self._conn is not None
        return self._conn

    def _read_db(self) -> sqlite3.Connection:
        assert self._read_conn is not None
        return self._read_conn

    def _open(self) -> int:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous.upper()}")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(_SCHEMA)
        self._conn = conn
        return self._meta("revision")

    def _open_reader(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        self._read_conn = conn

    def _meta(self, name: str, db: sqlite3.Connection | None = None) -> int:
        row = (
            (db or self._db()).execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        )
        return int(row[0])

    async def check(self) -> None:
        """Commit a one-row write on the writer's thread: it returns once a commit (and, with
        synchronous=full, its fsync) goes through, so it hangs while writes cannot."""
        await self._run(self._check)

    def _check(self) -> None:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('checked', ?)", (0,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def get(self, key: str) -> interface.KeyValue | None:
        return await self._read(lambda: self._get(key))

    def _get(self, key: str) -> interface.KeyValue | None:
        row = (
            self._read_db()
            .execute(
                "SELECT value, create_revision, mod_revision FROM kv WHERE key = ?",
                (key.encode(),),
            )
            .fetchone()
        )
        if row is None:
            return None
        return interface.KeyValue(key, bytes(row[0]), row[1], row[2])

    async def list(
        self, prefix: str, *, start_after: str = "", limit: int = 0
    ) -> tuple[builtins.list[interface.KeyValue], int]:
        return await self._read(lambda: self._list(prefix, start_after, limit))

    def _list(
        self, prefix: str, start_after: str, limit: int
    ) -> tuple[builtins.list[interface.KeyValue], int]:
        db = self._read_db()
        clause, keys = _prefix_clause(prefix)
        if start_after:
            clause, keys = f"{clause} AND key > ?", (*keys, start_after.encode())
        # SQLite reads LIMIT -1 as no limit.
        db.execute("BEGIN")
        try:
            rows = db.execute(
                "SELECT key, value, create_revision, mod_revision FROM kv"
                f" WHERE {clause} ORDER BY key LIMIT ?",
                (*keys, limit if limit > 0 else -1),
            ).fetchall()
            revision = self._meta("revision", db)
        finally:
            db.execute("COMMIT")
        items = [interface.KeyValue(bytes(k).decode(), bytes(v), c, m) for k, v, c, m in rows]
        return items, revision

    async def put(self, key: str, value: bytes, *, expected_mod_revision: int | None = None) -> int:
        return await self.commit([interface.Put(key, value, expected_mod_revision)])

    async def delete(self, key: str, *, expected_mod_revision: int | None = None) -> bool:
        _, changed = await self._commit([interface.Delete(key, expected_mod_revision)])
        return changed

    async def commit(self, ops: Sequence[interface.Op]) -> int:
        revision, _ = await self._commit(ops)
        return revision

    async def _commit(self, ops: Sequence[interface.Op]) -> tuple[int, bool]:
        keys = [op.key for op in ops]
        if len(set(keys)) != len(keys):
            raise ValueError("a commit must not touch the same key twice")
        revision, changed = await self._run(lambda: self._commit_sync(ops))
        if changed:
            async with self._changed:
                self._revision = max(self._revision, revision)
                self._changed.notify_all()
        return revision, changed

    def _commit_sync(self, ops: Sequence[interface.Op]) -> tuple[int, bool]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            result = self._apply(db, ops)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    def _apply(self, db: sqlite3.Connection, ops: Sequence[interface.Op]) -> tuple[int, bool]:
        current = self._meta("revision")
        revision = current + 1
        changed = False
        for op in ops:
            key = op.key.encode()
            row = db.execute(
                "SELECT create_revision, mod_revision FROM kv WHERE key = ?", (key,)
            ).fetchone()
            actual = 0 if row is None else int(row[1])
            expected = op.expected_mod_revision
            if expected is not None and expected != actual:
                raise interface.ConflictError(op.key, expected, actual)
            if isinstance(op, interface.Put):
                create = revision if row is None else int(row[0])
                db.execute(
                    "INSERT OR REPLACE INTO kv (key, value, create_revision, mod_revision)"
                    " VALUES (?, ?, ?, ?)",
                    (key, op.value, create, revision),
                )
                db.execute(
                    "INSERT INTO events (revision, key, deleted, value, create_revision)"
                    " VALUES (?, ?, 0, ?, ?)",
                    (revision, key, op.value, create),
                )
                changed = True
            elif row is not None:
                db.execute("DELETE FROM kv WHERE key = ?", (key,))
                db.execute(
                    "INSERT INTO events (revision, key, deleted, value, create_revision)"
                    " VALUES (?, ?, 1, x'', 0)",
                    (revision, key),
                )
                changed = True
        if not changed:
            return current, False
        db.execute("UPDATE meta SET value = ? WHERE name = 'revision'", (revision,))
        self._compact(db, revision - self._history + 1)
        return revision, True

    def _compact(self, db: sqlite3.Connection, revision: int) -> None:
        if revision <= self._meta("compact_revision"):
            return
        db.execute("DELETE FROM events WHERE revision < ?", (revision,))
        db.execute("UPDATE meta SET value = ? WHERE name = 'compact_revision'", (revision,))

    async def compact(self, revision: int) -> None:
        await self._run(lambda: self._compact_now(revision))

    def _compact_now(self, revision: int) -> None:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            current = self._meta("revision")
            if revision > current:
                raise ValueError(f"cannot compact at {revision}: the store is at {current}")
            self._compact(db, revision)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def watch(
        self, prefix: str, start_revision: int
    ) -> AsyncGenerator[interface.WatchEvent, None]:
        if start_revision < 1:
            raise ValueError(f"start_revision must be at least 1, got {start_revision}")
        # The cursor is the (revision, key) of the last event delivered; UTF-8 keys never
        # contain 0xff, so this one sorts after every key of revision start_revision - 1.
        cursor = (start_revision - 1, b"\xff")
        while not self._closed:
            try:
                batch, head = await self._read(
                    functools.partial(self._events_after, prefix, cursor)
                )
            except interface.StoreError:
                if self._closed:
                    return
                raise
            for event, key in batch:
                cursor = (event.revision, key)
                yield event
            if len(batch) == _WATCH_BATCH:
                continue
            # Wait past everything read so far, including other prefixes' changes: waiting
            # only past this prefix's last event would wake (and query) at once, forever.
            seen = max(cursor[0], head)
            cursor = (seen, b"\xff")
            async with self._changed:
                await self._changed.wait_for(
                    lambda: self._closed or self._revision > seen  # noqa: B023
                )

    def _events_after(
        self, prefix: str, cursor: tuple[int, bytes]
    ) -> tuple[builtins.list[tuple[interface.WatchEvent, bytes]], int]:
        """Events under ``prefix`` after ``cursor``, and the store revision they were read at."""
        db = self._read_db()
        clause, args = _prefix_clause(prefix)
        revision, key = cursor
        db.execute("BEGIN")
        try:
            compact_revision = self._meta("compact_revision", db)
            head = self._meta("revision", db)
            if revision + 1 < compact_revision:
                raise interface.CompactedError(revision + 1, compact_revision)
            rows = db.execute(
                "SELECT revision, key, deleted, value, create_revision FROM events"
                f" WHERE (revision > ? OR (revision = ? AND key > ?)) AND {clause}"
                " ORDER BY revision, key LIMIT ?",
                (revision, revision, key, *args, _WATCH_BATCH),
            ).fetchall()
        finally:
            db.execute("COMMIT")
        batch = []
        for rev, k, deleted, value, create in rows:
            kind = interface.EventType.DELETE if deleted else interface.EventType.PUT
            kv = interface.KeyValue(bytes(k).decode(), bytes(value), create, rev)
            batch.append((interface.WatchEvent(kind, kv, rev), bytes(k)))
        return batch, head

    async def close(self) -> None:
        if self._closed:
            return
        async with self._changed:
            self._closed = True
            self._changed.notify_all()
        loop = asyncio.get_running_loop()
        for executor, conn in ((self._reader, self._read_conn), (self._writer, self._conn)):
            if conn is not None:
                await loop.run_in_executor(executor, conn.close)
            executor.shutdown(wait=True)
