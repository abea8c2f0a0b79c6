"""Record Kubernetes Events (core/v1) about the agent's objects."""

from __future__ import annotations

import logging
import time
import uuid

from agent.core import bodies

from . import client as kclient
from . import resources

_log = logging.getLogger(__name__)
COMPONENT = "gamefleet-agent"


class EventRecorder:
    """Writes one Event per call; failures are logged, never raised."""

    def __init__(self, kube: kclient.KubeClient, host: str = "") -> None:
        self._kube = kube
        self._host = host

    async def record(
        self, involved: bodies.Raw, event_type: str, reason: str, message: str
    ) -> None:
        meta = bodies.meta(involved)
        namespace = str(meta.get("namespace") or "default")
        now = bodies.rfc3339(time.time())
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta.get('name', 'object')}.{uuid.uuid4().hex[:16]}",
                "namespace": namespace,
            },
            "involvedObject": {
                "apiVersion": involved.get("apiVersion", ""),
                "kind": involved.get("kind", ""),
                "name": meta.get("name", ""),
                "namespace": namespace,
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "type": event_type,
            "reason": reason,
            "message": message,
            "source": {"component": COMPONENT, "host": self._host},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": COMPONENT,
            "reportingInstance": self._host or COMPONENT,
        }
        try:
            await self._kube.create(resources.EVENT, namespace, body)
        except Exception as exc:
            _log.warning("event %s on %s: %r", reason, meta.get("name"), exc)
