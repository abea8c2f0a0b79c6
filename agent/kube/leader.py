"""Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it.

A candidate takes the Lease when it is free or when its record has not changed for a whole
lease duration (measured on the candidate's own clock, so clock skew between nodes does not
matter). The leader renews every `renew_every`; if it cannot renew within `renew_deadline` it
has lost the lease and must stop acting.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import TYPE_CHECKING

from agent.core import bodies

from . import client as kclient
from . import resources

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

_log = logging.getLogger(__name__)
# While following, who holds the Lease is logged when it changes, and again this often.
FOLLOWING_LOG_EVERY_S = 60.0


class NamespaceMissingError(Exception):
    """The Lease's namespace does not exist: no replica can ever lead."""


@dataclasses.dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str
    identity: str
    lease_seconds: int = 10
    renew_every: float = 2.0
    renew_deadline: float = 8.0
    retry_every: float = 2.0


def _now() -> str:
    return bodies.rfc3339(time.time(), micro=True)


class LeaderElector:
    """Campaign for the Lease: `on_started` runs once leading, `on_stopped` once it is lost."""

    def __init__(self, kube: kclient.KubeClient, config: LeaseConfig) -> None:
        self._kube = kube
        self.config = config
        self.is_leader = False
        self._observed: tuple[str, str] | None = None
        """(holderIdentity, renewTime) of the record last seen, and when it was seen."""
        self._observed_at = 0.0
        self._told: tuple[str, float] = ("", 0.0)
        """The holder last logged while following, and when."""

    async def _get(self) -> kclient.Obj | None:
        try:
            return await self._kube.get(resources.LEASE, self.config.namespace, self.config.name)
        except kclient.ApiError as exc:
            if exc.not_found:
                return None
            raise

    def _spec(self, transitions: int, acquire: str | None) -> kclient.Obj:
        now = _now()
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": self.config.lease_seconds,
            "acquireTime": acquire or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this candidate holds the lease afterwards."""
        lease = await self._get()
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                "spec": self._spec(0, None),
            }
            try:
                await self._kube.create(resources.LEASE, self.config.namespace, body)
            except kclient.ApiError as exc:
                if exc.conflict:
                    return False
                if exc.not_found:
                    raise NamespaceMissingError(
                        f"namespace {self.config.namespace!r} does not exist: create it, or "
                        "name an existing one for the agent's Lease"
                    ) from exc
                raise
            return True
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        record = (holder, str(spec.get("renewTime") or ""))
        if record != self._observed:
            self._observed = record
            self._observed_at = time.monotonic()
        duration = float(spec.get("leaseDurationSeconds") or self.config.lease_seconds)
        expired = time.monotonic() - self._observed_at > duration
        mine = holder == self.config.identity
        if holder and not mine and not expired:
            self._following(holder, spec)
            return False
        transitions = int(spec.get("leaseTransitions") or 0)
        acquire = str(spec.get("acquireTime") or "") if mine else None
        new_spec = self._spec(transitions if mine else transitions + 1, acquire)
        patch = {"metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]}}
        patch["spec"] = new_spec
        try:
            updated = await self._kube.patch(
                resources.LEASE, self.config.namespace, self.config.name, patch
            )
        except kclient.ApiError as exc:
            if exc.conflict:
                return False
            raise
        spec = updated.get("spec") or {}
        self._observed = (str(spec.get("holderIdentity") or ""), str(spec.get("renewTime") or ""))
        self._observed_at = time.monotonic()
        return True

    def _following(self, holder: str, spec: kclient.Obj) -> None:
        """Say loudly who leads: an agent left over from another cluster or hub that holds this
        Lease keeps this one from ever working."""
        now = time.monotonic()
        if self._told[0] == holder and now - self._told[1] < FOLLOWING_LOG_EVERY_S:
            return
        self._told = (holder, now)
        _log.warning(
            "following: Lease %s/%s is held by %r (renewed %s); this replica (%s) leads only "
            "once it is released or not renewed for %ss. If that holder is not an agent of "
            "this cluster, stop it or give this agent another --lease-name",
            self.config.namespace,
            self.config.name,
            holder,
            spec.get("renewTime") or "never",
            self.config.identity,
            spec.get("leaseDurationSeconds") or self.config.lease_seconds,
        )

    async def _attempt(self) -> bool:
        try:
            return await self.try_acquire_or_renew()
        except NamespaceMissingError:
            raise
        except Exception as exc:
            _log.warning("lease %s: %r", self.config.name, exc)
            return False

    async def run(
        self,
        on_started: Callable[[], Awaitable[None]],
        on_stopped: Callable[[], Awaitable[None]],
    ) -> None:
        """Campaign until leading, call `on_started`, renew; call `on_stopped` when lost."""
        while True:
            if await self._attempt():
                break
            await asyncio.sleep(self.config.retry_every)
        self.is_leader = True
        _log.info("leading as %s (lease %s)", self.config.identity, self.config.name)
        await on_started()
        last_renew = time.monotonic()
        while True:
            await asyncio.sleep(self.config.renew_every)
            if await self._attempt():
                last_renew = time.monotonic()
            elif time.monotonic() - last_renew > self.config.renew_deadline:
                self.is_leader = False
                _log.error("lost lease %s", self.config.name)
                await on_stopped()
                return

    async def release(self) -> None:
        """Give the lease up at shutdown so another replica takes over at once."""
        if not self.is_leader:
            return
        self.is_leader = False
        try:
            await self._kube.patch(
                resources.LEASE,
                self.config.namespace,
                self.config.name,
                {"spec": {"holderIdentity": None, "leaseDurationSeconds": 1}},
            )
        except Exception as exc:
            _log.warning("releasing lease %s: %r", self.config.name, exc)
