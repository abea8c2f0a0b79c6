"""Helpers for the agent's end-to-end tests: the agent as a child process, and a namespace
with typed shortcuts over the API (through the agent's own raw client)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any, Self

from agent.controllers import views
from agent.core import wire
from agent.kube import cache as kcache
from agent.kube import client as kclient
from agent.kube import resources
from okg import vocabulary
from tests.localcluster.versions import binary_path
from tests.support.logs import assert_no_logging_errors

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
Obj = dict[str, Any]
# Every kind the e2e tests read or write (the AWS kinds wait in their own fixture): the first
# test after `make clusters` must not meet a watch cache still loading (429).
SERVED_KINDS = (
    resources.NAMESPACE, resources.NODE, resources.POD, resources.EVENT, resources.SERVICE,
    resources.LEASE, resources.PERSISTENT_VOLUME_CLAIM, resources.PERSISTENT_VOLUME,
    resources.INGRESS, resources.CRD, resources.GAME_SERVER_SET, resources.GAME_SERVER,
    resources.GAME_SERVER_ALLOCATION,
    resources.Resource("v1", "serviceaccounts", "ServiceAccount"),
    resources.Resource("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", False),
    resources.Resource("rbac.authorization.k8s.io/v1", "roles", "Role"),
)  # fmt: skip


class AgentProcess:
    """`python -m agent` for one namespace, as its own process."""

    def __init__(
        self,
        kubeconfig: pathlib.Path,
        namespace: str,
        log: pathlib.Path,
        identity: str = "agent-0",
        lease_name: str | None = "gamefleet-agent",
        scaler_port: int = 0,
        extra: tuple[str, ...] = (),
        lease_in_namespace: bool = True,
        metrics_port: int = 0,
    ) -> None:
        """``lease_name`` None leaves the Lease's name to the agent's default, and
        ``lease_in_namespace`` False its namespace; ``extra`` are more flags."""
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.log = log
        self.identity = identity
        self.lease_name = lease_name
        self.scaler_port = scaler_port
        self.extra = extra
        self.lease_in_namespace = lease_in_namespace
        self.metrics_port = metrics_port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        lease = ["--lease-name", self.lease_name] if self.lease_name is not None else []
        if self.lease_in_namespace:
            lease += ["--lease-namespace", self.namespace]
        command = [
            sys.executable, "-m", "agent",
            "--kubeconfig", str(self.kubeconfig), "--namespace", self.namespace, *lease,
            "--id", self.identity, "--skip-crds", "--scaler-port", str(self.scaler_port),
            *self.extra,
            "--metrics-port", str(self.metrics_port),
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the replica dies without releasing its lease."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        assert_no_logging_errors(self.log)


async def kubectl(
    kubeconfig: pathlib.Path, *args: str, stdin: str | None = None, timeout: float = 60.0
) -> tuple[int, str]:
    """The pinned kubectl against ``kubeconfig``: its exit status and output."""

    def run() -> tuple[int, str]:
        done = subprocess.run(
            [str(binary_path("kubectl")), *args],
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return done.returncode, done.stdout + done.stderr

    return await asyncio.to_thread(run)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for an agent's metrics)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kruise_pod_ready(pod: Obj) -> str | None:
    """The status of the pod's `KruisePodReady` condition (markPodNotReady), if it has one."""
    ready = views.kruise_pod_ready(pod)
    return None if ready is None else str(ready)


