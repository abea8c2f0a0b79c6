"""The last assignment per fleet, kept in the store (SQLite here; the store contract suite runs
the same operations on etcd)."""

from __future__ import annotations

from pathlib import Path

from hub import store as store_factory
from hub.registry.assignments import AssignmentRegistry


async def test_save_load_forget_and_an_unreadable_record_is_skipped(tmp_path: Path) -> None:
    store = await store_factory.open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        registry = AssignmentRegistry(store)
        await registry.save(("games", "arena"), {"us-1": 3, "eu-1": 6})
        await registry.save(("games", "lobby"), {"eu-1": 2})
        await store.put("assignments/games/broken", b"not json")
        assert await registry.load() == {
            ("games", "arena"): {"eu-1": 6, "us-1": 3},
            ("games", "lobby"): {"eu-1": 2},
        }
        await registry.forget(("games", "arena"))
        assert await registry.load() == {("games", "lobby"): {"eu-1": 2}}
    finally:
        await store.close()
