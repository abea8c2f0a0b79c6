"""``Store`` on etcd v3: keys live under ``<prefix>kv/``, CAS is a transaction on mod_revision."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from . import _etcd_rpc, interface

if TYPE_CHECKING:
    import builtins
    from collections.abc import AsyncGenerator, Sequence

_PAGE: Final = 1000


class EtcdStore:
    def __init__(self, rpc: _etcd_rpc.EtcdRpc, prefix: str = "/gamefleet/") -> None:
        if not prefix.endswith("/"):
            prefix += "/"
        self.prefix = prefix
        self._rpc = rpc
        self._data = f"{prefix}kv/".encode()

    def _key(self, key: str) -> bytes:
        return self._data + key.encode()

    def _kv(self, raw: _etcd_rpc.RawKV) -> interface.KeyValue:
        key = raw.key[len(self._data) :].decode()
        return interface.KeyValue(key, raw.value, raw.create_revision, raw.mod_revision)

    async def get(self, key: str) -> interface.KeyValue | None:
        result = await self._rpc.range(self._key(key))
        return self._kv(result.kvs[0]) if result.kvs else None

    async def list(
        self, prefix: str, *, start_after: str = "", limit: int = 0
    ) -> tuple[builtins.list[interface.KeyValue], int]:
        start = self._key(prefix)
        end = _etcd_rpc.range_end(start)
        if start_after:
            start = max(start, self._key(start_after) + b"\0")

        def batch(count: int) -> int:
            return min(_PAGE, limit - count) if limit > 0 else _PAGE

        # Every page reads at the first page's revision, so the listing is one snapshot.
        page = await self._rpc.range(start, end, limit=batch(0))
        revision = page.revision
        items = [self._kv(kv) for kv in page.kvs]
        while page.more and page.kvs and batch(len(items)) > 0:
            after = page.kvs[-1].key + b"\0"
            page = await self._rpc.range(after, end, revision=revision, limit=batch(len(items)))
            items.extend(self._kv(kv) for kv in page.kvs)
        return items, revision

    async def put(self, key: str, value: bytes, *, expected_mod_revision: int | None = None) -> int:
        return await self.commit([interface.Put(key, value, expected_mod_revision)])

    async def delete(self, key: str, *, expected_mod_revision: int | None = None) -> bool:
        result = await self._commit([interface.Delete(key, expected_mod_revision)])
        return result.results[0] != 0

    async def commit(self, ops: Sequence[interface.Op]) -> int:
        return (await self._commit(ops)).revision

    async def _commit(self, ops: Sequence[interface.Op]) -> _etcd_rpc.TxnResult:
        keys = [op.key for op in ops]
        if len(set(keys)) != len(keys):
            raise ValueError("a commit must not touch the same key twice")
        compares = []
        success: list[_etcd_rpc.TxnOp] = []
        for op in ops:
            key = self._key(op.key)
            if op.expected_mod_revision is not None:
                compares.append(_etcd_rpc.Compare(key, "mod", op.expected_mod_revision))
            if isinstance(op, interface.Put):
                success.append(_etcd_rpc.TxnPut(key, op.value))
            else:
                success.append(_etcd_rpc.TxnDelete(key))
        failure = [_etcd_rpc.TxnGet(c.key) for c in compares]
        result = await self._rpc.txn(compares, success, failure)
        if result.succeeded:
            return result
        for compare, current in zip(compares, result.results, strict=True):
            actual = current.mod_revision if isinstance(current, _etcd_rpc.RawKV) else 0
            if actual != compare.value:
                name = compare.key[len(self._data) :].decode()
                raise interface.ConflictError(name, compare.value, actual)
        raise AssertionError("etcd rejected a transaction whose comparisons all hold")

    async def watch(
        self, prefix: str, start_revision: int
    ) -> AsyncGenerator[interface.WatchEvent, None]:
        if start_revision < 1:
            raise ValueError(f"start_revision must be at least 1, got {start_revision}")
        start = self._key(prefix)
        async for raw in self._rpc.watch(start, _etcd_rpc.range_end(start), start_revision):
            kind = interface.EventType.DELETE if raw.deleted else interface.EventType.PUT
            yield interface.WatchEvent(kind, self._kv(raw.kv), raw.kv.mod_revision)

    async def check(self) -> None:
        """A linearizable read: etcd answers it only with a quorum, as it would a write."""
        await self._rpc.range(self.prefix.encode() + b"check", limit=1)

    async def compact(self, revision: int) -> None:
        await self._rpc.compact(revision)

    async def close(self) -> None:
        await self._rpc.close()
