"""A protocol-level agent: speaks AgentService.Connect like a real agent, without Kubernetes.

Used by hub integration tests (hub ↔ agents over loopback gRPC) and by the federation
benchmark's load generator. It holds what the hub sends and reports whatever status it is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from gamefleet import capacity_wire, protocol
from gamefleet.v1 import agent_pb2, agent_pb2_grpc, gameserver_pb2
from google.protobuf import json_format

from okg import capacity

SetKey = tuple[str, str]


class SimulatedAgent:
    def __init__(
        self,
        address: str,
        cluster: str,
        labels: dict[str, str] | None = None,
        heartbeat_interval: float = 0.5,
        channel_factory: Callable[[str], grpc.aio.Channel] = grpc.aio.insecure_channel,
        namespaces: list[str] | None = None,
    ) -> None:
        self.address = address
        self.cluster = cluster
        self.labels = labels or {}
        self.heartbeat_interval = heartbeat_interval
        self._channel_factory = channel_factory
        self.sets: dict[SetKey, agent_pb2.DesiredSet] = {}
        # The namespaces it says it serves (empty: every one).
        self.namespaces = list(namespaces or [])
        # Sets the hub stopped wanting, still in the cluster until ``retired`` says they are gone.
        self.retiring: set[SetKey] = set()
        self.received: list[agent_pb2.HubMessage] = []
        self.status_hashes: dict[str, str] = {}
        self.operations: list[agent_pb2.TargetedOperation] = []
        self._outbox: asyncio.Queue[agent_pb2.AgentMessage | None] = asyncio.Queue()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._channel: grpc.aio.Channel | None = None
        self.heartbeats = True
        self.error: BaseException | None = None
        # With reconnect, the agent dials again after a broken or ended stream and resends, on
        # the hub's status hashes, every status it reported that the hub does not hold.
        self.reconnect = False
        self.reported: dict[str, agent_pb2.GameServerSetStatus | gameserver_pb2.GameServer] = {}
        # Seconds the agent takes to answer an allocation (a slow API server).
        self.allocation_delay = 0.0
        # The next allocations it writes but answers with an error (an API server that failed
        # after committing the write).
        self.lost_answers = 0
        # Server name → request ids whose counter and list actions it applied.
        self.applied: dict[str, set[str]] = {}
        # When the hub last answered a hello with its status hashes (time.monotonic()).
        self.hashes_received_at = 0.0
        # Sent instead of the hello made from what the agent holds (a misbehaving agent's).
        self.hello: agent_pb2.AgentHello | None = None
        # Say on hello that it reads DesiredSet.spec_json (the real agent does); else the hub
        # sends the spec as a Struct, as to an agent of an earlier release.
        self.reads_spec_json = False

    async def start(self) -> SimulatedAgent:
        self._channel = self._channel_factory(self.address)
        self._outbox = asyncio.Queue()
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        """Half-close the stream, then cancel: the hub may see either end first."""
        self._outbox.put_nowait(None)
        await self.cut()

    async def cut(self) -> None:
        """Cancel the stream without half-closing it, as a crashed agent's connection ends."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await self._task
        if self._channel is not None:
            await self._channel.close(None)

    def send(self, message: agent_pb2.AgentMessage) -> None:
        self._outbox.put_nowait(message)

    def report(self, delta: agent_pb2.StatusDelta) -> None:
        for set_status in delta.sets:
            self.reported[protocol.set_key(set_status.namespace, set_status.name)] = set_status
        for server in delta.game_servers:
            self.reported[protocol.game_server_key(server.namespace, server.name)] = server
        self.send(agent_pb2.AgentMessage(status=delta))

    def _resend_missing(self) -> None:
        delta = agent_pb2.StatusDelta()
        for key, status in self.reported.items():
            if self.status_hashes.get(key) == protocol.status_hash(status):
                continue
            if isinstance(status, agent_pb2.GameServerSetStatus):
                delta.sets.append(status)
            else:
                delta.game_servers.append(status)
            if len(delta.game_servers) + len(delta.sets) >= 500:
                self.send(agent_pb2.AgentMessage(status=delta))
                delta = agent_pb2.StatusDelta()
        if delta.game_servers or delta.sets:
            self.send(agent_pb2.AgentMessage(status=delta))

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    def _hello(self) -> agent_pb2.AgentMessage:
        if self.hello is not None:
            return agent_pb2.AgentMessage(hello=self.hello)
        held = [
            agent_pb2.SetVersion(
                namespace=s.namespace,
                name=s.name,
                version=s.version,
                hash=s.hash,
                replicas=desired_replicas(s),
            )
            for s in self.sets.values()
        ]
        held += [
            agent_pb2.SetVersion(namespace=namespace, name=name, retiring=True)
            for namespace, name in sorted(self.retiring)
        ]
        hello = agent_pb2.AgentHello(
            cluster=self.cluster,
            labels=self.labels,
            agent_version="simulated",
            network_plugins=["Kubernetes-HostPort", "Kubernetes-NodePort"],
            held_sets=held,
            namespaces=self.namespaces,
            reads_spec_json=self.reads_spec_json,
        )
        hello.capacity.nodes = 3
        return agent_pb2.AgentMessage(hello=hello)

    async def _messages(self) -> AsyncIterator[agent_pb2.AgentMessage]:
        yield self._hello()
        while (message := await self._outbox.get()) is not None:
            yield message

    async def _beat(self) -> None:
        while True:
            if self.heartbeats:
                self.send(agent_pb2.AgentMessage(heartbeat=agent_pb2.Heartbeat()))
            await asyncio.sleep(self.heartbeat_interval)

    async def _run(self) -> None:
        while True:
            try:
                await self._connect_once()
                if not self.reconnect:
                    return  # the hub ended the stream (it stopped)
            except grpc.aio.AioRpcError:
                if not self.reconnect:
                    raise
            await asyncio.sleep(0.5)
            self._outbox = asyncio.Queue()

    async def _connect_once(self) -> None:
        assert self._channel is not None
        stub = agent_pb2_grpc.AgentServiceStub(self._channel)
        beat = asyncio.create_task(self._beat())
        try:
            async for message in stub.Connect(self._messages()):
                await self._handle(message)
        except BaseException as exc:
            self.error = exc
            async with self._changed:
                self._changed.notify_all()
            raise
        finally:
            beat.cancel()

    async def _handle(self, message: agent_pb2.HubMessage) -> None:
        self.received.append(message)
        kind = message.WhichOneof("body")
        if kind == "desired":
            for desired in message.desired.sets:
                key = (desired.namespace, desired.name)
                if desired.deleted:
                    if self.sets.pop(key, None) is not None:
                        self.retiring.add(key)
                else:
                    self.sets[key] = desired
        elif kind == "status_hashes":
            self.status_hashes = dict(message.status_hashes.hashes)
            self.hashes_received_at = time.monotonic()
            if self.reconnect:
                self._resend_missing()
        elif kind == "operation":
            self.operations.append(message.operation)
            if self.allocation_delay and message.operation.require_ready_unallocated:
                await asyncio.sleep(self.allocation_delay)
            self.send(agent_pb2.AgentMessage(operation_result=self._operate(message.operation)))
        async with self._changed:
            self._changed.notify_all()

    def _operate(self, operation: agent_pb2.TargetedOperation) -> agent_pb2.OperationResult:
        """Like the real agent: an allocation writes only a server still Ready with opsState
        None (else a conflict), and the new status is reported; other operations succeed, and
        an opsState they set on a server this agent reported is reported too (refused, as the
        real agent refuses it, for an Allocated server without allow_unallocate). An allocation
        of a server it already holds for the same request_id is answered as updated; a release
        sets back only a server Allocated for that request_id."""
        result = agent_pb2.OperationResult(id=operation.id)
        release = operation.release_request_id
        if not operation.require_ready_unallocated and not release:
            self._apply(operation, result)
            return result
        request_id = operation.annotations.get(protocol.ALLOCATION_REQUEST_ANNOTATION, "")
        changed = agent_pb2.StatusDelta()
        for name in operation.game_servers:
            held = self.reported.get(protocol.game_server_key(operation.namespace, name))
            if not isinstance(held, gameserver_pb2.GameServer):
                result.errors[name] = "no such game server in this cluster"
                continue
            allocated = held.ops_state == "Allocated"
            if release:
                if not allocated or held.allocation_request_id != release:
                    result.conflicts.append(name)
                    continue
            elif (allocated and held.allocation_request_id == request_id) or (
                request_id in self.applied.get(name, ())
            ):
                result.updated.append(name)  # already this request's
                result.written[name].CopyFrom(held)
                continue
            elif not self._may_take(held, operation):
                result.conflicts.append(name)
                continue
            written = gameserver_pb2.GameServer()
            written.CopyFrom(held)
            if operation.HasField("need"):
                _, actions = capacity_wire.need_of(operation.need)
                after = capacity.apply(capacity_wire.of(held.counters, held.lists), actions)
                capacity_wire.put(after, written)
                self.applied.setdefault(name, set()).add(request_id)
                result.written[name].CopyFrom(written)
            written.ops_state = operation.patch.ops_state
            written.labels.update(operation.labels)
            written.allocation_request_id = "" if release else request_id
            changed.game_servers.append(written)
            if self.lost_answers and not release:
                self.lost_answers -= 1
                result.errors[name] = "the API server's answer was lost"
                continue
            result.updated.append(name)
        if changed.game_servers:
            self.report(changed)
        return result

    @staticmethod
    def _may_take(held: gameserver_pb2.GameServer, operation: agent_pb2.TargetedOperation) -> bool:
        """As the real agent checks: Ready with opsState None, or with a need, its state,
        bounds and actions (counters and lists)."""
        if not operation.HasField("need"):
            return held.state == "Ready" and held.ops_state in ("", "None")
        need, actions = capacity_wire.need_of(operation.need)
        wanted = ("Allocated",) if need.allocated else ("", "None")
        if held.state != "Ready" or held.ops_state not in wanted:
            return False
        found = capacity_wire.of(held.counters, held.lists)
        if not capacity.within(found, need):
            return False
        try:
            capacity.apply(found, actions)
        except capacity.CapacityError:
            return False
        return True

    def retired(self, namespace: str, name: str) -> None:
        """The retiring set is gone from the cluster: report it deleted, as the agent does."""
        self.retiring.discard((namespace, name))
        gone = agent_pb2.GameServerSetStatus(namespace=namespace, name=name, deleted=True)
        self.reported.pop(protocol.set_key(namespace, name), None)
        self.send(agent_pb2.AgentMessage(status=agent_pb2.StatusDelta(sets=[gone])))

    def _apply(
        self, operation: agent_pb2.TargetedOperation, result: agent_pb2.OperationResult
    ) -> None:
        changed = agent_pb2.StatusDelta()
        for name in operation.game_servers:
            held = self.reported.get(protocol.game_server_key(operation.namespace, name))
            if not isinstance(held, gameserver_pb2.GameServer) or not operation.patch.HasField(
                "ops_state"
            ):
                result.updated.append(name)
                continue
            refusal = protocol.unallocation_refusal(held.ops_state, operation.patch.ops_state)
            if refusal is not None and not operation.allow_unallocate:
                result.refused[name] = refusal
                continue
            written = gameserver_pb2.GameServer()
            written.CopyFrom(held)
            written.ops_state = operation.patch.ops_state
            changed.game_servers.append(written)
            result.updated.append(name)
        if changed.game_servers:
            self.report(changed)

    def change_quietly(self, server: gameserver_pb2.GameServer) -> None:
        """Change a server in the cluster without reporting it yet (a report in flight)."""
        self.reported[protocol.game_server_key(server.namespace, server.name)] = server

    def replicas(self, namespace: str, name: str) -> int | None:
        desired = self.sets.get((namespace, name))
        return None if desired is None else desired_replicas(desired)


