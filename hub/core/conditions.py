"""Kubernetes-style conditions computed by the core."""

from __future__ import annotations

import dataclasses

from gamefleet.v1 import meta_pb2

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"


@dataclasses.dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str

    def to_proto(self, observed_generation: int = 0) -> meta_pb2.Condition:
        return meta_pb2.Condition(
            type=self.type,
            status=self.status,
            reason=self.reason,
            message=self.message,
            observed_generation=observed_generation,
        )
