"""The writes a reconcile plan asks for: plain, frozen values the executor performs in order.

A plan (`agent.core.reconcile`) is a list of these; `agent.controllers.executor` turns each into
one API request (or, for `CreateServer`, the requests that create one game server) and records
what the caches must show before the set is reconciled again.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import bodies


class Kind(enum.StrEnum):
    """The kinds a plan writes."""

    POD = "Pod"
    GAME_SERVER = "GameServer"
    GAME_SERVER_SET = "GameServerSet"
    CLAIM = "PersistentVolumeClaim"


class OnConflict(enum.StrEnum):
    """What a failed write means (404 Not Found, or 409 Conflict from a precondition)."""

    SKIP = "Skip"
    """The object is gone or changed: skip this write, its events, and go on."""
    RESTART = "Restart"
    """On 409 the reconcile ends and runs again at once (a guarded set patch); 404 raises."""
    RAISE = "Raise"
    """Any error fails the reconcile (it is retried with backoff)."""


@dataclasses.dataclass(frozen=True)
class Event:
    """A Kubernetes Event about `on` (None: about the object the write it belongs to returned)."""

    type: str
    reason: str
    message: str
    on: bodies.Raw | None = dataclasses.field(default=None, compare=False)
    about: str = ""
    """The involved object's name (what tests compare; `on` carries the whole body)."""


@dataclasses.dataclass(frozen=True)
class Patch:
    """A patch of one object (a JSON merge patch, or a strategic merge patch of a pod)."""

    kind: Kind
    name: str
    body: bodies.Json
    strategic: bool = False
    status: bool = False
    """Through the status subresource."""
    guard: bool = False
    """The executor sets `metadata.resourceVersion` to the newest version this reconcile has
    seen of the object (observed, or returned by an earlier write): 409 if it moved on."""
    on_conflict: OnConflict = OnConflict.SKIP
    events: tuple[Event, ...] = ()
    """Recorded about the patched object once the patch succeeded."""
    note: str = ""
    """Logged once the patch succeeded."""


@dataclasses.dataclass(frozen=True)
class Delete:
    """A deletion, with a uid precondition when `uid` is set; a missing object is fine."""

    kind: Kind
    name: str
    uid: str = ""
    expect_gone: bool = True
    """The next reconcile waits until the caches show it gone (or terminating)."""
    note: str = ""


@dataclasses.dataclass(frozen=True)
class CreateGameServer:
    """The GameServer of a pod that has none (409: one exists already, fine)."""

    body: bodies.GameServer


@dataclasses.dataclass(frozen=True)
class CreateServer:
    """One new game server: its claims (kept when they exist), its pod, its GameServer.

    The executor lets the network plugin prepare the pod first; when the pod cannot be created
    (409: an earlier pod of the ordinal is still going) nothing else is written.
    """

    ordinal: int
    pod: bodies.Pod
    claims: tuple[bodies.PersistentVolumeClaim, ...] = ()
    game_server: bodies.GameServer | None = None
    """None: the ordinal's GameServer stays (reclaimPolicy Delete)."""
    owned_by_pod: bool = True
    """The GameServer's controller is the pod (Cascade): its owner reference needs the uid the
    pod gets."""
    replaces: tuple[str, str] | None = None
    """(name, uid) of an earlier pod's GameServer, deleted first: it does not carry over."""


Write = Patch | Delete | CreateGameServer | CreateServer | Event
Chain = tuple[Write, ...]
"""Writes performed one after another (the writes of one game server)."""
