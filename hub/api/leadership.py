"""Only the leader serves: followers answer UNAVAILABLE and name the leader."""

from __future__ import annotations

import grpc

from hub.federation.allocator import Allocator
from hub.federation.autoscaler import Autoscaling
from hub.federation.federation import Federation
from hub.federation.group_allocator import GroupAllocator

from .errors import AbortError


class LeaderGate:
    """Holds the federation while this hub leads; servicers reach it through ``require``."""

    def __init__(self) -> None:
        self.federation: Federation | None = None
        self.leader: str | None = None
        self.allocator: Allocator | None = None
        self.groups: GroupAllocator | None = None
        self.autoscaling: Autoscaling | None = None
        # This hub's own address, as it campaigns.
        self.identity: str | None = None

    def require(self) -> Federation:
        if self.federation is None:
            if self.leader is not None and self.leader == self.identity:
                # Starting to lead, or its previous run at the same address still holds the
                # lease: either way not another hub, so it does not send the caller away.
                raise AbortError(
                    grpc.StatusCode.UNAVAILABLE,
                    "this hub is not serving yet: leadership at its own address is starting; "
                    "retry shortly",
                )
            leader = self.leader or "not elected yet"
            raise AbortError(
                grpc.StatusCode.UNAVAILABLE, f"this hub is not the leader; the leader is {leader}"
            )
        return self.federation
