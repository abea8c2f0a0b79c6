"""A hub process and one agent process per local cluster, wired as in production."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import signal
import subprocess
import sys
import uuid
from typing import Any

import grpc
from gamefleet.v1 import fleet_pb2, fleet_pb2_grpc, gameserver_pb2_grpc

from agent.kube import client as kclient
from hub.core import documents
from tests.e2e.agent.harness import Namespace
from tests.localcluster.state import Cluster
from tests.support.hub_process import REPO_ROOT, HubProcess

AGENT_HEARTBEAT_S = "1"


@dataclasses.dataclass
class Member:
    """One local cluster, its agent process and a client of its API."""

    name: str
    kubeconfig: pathlib.Path
    kube: kclient.KubeClient
    namespace: Namespace
    region: str
    log: pathlib.Path
    process: subprocess.Popen[bytes] | None = None
    standby: subprocess.Popen[bytes] | None = None
    # HOST:PORT of the agent's game API (--game-api-listen), when the test module asks for it.
    game_api: str = ""
    # The local cluster's processes (to kill its API server).
    cluster: Cluster | None = None

    def start_agent(self, hub: str, lease: str, extra: tuple[str, ...] = ()) -> None:
        """``extra``: more flags of `gamefleet agent run`."""
        if self.game_api:
            extra = (*extra, "--game-api-listen", self.game_api)
        self.process = self._spawn(f"{self.name}-agent", hub, lease, extra)

    def start_standby(self, hub: str, lease: str, extra: tuple[str, ...] = ()) -> None:
        """A second replica of the agent on the same Lease (as a DaemonSet runs several): it
        leads once the first one's lease lapses."""
        self.standby = self._spawn(f"{self.name}-standby", hub, lease, extra)

    def _spawn(
        self, identity: str, hub: str, lease: str, extra: tuple[str, ...]
    ) -> subprocess.Popen[bytes]:
        command = [
            sys.executable, "-m", "cli.main", "agent", "run",
            "--kubeconfig", str(self.kubeconfig), "--namespace", self.namespace.name,
            "--lease-namespace", self.namespace.name, "--lease-name", lease,
            "--id", identity, "--skip-crds",
            "--hub", hub, "--cluster", self.name, "--cluster-label", f"region={self.region}",
            "--heartbeat-interval", AGENT_HEARTBEAT_S, "--scaler-port", "0", *extra,
        ]  # fmt: skip
        with self.log.open("ab") as log:
            return subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def kill_agent(self) -> None:
        """SIGKILL the first replica (the standby, if any, stays)."""
        _kill(self.process)

    def kill_every_replica(self) -> None:
        _kill(self.process)
        _kill(self.standby)


def _kill(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)


@dataclasses.dataclass
class World:
    hub: HubProcess
    store_url: str
    members: list[Member]
    namespace: str
    lease: str = dataclasses.field(default_factory=lambda: f"fed-{uuid.uuid4().hex[:6]}")

    def channel(self) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(self.hub.address)

    def fleets(self, channel: grpc.aio.Channel) -> fleet_pb2_grpc.FleetServiceAsyncStub:
        return fleet_pb2_grpc.FleetServiceStub(channel)

    def game_servers(
        self, channel: grpc.aio.Channel
    ) -> gameserver_pb2_grpc.GameServerServiceAsyncStub:
        return gameserver_pb2_grpc.GameServerServiceStub(channel)

    def fleet(
        self,
        replicas: int,
        image: str = "",
        name: str = "arena",
        namespace: str = "",
        max_unavailable: str = "100%",
    ) -> fleet_pb2.Fleet:
        """Fleet ``name`` (of image ``<name>:1.0`` unless given), weighted 2:1 on the members."""
        image = image or f"{name}:1.0"
        doc: dict[str, Any] = {
            "metadata": {"name": name, "namespace": namespace or self.namespace},
            "spec": {
                "replicas": replicas,
                "placement": {
                    "clusters": [
                        {"name": self.members[0].name, "weight": 2},
                        {"name": self.members[1].name, "weight": 1},
                    ],
                    "failover": {"enabled": True, "after": "3s"},
                },
                "template": {
                    "updateStrategy": {
                        "rollingUpdate": {
                            "podUpdatePolicy": "InPlaceIfPossible",
                            "maxUnavailable": max_unavailable,
                        }
                    },
                    "gameServerTemplate": {
                        "spec": {"containers": [{"name": name, "image": image}]}
                    },
                },
            },
        }
        return documents.from_document(doc, fleet_pb2.Fleet)
