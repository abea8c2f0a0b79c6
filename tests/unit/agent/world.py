"""A set's objects in memory, for the reconcile plan's state-in/state-out tests.

`World` holds a GameServerSet, its pods and GameServers (plain bodies, as the API server would
return them); `plan()` asks `agent.core.reconcile` what to write; `apply(writes)` does to the
objects what the API server would (JSON merge patches, the strategic merges the agent uses,
creations, deletions); `kubelet()` runs pending pods. Tests read like operator's scenarios:
frozen objects in, the ordered writes out.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from typing import Any

from agent.core import bodies, reconcile, servers, views, writes
from okg import vocabulary

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
NOW_TEXT = "2026-01-01T00:00:00Z"
Json = dict[str, Any]

_counter = itertools.count(100)


def _rv() -> str:
    return str(next(_counter))


def game_server_set(replicas: int, name: str = "gs", **spec: Any) -> Json:
    template = spec.pop("gameServerTemplate", None) or {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "game:1"}]},
    }
    return {
        "apiVersion": vocabulary.API_VERSION,
        "kind": "GameServerSet",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"{name}-uid",
            "generation": 1,
            "resourceVersion": _rv(),
        },
        "spec": {"replicas": replicas, "gameServerTemplate": template, **spec},
    }


def merge(target: Json, patch: Json) -> None:
    """RFC 7386 JSON merge patch."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def strategic(target: Json, patch: Json) -> None:
    """The strategic merges the agent sends pods: containers by name, conditions by type,
    finalizers added (or removed by `$deleteFromPrimitiveList`)."""
    for key, value in patch.items():
        if key == "$deleteFromPrimitiveList/finalizers":
            target["finalizers"] = [f for f in target.get("finalizers") or [] if f not in value]
        elif key == "finalizers":
            have = target.setdefault("finalizers", [])
            have += [f for f in value if f not in have]
        elif key in ("containers", "conditions"):
            field = "name" if key == "containers" else "type"
            have = target.setdefault(key, [])
            for item in value:
                found = next((h for h in have if h.get(field) == item.get(field)), None)
                if found is None:
                    have.append(copy.deepcopy(item))
                else:
                    merge(found, item)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            strategic(target[key], value)
        elif value is None:
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(value)


