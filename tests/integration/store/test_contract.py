"""The Store contract, run against every backend."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest

from hub import store as hubstore

from .helpers import take

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

PUT = hubstore.EventType.PUT
DELETE = hubstore.EventType.DELETE


@contextlib.asynccontextmanager
async def watching(
    s: hubstore.Store, prefix: str, start_revision: int
) -> AsyncGenerator[AsyncGenerator[hubstore.WatchEvent, None], None]:
    events = s.watch(prefix, start_revision)
    try:
        yield events
    finally:
        await events.aclose()


async def test_put_then_get_returns_value_and_revisions(store: hubstore.Store) -> None:
    first = await store.put("fleets/a", b"v1")
    second = await store.put("fleets/a", b"v2")

    got = await store.get("fleets/a")

    assert second > first
    assert got is not None
    assert (got.key, got.value, got.create_revision, got.mod_revision) == (
        "fleets/a",
        b"v2",
        first,
        second,
    )


async def test_get_missing_key_returns_none(store: hubstore.Store) -> None:
    assert await store.get("nope") is None


async def test_list_returns_prefix_sorted_with_read_revision(store: hubstore.Store) -> None:
    await store.put("fleets/b", b"2")
    await store.put("clusters/x", b"x")
    last = await store.put("fleets/a", b"1")

    items, revision = await store.list("fleets/")
    everything, _ = await store.list("")

    assert [(kv.key, kv.value) for kv in items] == [("fleets/a", b"1"), ("fleets/b", b"2")]
    assert revision >= last
    assert [kv.key for kv in everything] == ["clusters/x", "fleets/a", "fleets/b"]


async def test_list_of_empty_prefix_range_is_empty(store: hubstore.Store) -> None:
    await store.put("a", b"1")

    items, revision = await store.list("b/")

    assert items == []
    assert revision >= 1


async def test_list_pages_by_start_after_and_limit(store: hubstore.Store) -> None:
    for key in ("a/x", "f/a", "f/b", "f/c", "f/d", "g/x"):
        await store.put(key, b"v")

    first, _ = await store.list("f/", limit=2)
    rest, _ = await store.list("f/", start_after=first[-1].key, limit=2)
    last, _ = await store.list("f/", start_after=rest[-1].key, limit=2)
    unlimited, _ = await store.list("f/", start_after="f/a")

    assert [kv.key for kv in first] == ["f/a", "f/b"]
    assert [kv.key for kv in rest] == ["f/c", "f/d"]
    assert last == []
    assert [kv.key for kv in unlimited] == ["f/b", "f/c", "f/d"]


async def test_list_start_after_a_missing_key_or_outside_the_prefix(
    store: hubstore.Store,
) -> None:
    for key in ("f/a", "f/c"):
        await store.put(key, b"v")

    between, _ = await store.list("f/", start_after="f/b")
    before, _ = await store.list("f/", start_after="a")
    beyond, _ = await store.list("f/", start_after="g")

    assert [kv.key for kv in between] == ["f/c"]
    assert [kv.key for kv in before] == ["f/a", "f/c"]
    assert beyond == []


async def test_revisions_increase_across_puts_and_deletes(store: hubstore.Store) -> None:
    revisions = [await store.put(f"k{i}", b"v") for i in range(5)]
    await store.delete("k0")
    after_delete = await store.put("k9", b"v")

    assert revisions == sorted(set(revisions))
    assert after_delete > revisions[-1] + 1


async def test_delete_reports_whether_the_key_existed(store: hubstore.Store) -> None:
    await store.put("k", b"v")

    assert await store.delete("k") is True
    assert await store.delete("k") is False
    assert await store.get("k") is None


async def test_create_if_absent_conflicts_when_present(store: hubstore.Store) -> None:
    revision = await store.put("k", b"first", expected_mod_revision=0)

    with pytest.raises(hubstore.ConflictError) as raised:
        await store.put("k", b"second", expected_mod_revision=0)

    assert (raised.value.key, raised.value.expected, raised.value.actual) == ("k", 0, revision)
    got = await store.get("k")
    assert got is not None
    assert got.value == b"first"


async def test_put_with_stale_revision_conflicts_and_changes_nothing(store: hubstore.Store) -> None:
    old = await store.put("k", b"1")
    new = await store.put("k", b"2", expected_mod_revision=old)

    with pytest.raises(hubstore.ConflictError) as raised:
        await store.put("k", b"3", expected_mod_revision=old)

    assert raised.value.actual == new
    got = await store.get("k")
    assert got is not None
    assert (got.value, got.mod_revision) == (b"2", new)


async def test_put_expecting_a_revision_of_a_missing_key_conflicts(store: hubstore.Store) -> None:
    with pytest.raises(hubstore.ConflictError) as raised:
        await store.put("k", b"1", expected_mod_revision=5)

    assert raised.value.actual == 0


async def test_delete_with_stale_revision_conflicts(store: hubstore.Store) -> None:
    old = await store.put("k", b"1")
    new = await store.put("k", b"2")

    with pytest.raises(hubstore.ConflictError):
        await store.delete("k", expected_mod_revision=old)
    assert await store.delete("k", expected_mod_revision=new) is True


async def test_commit_applies_all_ops_at_one_revision(store: hubstore.Store) -> None:
    await store.put("gone", b"x")

    revision = await store.commit(
        [hubstore.Put("a", b"1", 0), hubstore.Put("b", b"2"), hubstore.Delete("gone")]
    )

    items, _ = await store.list("")
    assert [(kv.key, kv.mod_revision) for kv in items] == [("a", revision), ("b", revision)]


async def test_commit_with_one_conflict_applies_nothing(store: hubstore.Store) -> None:
    existing = await store.put("b", b"old")

    with pytest.raises(hubstore.ConflictError) as raised:
        await store.commit(
            [hubstore.Put("a", b"1"), hubstore.Put("b", b"new", expected_mod_revision=0)]
        )

    assert (raised.value.key, raised.value.actual) == ("b", existing)
    assert await store.get("a") is None


async def test_commit_rejects_duplicate_keys(store: hubstore.Store) -> None:
    with pytest.raises(ValueError, match="same key"):
        await store.commit([hubstore.Put("a", b"1"), hubstore.Delete("a")])


async def test_watch_replays_history_then_follows(store: hubstore.Store) -> None:
    first = await store.put("f/a", b"1")
    await store.put("f/b", b"2")
    deleted = await store.put("f/a", b"3")
    await store.delete("f/a")

    async with watching(store, "f/", first) as events:
        replayed = await take(events, 4)
        live = await store.put("f/c", b"4")
        followed = await take(events, 1)

    assert [(e.type, e.kv.key, e.kv.value) for e in replayed] == [
        (PUT, "f/a", b"1"),
        (PUT, "f/b", b"2"),
        (PUT, "f/a", b"3"),
        (DELETE, "f/a", b""),
    ]
    assert [e.revision for e in replayed] == sorted(e.revision for e in replayed)
    assert replayed[2].kv.create_revision == first
    assert replayed[2].revision == deleted
    assert [(e.type, e.kv.key, e.revision) for e in followed] == [(PUT, "f/c", live)]


async def test_watch_from_listed_revision_sees_only_later_changes(store: hubstore.Store) -> None:
    await store.put("f/a", b"1")
    _, revision = await store.list("f/")

    async with watching(store, "f/", revision + 1) as events:
        changed = await store.put("f/a", b"2")
        (event,) = await take(events, 1)

    assert (event.kv.value, event.revision, event.kv.mod_revision) == (b"2", changed, changed)


async def test_watch_ignores_other_prefixes(store: hubstore.Store) -> None:
    start = await store.put("other/x", b"x")
    await store.put("f/a", b"1")

    async with watching(store, "f/", start) as events:
        await store.put("other/y", b"y")
        await store.put("f/b", b"2")
        seen = await take(events, 2)

    assert [e.kv.key for e in seen] == ["f/a", "f/b"]


async def test_watch_sees_commit_events_at_one_revision(store: hubstore.Store) -> None:
    start = await store.put("f/a", b"1")

    async with watching(store, "f/", start + 1) as events:
        revision = await store.commit([hubstore.Put("f/b", b"2"), hubstore.Delete("f/a")])
        seen = await take(events, 2)

    assert sorted((e.kv.key, e.type.value) for e in seen) == [("f/a", "DELETE"), ("f/b", "PUT")]
    assert {e.revision for e in seen} == {revision}


async def test_watch_before_compaction_raises_then_relist_works(store: hubstore.Store) -> None:
    first = await store.put("f/a", b"1")
    await store.put("f/a", b"2")
    last = await store.put("f/b", b"3")
    await store.compact(last)

    with pytest.raises(hubstore.CompactedError) as raised:
        await take(store.watch("f/", first), 1)

    assert raised.value.compact_revision >= first + 1
    items, revision = await store.list("f/")
    assert [(kv.key, kv.value) for kv in items] == [("f/a", b"2"), ("f/b", b"3")]
    async with watching(store, "f/", revision + 1) as events:
        changed = await store.put("f/c", b"4")
        (event,) = await take(events, 1)
    assert event.revision == changed


async def test_compacting_the_future_is_refused(store: hubstore.Store) -> None:
    revision = await store.put("k", b"v")

    with pytest.raises(ValueError, match="compact"):
        await store.compact(revision + 1000)


async def test_keys_and_values_keep_any_unicode_and_bytes(store: hubstore.Store) -> None:
    value = bytes(range(256))
    await store.put("ns/flotte-é/🎮", value)

    got = await store.get("ns/flotte-é/🎮")
    items, _ = await store.list("ns/flotte-é/")

    assert got is not None
    assert got.value == value
    assert [kv.key for kv in items] == ["ns/flotte-é/🎮"]