async def eventually(
    check: Callable[[], Awaitable[bool]], seconds: float = 30.0, what: str = "condition"
) -> None:
    """Poll `check` (bounded, every 0.2 s) until it holds; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        await asyncio.sleep(0.2)


async def until_done(
    done: Callable[[], bool],
    progress: Callable[[], object],
    stalled_after: float,
    what: str,
    changed: Callable[[float], Awaitable[None]],
    seconds: float = 900.0,
) -> None:
    """Wait until `done()`, re-checking when `changed` returns; fail once `progress()` has not
    changed for `stalled_after` seconds (a loaded machine is slow, a stuck agent does not move),
    or after `seconds` in all."""
    began = moved = time.monotonic()
    last = progress()
    while not done():
        now = time.monotonic()
        if now - moved > stalled_after or now - began > seconds:
            raise AssertionError(
                f"waiting for {what}: no progress for {now - moved:.0f}s "
                f"({now - began:.0f}s in all); last {last}"
            )
        await changed(1.0)
        if (current := progress()) != last:
            last, moved = current, time.monotonic()


class Namespace:
    """One test's namespace and shortcuts to what lives in it."""

    def __init__(self, kube: kclient.KubeClient, name: str) -> None:
        self.kube = kube
        self.name = name

    # GameServerSets.

    async def create_set(
        self,
        name: str,
        replicas: int,
        *,
        image: str = "game:1",
        template_labels: dict[str, str] | None = None,
        template_annotations: dict[str, str] | None = None,
        reclaim_policy: str | None = None,
        **spec: Any,
    ) -> Obj:
        template: Obj = {
            "metadata": {
                "labels": {"app": name, **(template_labels or {})},
                "annotations": template_annotations or {},
            },
            "spec": {"containers": [{"name": "main", "image": image}]},
        }
        if reclaim_policy:
            template["reclaimPolicy"] = reclaim_policy
        body = {
            "apiVersion": vocabulary.API_VERSION,
            "kind": "GameServerSet",
            "metadata": {"name": name, "namespace": self.name},
            "spec": {"replicas": replicas, "gameServerTemplate": template, **spec},
        }
        return await self.kube.create(resources.GAME_SERVER_SET, self.name, body)

    async def get_set(self, name: str) -> Obj:
        return await self.kube.get(resources.GAME_SERVER_SET, self.name, name)

    async def patch_set(self, name: str, spec: Obj) -> Obj:
        return await self.kube.request(
            "PATCH",
            resources.GAME_SERVER_SET.item(self.name, name),
            body={"spec": spec},
            content_type=kclient.MERGE_PATCH,
        )

    async def scale(self, name: str, replicas: int) -> None:
        await self.patch_set(name, {"replicas": replicas})

    # GameServers and pods.

    @contextlib.asynccontextmanager
    async def watching(self, resource: resources.Resource) -> AsyncIterator[kcache.WatchCache]:
        """A watch cache of this namespace's objects of one kind, synced when entered: a
        long wait reads it instead of listing a thousand objects again and again."""
        cache = kcache.WatchCache(self.kube, resource, namespace=self.name)
        runner = asyncio.create_task(cache.run())
        try:
            await asyncio.wait_for(cache.synced.wait(), 60.0)
            yield cache
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    async def game_servers(self, gss: str) -> dict[str, Obj]:
        listed = await self.kube.request(
            "GET",
            resources.GAME_SERVER.collection(self.name),
            params={"labelSelector": f"{wire.OWNER_GSS}={gss}"},
        )
        return {views.meta(i)["name"]: i for i in listed.get("items") or []}

    async def find(self, resource: resources.Resource, name: str) -> Obj | None:
        """The object in this namespace, or None when it does not exist."""
        try:
            return await self.kube.get(resource, self.name, name)
        except kclient.ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def get_gs(self, name: str) -> Obj:
        return await self.kube.get(resources.GAME_SERVER, self.name, name)

    async def patch_gs(self, name: str, spec: Obj | None = None, labels: Obj | None = None) -> Obj:
        body: Obj = {}
        if spec is not None:
            body["spec"] = spec
        if labels is not None:
            body["metadata"] = {"labels": labels}
        return await self.kube.request(
            "PATCH",
            resources.GAME_SERVER.item(self.name, name),
            body=body,
            content_type=kclient.MERGE_PATCH,
        )

    async def pods(self, gss: str, *, terminating: bool = False) -> dict[str, Obj]:
        listed = await self.kube.request(
            "GET",
            resources.POD.collection(self.name),
            params={"labelSelector": f"{wire.OWNER_GSS}={gss}"},
        )
        return {
            views.meta(p)["name"]: p
            for p in listed.get("items") or []
            if terminating or not views.meta(p).get("deletionTimestamp")
        }

    async def wait_pod_label(self, gss: str, pod: str, key: str, value: str) -> None:
        async def check() -> bool:
            found = (await self.pods(gss)).get(pod)
            return found is not None and views.labels_of(found).get(key) == value

        await eventually(check, 30.0, f"{pod} label {key}={value}")

    async def wait_states(self, gss: str, names: tuple[str, ...], wanted: str) -> None:
        """Wait until each of these GameServers of ``gss`` has ``currentState`` ``wanted``."""

        async def check() -> bool:
            servers = await self.game_servers(gss)
            return all(
                ((servers.get(n) or {}).get("status") or {}).get("currentState") == wanted
                for n in names
            )

        await eventually(check, 30.0, f"{', '.join(names)} {wanted}")

    async def delete_pod(self, name: str) -> None:
        await self.kube.request("DELETE", resources.POD.item(self.name, name))

    async def ordinals(self, gss: str) -> set[int]:
        return {int(n.rsplit("-", 1)[1]) for n in await self.pods(gss)}

    async def wait_servers(self, gss: str, expected: set[int], seconds: float = 30.0) -> None:
        """Wait until exactly these ordinals have a live, ready pod and a GameServer, and no
        other pod or GameServer of the set exists."""
        names = {f"{gss}-{o}" for o in expected}

        async def check() -> bool:
            pods = await self.pods(gss, terminating=True)
            if set(pods) != names:
                return False
            if any(not _ready(p) or views.meta(p).get("deletionTimestamp") for p in pods.values()):
                return False
            return set(await self.game_servers(gss)) == names

        await eventually(check, seconds, f"{gss} servers {sorted(expected)}")

    async def wait_status(self, gss: str, seconds: float = 30.0, **fields: object) -> Obj:
        """Wait until the set's status has these fields (and observes the latest generation)."""
        found: Obj = {}

        async def check() -> bool:
            obj = await self.get_set(gss)
            status = obj.get("status") or {}
            found.clear()
            found.update(status)
            if status.get("observedGeneration") != views.meta(obj).get("generation"):
                return False
            return all(status.get(k) == v for k, v in fields.items())

        try:
            await eventually(check, seconds, f"{gss} status {fields}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last status {found}") from None
        return found

    async def events(self, involved: str) -> list[Obj]:
        listed = await self.kube.request(
            "GET",
            resources.EVENT.collection(self.name),
            params={"fieldSelector": f"involvedObject.name={involved}"},
        )
        return list(listed.get("items") or [])


def _ready(pod: Obj) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def uids(pods: dict[str, Obj]) -> dict[str, str]:
    return {name: str(views.meta(p)["uid"]) for name, p in pods.items()}


def images(pods: dict[str, Obj]) -> dict[str, str]:
    return {name: str(p["spec"]["containers"][0]["image"]) for name, p in pods.items()}
