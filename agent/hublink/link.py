"""The agent's side of AgentService.Connect.

Down: desired GameServerSets, applied with server-side apply only when their hash differs from
what the cluster holds; sets the hub stops wanting are scaled to 0 and deleted once empty, so an
allocated server is never taken down by the hub's change of mind. Up: heartbeats, and status
deltas — only what differs from the hashes the hub holds, batched.
Reconnects with exponential backoff and full jitter; the cluster keeps working meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
from gamefleet import capacity_wire, protocol, telemetry
from gamefleet.v1 import agent_pb2, agent_pb2_grpc, cluster_pb2, gameserver_pb2

from agent import metrics
from agent.controllers.allocations import AllocationLedger, LedgerError
from agent.core import bodies, ledger, revision, views, wire
from agent.kube import cache as kcache
from agent.kube import client as kclient
from agent.kube import resources

from . import translate

log = logging.getLogger(__name__)

NAMESPACE = resources.Resource("v1", "namespaces", "Namespace", namespaced=False)
AGENT_VERSION = "0.1.0"
# Allocation writes in flight at once per hub link.
MAX_CONCURRENT_ALLOCATIONS = 32
# A guarded opsState write is tried again after a conflict (a status write in between, often)
# at most this many times in all.
GUARDED_WRITE_ATTEMPTS = 5


@dataclasses.dataclass(frozen=True)
class LinkConfig:
    hub: str
    cluster: str
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    heartbeat_interval: float = 2.0
    network_plugins: tuple[str, ...] = ()
    # The namespaces this agent reconciles (its caches watch only these); empty: every one.
    namespaces: tuple[str, ...] = ()
    # A status change waits this long for others to share its message.
    batch_window: float = 0.03
    batch_max: int = 500
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    # "direct": an allocation is answered once its GameServer is written (one guarded write
    # per allocation); "ledger": once its set's allocation ledger holds it (one write per
    # batch), its GameServer following. Direct is the default: on the local clusters the ledger
    # answered no faster (the API server is bound by the ~3 writes every allocation brings
    # either way) and its GameServers lag by seconds (docs/allocation.md).
    allocation_path: str = "direct"


ALLOCATION_PATHS = ("ledger", "direct")


class HubLink:
    """Keeps one cluster's hub-managed sets as the hub wants them, and the hub informed."""

    def __init__(
        self,
        config: LinkConfig,
        kube: kclient.KubeClient,
        sets: kcache.WatchCache,
        game_servers: kcache.WatchCache,
        pods: kcache.WatchCache,
        nodes: kcache.WatchCache | None = None,
        allocations: AllocationLedger | None = None,
    ) -> None:
        """``allocations``: the cluster's allocation ledger (releases, and allocations on the
        ledger path; without it every allocation is written directly)."""
        self.config = config
        self._allocations = allocations
        self._kube = kube
        self._sets = sets
        self._game_servers = game_servers
        self._pods = pods
        self._nodes = nodes
        self._dirty: dict[str, None] = {}
        self._wake = asyncio.Event()
        self._sent: dict[str, str] = {}
        # Set key → why the agent did not write a desired set the hub sent (reported upward).
        self._refused: dict[str, str] = {}
        # Per set, its resourceVersion and the template revision it asks for (servers whose pod
        # runs it are reported updated).
        self._revisions: dict[tuple[str, str], tuple[str, str]] = {}
        self._connected = False
        self.connected_event = asyncio.Event()
        sets.add_handler(self._on_set)
        game_servers.add_handler(self._on_game_server)
        pods.add_handler(self._on_pod)

    # -- cache events ------------------------------------------------------------------------

    def _on_set(self, _: kcache.EventType, obj: kclient.Obj) -> None:
        if translate.managed(obj):
            self._mark(protocol.set_key(*kcache.key_of(obj)))
            namespace, name = kcache.key_of(obj)
            before = self._revisions.get((namespace, name), ("", ""))[1]
            if self._revision_of(namespace, name) != before:
                # Every server's `updated` may have turned: report them again.
                for pod in self._pods.by_index(f"{namespace}/{name}"):
                    self._mark(protocol.game_server_key(namespace, bodies.name(pod)))
            if translate.retiring(obj):
                asyncio.get_running_loop().create_task(self._finish_retiring(obj))

    def _on_game_server(self, _: kcache.EventType, obj: kclient.Obj) -> None:
        self._mark(protocol.game_server_key(*kcache.key_of(obj)))

    def _on_pod(self, _: kcache.EventType, obj: kclient.Obj) -> None:
        # An in-place update relabels the pod with its new revision.
        if self._game_servers.get(kcache.key_of(obj)) is not None:
            self._mark(protocol.game_server_key(*kcache.key_of(obj)))

    def _revision_of(self, namespace: str, gss: str) -> str:
        """The template revision set ``gss`` asks for ("" when it is not in the cache)."""
        obj = self._sets.get((namespace, gss))
        if obj is None:
            self._revisions.pop((namespace, gss), None)
            return ""
        version = bodies.resource_version(obj)
        known = self._revisions.get((namespace, gss))
        if known is not None and known[0] == version:
            return known[1]
        name = revision.template_revision(views.pod_template(obj)).name
        self._revisions[(namespace, gss)] = (version, name)
        return name

    def _updated(self, namespace: str, name: str, gss: str) -> bool:
        """True when the server's pod runs the template revision its set asks for."""
        pod = self._pods.get((namespace, name))
        wanted = self._revision_of(namespace, gss) if gss else ""
        return bool(wanted) and bodies.labels_of(pod).get(wire.REVISION) == wanted

    def _mark(self, key: str) -> None:
        if self._connected:
            self._dirty[key] = None
            self._wake.set()

    # -- the connection ----------------------------------------------------------------------

    def _channel(self) -> grpc.aio.Channel:
        config = self.config
        if config.ca_file is None:
            return grpc.aio.insecure_channel(config.hub)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=config.ca_file.read_bytes(),
            private_key=config.key_file.read_bytes() if config.key_file else None,
            certificate_chain=config.cert_file.read_bytes() if config.cert_file else None,
        )
        return grpc.aio.secure_channel(config.hub, credentials)

    async def run(self) -> None:
        """Stay connected until cancelled, backing off (with jitter) after each failure."""
        delay = self.config.backoff_initial
        while True:
            started = time.monotonic()
            try:
                async with self._channel() as channel:
                    stub: agent_pb2_grpc.AgentServiceAsyncStub = agent_pb2_grpc.AgentServiceStub(
                        channel
                    )
                    await self._session(stub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("hub link to %s ended: %s", self.config.hub, _describe(exc))
            finally:
                self._connected = False
                self.connected_event.clear()
            if time.monotonic() - started > self.config.backoff_max:
                delay = self.config.backoff_initial
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, self.config.backoff_max)

    async def _session(self, stub: agent_pb2_grpc.AgentServiceAsyncStub) -> None:
        outbox: asyncio.Queue[agent_pb2.AgentMessage] = asyncio.Queue()
        outbox.put_nowait(agent_pb2.AgentMessage(hello=self._hello()))

        async def messages() -> AsyncIterator[agent_pb2.AgentMessage]:
            while True:
                yield await outbox.get()

        call = stub.Connect(messages())
        tasks = [asyncio.create_task(self._heartbeats(outbox))]
        # Allocations run side by side (each write is guarded by the server's resourceVersion);
        # other operations run one at a time, in the order the hub sent them.
        allocations: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(MAX_CONCURRENT_ALLOCATIONS)

        async def allocate(operation: agent_pb2.TargetedOperation) -> None:
            async with slots:
                result = await self._operate(operation)
            outbox.put_nowait(agent_pb2.AgentMessage(operation_result=result))

        try:
            async for message in call:
                kind = message.WhichOneof("body")
                if kind == "status_hashes":
                    self._start_reporting(message.status_hashes)
                    tasks.append(asyncio.create_task(self._report(outbox)))
                elif kind == "desired":
                    await self._apply(message.desired)
                elif kind == "operation" and message.operation.require_ready_unallocated:
                    task = asyncio.create_task(allocate(message.operation))
                    allocations.add(task)
                    task.add_done_callback(allocations.discard)
                elif kind == "operation":
                    outbox.put_nowait(
                        agent_pb2.AgentMessage(
                            operation_result=await self._operate(message.operation)
                        )
                    )
        finally:
            tasks += allocations
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            call.cancel()

    def _hello(self) -> agent_pb2.AgentHello:
        held = [s for s in map(translate.held_set, self._sets.all()) if s is not None]
        return agent_pb2.AgentHello(
            cluster=self.config.cluster,
            labels=self.config.labels,
            agent_version=AGENT_VERSION,
            network_plugins=list(self.config.network_plugins),
            held_sets=held,
            capacity=self._capacity(),
            namespaces=list(self.config.namespaces),
            reads_spec_json=True,
        )

    def _capacity(self) -> cluster_pb2.ClusterCapacity:
        if self._nodes is None:
            return cluster_pb2.ClusterCapacity()
        return translate.capacity(list(self._nodes.all()))

    async def _heartbeats(self, outbox: asyncio.Queue[agent_pb2.AgentMessage]) -> None:
        while True:
            beat = agent_pb2.Heartbeat(capacity=self._capacity())
            beat.time.GetCurrentTime()
            outbox.put_nowait(agent_pb2.AgentMessage(heartbeat=beat))
            await asyncio.sleep(self.config.heartbeat_interval)

    # -- status up ---------------------------------------------------------------------------

    def _start_reporting(self, hashes: agent_pb2.StatusHashes) -> None:
        """Resync: every status the hub lacks or holds differently, and deletions it missed."""
        self._sent = dict(hashes.hashes)
        self._connected = True
        self.connected_event.set()
        self._dirty = dict.fromkeys(self._sent)
        for obj in self._sets.all():
            if translate.managed(obj):
                self._dirty[protocol.set_key(*kcache.key_of(obj))] = None
        for obj in self._game_servers.all():
            self._dirty[protocol.game_server_key(*kcache.key_of(obj))] = None
        self._dirty.update(dict.fromkeys(self._refused))
        self._wake.set()

    async def _report(self, outbox: asyncio.Queue[agent_pb2.AgentMessage]) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.config.batch_window)
            self._wake.clear()
            delta = agent_pb2.StatusDelta()
            keys = list(self._dirty)[: self.config.batch_max]
            for key in keys:
                del self._dirty[key]
                self._describe_into(key, delta)
            if self._dirty:
                self._wake.set()
            if delta.sets or delta.game_servers:
                outbox.put_nowait(agent_pb2.AgentMessage(status=delta))

    def _describe_into(self, key: str, delta: agent_pb2.StatusDelta) -> None:
        kind, namespace, name = key.split("/", 2)
        if kind == "gss":
            obj = self._sets.get((namespace, name))
            if key in self._refused:
                set_status = agent_pb2.GameServerSetStatus(
                    namespace=namespace, name=name, refused=self._refused[key]
                )
            elif obj is None or not translate.managed(obj):
                set_status = agent_pb2.GameServerSetStatus(
                    namespace=namespace, name=name, deleted=True
                )
            else:
                set_status = translate.set_status(obj)
            if self._changed(key, set_status):
                delta.sets.append(set_status)
            return
        obj = self._game_servers.get((namespace, name))
        server = (
            gameserver_pb2.GameServer(namespace=namespace, name=name, deleted=True)
            if obj is None
            else translate.game_server(obj, node=self._node_of(namespace, name))
        )
        if obj is not None:
            server.updated = self._updated(namespace, name, server.fleet)
        held = self._allocations.entry(namespace, name) if self._allocations else None
        if held is not None and obj is not None:
            # Reported as the ledger makes it: the hub never sees an answered server free.
            server.ops_state = "Allocated"
            server.allocation_request_id = held.request_id
            server.labels.update(held.labels)
        if self._changed(key, server):
            delta.game_servers.append(server)

    def _changed(
        self, key: str, status: agent_pb2.GameServerSetStatus | gameserver_pb2.GameServer
    ) -> bool:
        digest = protocol.status_hash(status)
        deleted = status.deleted
        if deleted and key not in self._sent:
            return False
        if self._sent.get(key) == digest:
            return False
        if deleted:
            self._sent.pop(key, None)
        else:
            self._sent[key] = digest
        return True

    def _node_of(self, namespace: str, name: str) -> str:
        pod = self._pods.get((namespace, name))
        return str(((pod or {}).get("spec") or {}).get("nodeName", ""))

    # -- desired sets down -------------------------------------------------------------------

    def _serves(self, namespace: str) -> bool:
        return not self.config.namespaces or namespace in self.config.namespaces

    async def _apply(self, desired: agent_pb2.DesiredSets) -> None:
        for wanted in desired.sets:
            attributes = {"set.namespace": wanted.namespace, "set.name": wanted.name}
            with telemetry.span("agent.apply_set", attributes, wanted.trace_parent):
                await self._apply_set(wanted)

    async def _apply_set(self, wanted: agent_pb2.DesiredSet) -> None:
        key = (wanted.namespace, wanted.name)
        if self._refuse(wanted):
            return
        current = self._sets.get(key)
        try:
            if wanted.deleted:
                await self._retire(current)
                return
            if current is not None and not translate.managed(current):
                log.warning("%s/%s exists and was not created by the hub; left alone", *key)
                return
            changed = translate.drifted(current) if current is not None else []
            if (
                current is not None
                and translate.applied_hash(current) == wanted.hash
                and not translate.retiring(current)
                and not changed
            ):
                return
            if changed:
                # Forced apply takes the fields back from whoever changed them.
                log.warning("%s/%s changed in the cluster (%s): the hub's spec applied again",
                            *key, "; ".join(changed))  # fmt: skip
            await self._ensure_namespace(wanted.namespace)
            log.info("applying %s/%s (fleet generation %d)", *key, wanted.version)
            await self._kube.apply(
                resources.GAME_SERVER_SET,
                wanted.namespace,
                translate.set_object(wanted, current),
            )
        except kclient.ApiError as exc:
            log.error("applying %s/%s failed: %s", *key, exc)

    def _refuse(self, wanted: agent_pb2.DesiredSet) -> bool:
        """Refuse (and report) a set in a namespace this agent does not reconcile: written
        there, it would never get servers, and the agent could not see it to remove it."""
        key = protocol.set_key(wanted.namespace, wanted.name)
        if self._serves(wanted.namespace):
            return False
        if wanted.deleted:
            self._refused.pop(key, None)
        else:
            served = ", ".join(self.config.namespaces)
            self._refused[key] = (
                f"this agent serves only namespace {served}, not {wanted.namespace}"
            )
            log.warning("%s/%s refused: %s", wanted.namespace, wanted.name, self._refused[key])
        self._mark(key)
        return True

    async def _retire(self, current: kclient.Obj | None) -> None:
        if current is None or not translate.managed(current) or translate.retiring(current):
            return
        namespace, name = kcache.key_of(current)
        await self._kube.apply(
            resources.GAME_SERVER_SET, namespace, translate.retire_object(namespace, name)
        )

    async def _finish_retiring(self, obj: kclient.Obj) -> None:
        """Delete a retired set once it has no servers left (allocated ones leave on their own)."""
        namespace, name = kcache.key_of(obj)
        if self._pods.by_index(f"{namespace}/{name}"):
            return
        status = obj.get("status") or {}
        if int(status.get("currentReplicas") or 0):
            return
        uid = bodies.uid(obj)
        with contextlib.suppress(kclient.ApiError):
            await self._kube.delete(resources.GAME_SERVER_SET, namespace, name, uid=uid)

    async def _ensure_namespace(self, namespace: str) -> None:
        try:
            await self._kube.get(NAMESPACE, None, namespace)
        except kclient.ApiError as exc:
            if not exc.not_found:
                raise
            with contextlib.suppress(kclient.ApiError):
                await self._kube.create(
                    NAMESPACE, None, {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": namespace}}
                )  # fmt: skip

    # -- targeted operations -----------------------------------------------------------------

    async def _operate(self, operation: agent_pb2.TargetedOperation) -> agent_pb2.OperationResult:
        attributes = {"operation.id": operation.id, "namespace": operation.namespace}
        with telemetry.span("agent.operation", attributes, operation.trace_parent):
            return await self._operate_traced(operation)

    async def _operate_traced(
        self, operation: agent_pb2.TargetedOperation
    ) -> agent_pb2.OperationResult:
        result = agent_pb2.OperationResult(id=operation.id)
        held = self._allocations
        if held is not None and operation.release_request_id:
            return await self._release(held, operation, result)
        if operation.require_ready_unallocated and operation.HasField("need"):
            return await self._allocate_by_capacity(operation, result)
        if held is not None and operation.require_ready_unallocated:
            if self.config.allocation_path == "ledger":
                return await self._allocate(held, operation, result)
        elif held is not None:
            # Another operation on a server whose allocation is not written yet: write it
            # first, so the operation's guard sees the server Allocated.
            for name in operation.game_servers:
                if held.holds(operation.namespace, name):
                    await held.settle(operation.namespace, name)
        patch = translate.game_server_patch(operation.patch)
        if operation.labels or operation.annotations:
            patch["metadata"] = translate.metadata_patch(operation.labels, operation.annotations)
        # The operation guard holds here too, whatever the hub checked: the hub's view may lag.
        guarded = operation.patch.HasField("ops_state") and not operation.require_ready_unallocated
        if guarded and not operation.allow_custom_ops_state:
            unknown = protocol.unknown_ops_state(operation.patch.ops_state)
            if unknown is not None:
                for name in operation.game_servers:
                    result.refused[name] = f"opsState: {unknown}"
                return result
        for name in operation.game_servers:
            cached = self._game_servers.get((operation.namespace, name))
            if cached is None:
                result.errors[name] = "no such game server in this cluster"
                continue
            if guarded and not operation.allow_unallocate:
                await self._write_unless_allocated(operation, name, cached, patch, result)
                continue
            body = patch
            claimed: Callable[[str | None], None] = _no_claim
            if operation.require_ready_unallocated:
                if _allocated_for(cached, operation):
                    result.updated.append(name)  # a retry of the request that holds it
                    continue
                if not translate.ready_unallocated(cached):
                    result.conflicts.append(name)
                    continue
                # Not a server a reconcile is deleting or updating now; and from here on
                # until its write is in the cache, the reconciler reads it Allocated.
                claim = held.claim(operation.namespace, name) if held is not None else _no_claim
                if claim is None:
                    result.conflicts.append(name)
                    continue
                claimed = claim
                # The write holds only if nothing changed the server since the check.
                body = translate.with_resource_version(patch, cached)
            try:
                written = await self._kube.patch(
                    resources.GAME_SERVER, operation.namespace, name, body
                )
            except kclient.ApiError as exc:
                claimed(None)
                if exc.conflict and operation.require_ready_unallocated:
                    result.conflicts.append(name)
                else:
                    result.errors[name] = str(exc)
                continue
            except BaseException:
                claimed(None)
                raise
            claimed(bodies.resource_version(written))
            result.updated.append(name)
        if operation.require_ready_unallocated:
            _count("direct", result)
        return result

    async def _allocate_by_capacity(
        self, operation: agent_pb2.TargetedOperation, result: agent_pb2.OperationResult
    ) -> agent_pb2.OperationResult:
        """Allocate each server if it is in the state the need asks and has the room, applying
        the actions to its counters and lists in the same write, guarded by the
        resourceVersion checked (always the direct path: the write is the check)."""
        for name in operation.game_servers:
            seen = self._game_servers.get((operation.namespace, name))
            if seen is None:
                result.errors[name] = "no such game server in this cluster"
                continue
            try:
                written = await self._take_with_room(operation, name, seen)
            except kclient.ApiError as exc:
                result.errors[name] = str(exc)
                continue
            if written is None:
                result.conflicts.append(name)
            else:
                result.updated.append(name)
                result.written[name].CopyFrom(translate.game_server(written))
        _count("capacity", result)
        return result

    async def _take_with_room(
        self, operation: agent_pb2.TargetedOperation, name: str, seen: kclient.Obj
    ) -> kclient.Obj | None:
        """The GameServer as allocated (or as a retry of the same request finds it), or None
        when it may not be taken. A server the cache shows unfit is read again before it is
        refused: the cache may not hold this agent's own last write yet (the allocation just
        answered, which made it Allocated), and the hub asks by what that answer said. A write
        that finds the server changed (409: another allocation, the game, a status write)
        reads it again and checks again. So a server with room is not given up for a stale
        cache."""
        need, actions = capacity_wire.need_of(operation.need)
        request_id = operation.annotations.get(protocol.ALLOCATION_REQUEST_ANNOTATION, "")
        namespace = operation.namespace
        fresh = False
        for _ in range(GUARDED_WRITE_ATTEMPTS):
            if _allocated_for(seen, operation) or (
                translate.ops_state(seen) == "Allocated"
                and translate.applied_request(seen, request_id)
            ):
                return seen  # a retry of a request already applied
            held = self._allocations
            if held is not None and held.holds(namespace, name):
                return None
            patch = translate.capacity_patch(seen, need, actions, request_id)
            if patch is None:
                if fresh:
                    return None
                found = await self._read_again(namespace, name)
                if found is None:
                    return None
                seen, fresh = found, True
                continue
            meta = translate.metadata_patch(operation.labels, operation.annotations)
            meta["annotations"] = {**meta.get("annotations", {}), **_patched_annotations(patch)}
            patch["metadata"] = meta
            guarded = translate.with_resource_version(patch, seen)
            try:
                return await self._kube.patch(resources.GAME_SERVER, namespace, name, guarded)
            except kclient.ApiError as exc:
                if not exc.conflict:
                    raise
            found = await self._read_again(namespace, name)
            if found is None:
                return None
            seen, fresh = found, True
        return None

    async def _read_again(self, namespace: str, name: str) -> kclient.Obj | None:
        """The GameServer as the API server has it now, or None when it is gone."""
        try:
            return await self._kube.get(resources.GAME_SERVER, namespace, name)
        except kclient.ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def _allocate(
        self,
        held: AllocationLedger,
        operation: agent_pb2.TargetedOperation,
        result: agent_pb2.OperationResult,
    ) -> agent_pb2.OperationResult:
        """Take each server into its set's allocation ledger; answered once the ledger's
        write holds it (its GameServer is written after)."""
        request_id = (
            operation.annotations.get(protocol.ALLOCATION_REQUEST_ANNOTATION) or operation.id
        )
        for name in operation.game_servers:
            if self._game_servers.get((operation.namespace, name)) is None:
                result.errors[name] = "no such game server in this cluster"
                continue
            try:
                decision = await held.allocate(
                    operation.namespace,
                    name,
                    request_id,
                    dict(operation.labels),
                    dict(operation.annotations),
                )
            except allocation_errors as exc:
                result.errors[name] = str(exc)
                continue
            if decision is ledger.Decision.CONFLICT:
                result.conflicts.append(name)
            else:
                result.updated.append(name)
        _count("ledger", result)
        return result

    async def _release(
        self,
        held: AllocationLedger,
        operation: agent_pb2.TargetedOperation,
        result: agent_pb2.OperationResult,
    ) -> agent_pb2.OperationResult:
        """Give back the allocation of each server made for ``release_request_id``; a server
        allocated for another request (or not at all) is a conflict, left as it is."""
        for name in operation.game_servers:
            try:
                decision = await held.release(
                    operation.namespace, name, operation.release_request_id
                )
            except allocation_errors as exc:
                result.errors[name] = str(exc)
                continue
            if decision is ledger.Decision.TAKE:
                result.updated.append(name)
            else:
                result.conflicts.append(name)
        return result

    async def _write_unless_allocated(
        self,
        operation: agent_pb2.TargetedOperation,
        name: str,
        seen: kclient.Obj,
        patch: kclient.Obj,
        result: agent_pb2.OperationResult,
    ) -> None:
        """Write ``patch`` only while the server is not Allocated, guarded by the
        resourceVersion checked: an allocation that lands after the check makes the write fail
        (409), and the server is read again and checked again."""
        wanted = operation.patch.ops_state
        for _ in range(GUARDED_WRITE_ATTEMPTS):
            refusal = protocol.unallocation_refusal(translate.ops_state(seen), wanted)
            if refusal is not None:
                result.refused[name] = refusal
                return
            try:
                await self._kube.patch(
                    resources.GAME_SERVER,
                    operation.namespace,
                    name,
                    translate.with_resource_version(patch, seen),
                )
            except kclient.ApiError as exc:
                if not exc.conflict:
                    result.errors[name] = str(exc)
                    return
            else:
                result.updated.append(name)
                return
            try:  # the cache may not have the change yet: read the server itself
                seen = await self._kube.get(resources.GAME_SERVER, operation.namespace, name)
            except kclient.ApiError as exc:
                result.errors[name] = str(exc)
                return
        result.errors[name] = f"changed {GUARDED_WRITE_ATTEMPTS} times while being written; retry"


_annotations = bodies.annotations_of
allocation_errors = (LedgerError, kclient.ApiError)


def _no_claim(_: str | None) -> None:
    """No allocation ledger (no controller in this process): nothing to hold."""


def _allocated_for(obj: kclient.Obj, operation: agent_pb2.TargetedOperation) -> bool:
    request_id = operation.annotations.get(protocol.ALLOCATION_REQUEST_ANNOTATION)
    return bool(request_id) and (
        translate.ops_state(obj) == "Allocated"
        and _annotations(obj).get(protocol.ALLOCATION_REQUEST_ANNOTATION) == request_id
    )


def _patched_annotations(patch: kclient.Obj) -> dict[str, str]:
    return bodies.annotations_of(patch)


def _count(path: str, result: agent_pb2.OperationResult) -> None:
    metrics.ALLOCATIONS.labels(path, "taken").inc(len(result.updated))
    metrics.ALLOCATIONS.labels(path, "conflict").inc(len(result.conflicts))
    metrics.ALLOCATIONS.labels(path, "error").inc(len(result.errors))


def _describe(exc: Exception) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__