def desired_spec(desired: agent_pb2.DesiredSet) -> dict[str, Any]:
    """A received set's spec, whichever way the hub sent it."""
    if desired.spec_json:
        spec = json.loads(desired.spec_json)
        assert isinstance(spec, dict)
        return spec
    return dict(protocol.whole_numbers(json_format.MessageToDict(desired.spec)))


def desired_replicas(desired: agent_pb2.DesiredSet) -> int:
    return int(desired_spec(desired).get("replicas") or 0)


def set_status(
    desired: agent_pb2.DesiredSet, ready: int, allocated: int = 0
) -> agent_pb2.GameServerSetStatus:
    """The status a settled agent reports for ``desired``."""
    replicas = desired_replicas(desired)
    status = agent_pb2.GameServerSetStatus(
        namespace=desired.namespace,
        name=desired.name,
        applied_version=desired.version,
        applied_hash=desired.hash,
        desired_replicas=replicas,
    )
    status.counts.replicas = replicas
    status.counts.ready = ready
    status.counts.available = ready
    status.counts.updated = replicas
    status.counts.updated_ready = ready
    status.counts.allocated = allocated
    return status


def game_server(
    namespace: str, fleet: str, ordinal: int, state: str = "Ready", ops_state: str = "None"
) -> gameserver_pb2.GameServer:
    return gameserver_pb2.GameServer(
        namespace=namespace,
        name=f"{fleet}-{ordinal}",
        fleet=fleet,
        state=state,
        ops_state=ops_state,
        labels={"game.kruise.io/owner-gss": fleet},
    )
