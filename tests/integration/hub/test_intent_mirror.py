"""The hub's mirror of its durable intent on a real store: changes arrive through the watch,
and a watch that ends (history compacted) lists again and hands over what changed meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from typing import TYPE_CHECKING

from gamefleet.v1 import cluster_pb2, fleet_pb2

from hub.core.desired_sets import SetKey
from hub.federation.intent import IntentMirror
from hub.registry.clusters import ClusterRegistry
from hub.registry.fleets import FleetRegistry
from hub.store import sqlite

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

WAIT_S = 30.0


class Changes:
    """What the mirror handed over, in order: (kind, name, present before, present after)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bool, bool]] = []
        self.changed = asyncio.Event()

    def fleet_changed(
        self, key: SetKey, before: fleet_pb2.Fleet | None, after: fleet_pb2.Fleet | None
    ) -> None:
        self._note("fleet", "/".join(key), before is not None, after is not None)

    def cluster_changed(
        self, name: str, before: cluster_pb2.Cluster | None, after: cluster_pb2.Cluster | None
    ) -> None:
        self._note("cluster", name, before is not None, after is not None)

    def _note(self, kind: str, name: str, before: bool, after: bool) -> None:
        self.seen.append((kind, name, before, after))
        self.changed.set()

    async def until(self, *wanted: tuple[str, str, bool, bool]) -> None:
        async with asyncio.timeout(WAIT_S):
            while not set(wanted) <= set(self.seen):
                self.changed.clear()
                await self.changed.wait()


def _cluster(name: str) -> cluster_pb2.Cluster:
    record = cluster_pb2.Cluster()
    record.metadata.name = name
    return record


def _fleet(name: str) -> fleet_pb2.Fleet:
    fleet = fleet_pb2.Fleet()
    fleet.metadata.namespace = "games"
    fleet.metadata.name = name
    fleet.spec.replicas = 1
    container = {"name": "game", "image": "arena:1"}
    fleet.spec.template.game_server_template.update({"spec": {"containers": [container]}})
    return fleet


@contextlib.asynccontextmanager
async def _following(mirror: IntentMirror) -> AsyncIterator[None]:
    tasks = [
        asyncio.create_task(mirror.follow_fleets()),
        asyncio.create_task(mirror.follow_clusters()),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_changes_reach_the_listener_through_the_watch(tmp_path: pathlib.Path) -> None:
    store = await sqlite.SqliteStore.open(str(tmp_path / "hub.db"))
    try:
        fleets, clusters, changes = FleetRegistry(store), ClusterRegistry(store), Changes()
        mirror = IntentMirror(fleets, clusters, changes)
        await mirror.load()
        async with _following(mirror):
            await clusters.register(_cluster("eu-1"))
            await fleets.apply(_fleet("arena"))
            await changes.until(
                ("cluster", "eu-1", False, True), ("fleet", "games/arena", False, True)
            )
            await clusters.remove("eu-1")
            await fleets.remove("games", "arena")
            await changes.until(
                ("cluster", "eu-1", True, False), ("fleet", "games/arena", True, False)
            )
        assert mirror.clusters == {} and mirror.fleets == {}
    finally:
        await store.close()


async def test_a_compacted_watch_lists_again_and_hands_over_what_changed_meanwhile(
    tmp_path: pathlib.Path,
) -> None:
    store = await sqlite.SqliteStore.open(str(tmp_path / "hub.db"))
    try:
        fleets, clusters, changes = FleetRegistry(store), ClusterRegistry(store), Changes()
        await clusters.register(_cluster("eu-1"))
        await clusters.register(_cluster("us-1"))
        await fleets.apply(_fleet("arena"))
        await fleets.apply(_fleet("duel"))
        mirror = IntentMirror(fleets, clusters, changes)
        await mirror.load()
        # While nothing follows: one of each removed, one of each added; then the history of
        # those changes is compacted away, so the watches from the loaded revision fail.
        await clusters.remove("us-1")
        await clusters.register(_cluster("ap-1"))
        await fleets.remove("games", "duel")
        await fleets.apply(_fleet("royale"))
        _, revision = await clusters.list_at()
        await store.compact(revision)
        async with _following(mirror):
            await changes.until(
                ("cluster", "us-1", True, False),
                ("cluster", "ap-1", False, True),
                ("fleet", "games/duel", True, False),
                ("fleet", "games/royale", False, True),
            )
        assert set(mirror.clusters) == {"eu-1", "ap-1"}
        assert set(mirror.fleets) == {("games", "arena"), ("games", "royale")}
        unchanged = [c for c in changes.seen if c[1] in ("eu-1", "games/arena")]
        assert unchanged == [], "what did not change is not handed over again"
    finally:
        await store.close()