@dataclasses.dataclass
class World:
    """One set and what it owns."""

    gss: Json
    pods: dict[str, Json] = dataclasses.field(default_factory=dict)
    game_servers: dict[str, Json] = dataclasses.field(default_factory=dict)
    now: float = NOW
    network: dict[int, servers.NetworkOutcome] | None = None
    nodes: dict[str, Json] | None = None
    events: list[writes.Event] = dataclasses.field(default_factory=list)

    @classmethod
    def settled(cls, replicas: int, **spec: Any) -> World:
        """A set whose servers run and whose writes are all done."""
        world = cls(game_server_set(replicas, **spec))
        world.settle()
        return world

    # Observing and planning.

    def observed(self) -> reconcile.Observed:
        gss = bodies.as_game_server_set(self.gss)
        pods, game_servers = views.servers_of(
            gss,
            [bodies.as_pod(p) for p in self.pods.values()],
            [bodies.as_game_server(g) for g in self.game_servers.values()],
        )
        nodes = None
        if self.nodes is not None:
            nodes = {k: bodies.as_node(v) for k, v in self.nodes.items()}
        return reconcile.Observed(
            gss, pods, game_servers, self.now, servers.Surroundings(nodes=nodes)
        )

    def plan(self) -> reconcile.Plan:
        return reconcile.plan(self.observed())

    def next_writes(self) -> list[writes.Write]:
        return self.plan().writes(self.network)

    # Applying.

    def apply(self, found: list[writes.Write]) -> None:
        for write in found:
            if isinstance(write, writes.Patch):
                self._patch(write)
            elif isinstance(write, writes.Delete):
                self._objects(write.kind).pop(write.name, None)
            elif isinstance(write, writes.CreateGameServer):
                self._create(writes.Kind.GAME_SERVER, dict(write.body))
            elif isinstance(write, writes.CreateServer):
                self._create_server(write)
            else:
                self.events.append(write)

    def _objects(self, kind: writes.Kind) -> dict[str, Json]:
        if kind is writes.Kind.POD:
            return self.pods
        if kind is writes.Kind.GAME_SERVER:
            return self.game_servers
        return {}  # claims are not kept

    def _patch(self, patch: writes.Patch) -> None:
        if patch.kind is writes.Kind.GAME_SERVER_SET:
            target: Json | None = self.gss
        else:
            target = self._objects(patch.kind).get(patch.name)
        if target is None:
            return
        body = copy.deepcopy(patch.body)
        body.get("metadata", {}).pop("resourceVersion", None)
        (strategic if patch.strategic else merge)(target, body)
        target["metadata"]["resourceVersion"] = _rv()
        if patch.kind is writes.Kind.GAME_SERVER_SET and "spec" in body:
            target["metadata"]["generation"] += 1
        self.events += patch.events

    def _create(self, kind: writes.Kind, body: Json) -> Json:
        obj = copy.deepcopy(body)
        obj["metadata"]["uid"] = f"{obj['metadata']['name']}-{_rv()}"
        obj["metadata"]["resourceVersion"] = _rv()
        self._objects(kind)[obj["metadata"]["name"]] = obj
        return obj

    def _create_server(self, create: writes.CreateServer) -> None:
        if create.replaces is not None:
            self.game_servers.pop(create.replaces[0], None)
        pod = self._create(writes.Kind.POD, dict(create.pod))
        pod["status"] = {"phase": "Pending"}
        if create.game_server is not None:
            gs: Json = copy.deepcopy(bodies.json_of(create.game_server))
            if create.owned_by_pod:
                gs["metadata"]["ownerReferences"] = [bodies.owner_reference(pod, "Pod", "v1")]
            self._create(writes.Kind.GAME_SERVER, gs)

    # The kubelet and the game.

    def kubelet(self) -> None:
        """Every pending pod runs, Ready, on the images its spec names."""
        for pod in self.pods.values():
            if (pod.get("status") or {}).get("phase") != "Pending":
                continue
            pod["status"] = running_status(pod)
            pod["metadata"]["resourceVersion"] = _rv()

    def settle(self, rounds: int = 6) -> int:
        """Plan and apply until nothing is left to write; the rounds it took."""
        for done in range(rounds):
            found = self.next_writes()
            if not found:
                return done
            self.apply(found)
            self.kubelet()
        raise AssertionError(f"no settled state after {rounds} rounds: {self.next_writes()}")

    def pod(self, ordinal: int) -> Json:
        return self.pods[f"{bodies.name(self.gss)}-{ordinal}"]

    def gs(self, ordinal: int) -> Json:
        return self.game_servers[f"{bodies.name(self.gss)}-{ordinal}"]

    def set_gs(self, ordinal: int, **spec: Any) -> None:
        """What a user or the hub does: patch a GameServer's spec."""
        gs = self.gs(ordinal)
        merge(gs, {"spec": spec})
        gs["metadata"]["resourceVersion"] = _rv()

    def set_spec(self, **spec: Any) -> None:
        merge(self.gss, {"spec": spec})
        self.gss["metadata"]["generation"] += 1
        self.gss["metadata"]["resourceVersion"] = _rv()


def running_status(pod: Json) -> Json:
    images = [(c["name"], c["image"]) for c in pod["spec"].get("containers") or []]
    return {
        "phase": "Running",
        "podIP": "10.0.0.1",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True", "lastTransitionTime": "2025-12-31T23:00:00Z"},
        ],
        "containerStatuses": [
            {"name": n, "image": i, "imageID": f"{i}@sha", "ready": True, "restartCount": 0,
             "state": {"running": {}}}
            for n, i in images
        ],
    }  # fmt: skip


def kinds(found: list[writes.Write]) -> list[str]:
    """A short name per write: `patch Pod gs-0`, `delete Pod gs-1`, `create gs-2`, ..."""
    names: list[str] = []
    for write in found:
        if isinstance(write, writes.Patch):
            sub = "/status" if write.status else ""
            names.append(f"patch{sub} {write.kind.value} {write.name}")
        elif isinstance(write, writes.Delete):
            names.append(f"delete {write.kind.value} {write.name}")
        elif isinstance(write, writes.CreateServer):
            names.append(f"create {bodies.name(write.pod)}")
        elif isinstance(write, writes.CreateGameServer):
            names.append(f"create GameServer {bodies.name(write.body)}")
        else:
            names.append(f"event {write.reason} {write.about}")
    return names
