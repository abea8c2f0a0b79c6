"""The default runtime: etcd, control plane and kwok as local processes on loopback."""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
from functools import partial
from typing import TYPE_CHECKING

from tests.localcluster import kubeconfig, nodes, pki, process
from tests.localcluster.ports import base_slot, pick_slot, pod_cidr, port_free, slot_ports
from tests.localcluster.state import CHECKOUT, Cluster, cluster_name, region_of
from tests.localcluster.versions import binary_dir, binary_path, kwok_file
from tests.localcluster.wait import FatalError, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

SERVICE_CIDR = "10.96.0.0/16"
START_TIMEOUT = 120.0
# Emulated kubelet features; tests opt in per pod by creating e.g. a ClusterExec object.
KWOK_CRDS = ("Exec", "ClusterExec", "Logs", "ClusterLogs", "PortForward", "ClusterPortForward")
# gamefleet's own kwok stages (a container restarted on its new image after an in-place patch).
OWN_STAGES = pathlib.Path(__file__).with_name("stages.yaml")


def kwok_stages() -> list[pathlib.Path]:
    """The stage files kwok plays: the release's defaults, then gamefleet's own."""
    return [kwok_file("stages.yaml"), OWN_STAGES]


# Changes when the control plane's flags change in a way tests depend on, so a cluster started
# without them is not reused. aggregation: the front proxy that extension API servers trust.
CONTROL_PLANE = b"aggregation-v1 audit-v1"
# Who deleted or rewrote a pod or a GameServer (user, user agent, time), for the chaos bench and
# any test that loses one; metadata only, and only these verbs, so every test can afford it.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        # With the request's body: the DeleteOptions show whether kwok names the pod's uid.
        {
            "level": "Request",
            "users": ["kwok-controller"],
            "verbs": ["delete"],
            "resources": [{"group": "", "resources": ["pods"]}],
        },
        {
            "level": "Metadata",
            "verbs": ["delete", "deletecollection", "patch", "update"],
            "resources": [
                {"group": "", "resources": ["pods"]},
                {"group": "game.kruise.io", "resources": ["gameservers"]},
            ],
        },
        {"level": "None"},
    ],
}


def audit_log(c: Cluster) -> pathlib.Path:
    """The API server's audit log of pod and GameServer deletes and writes (JSON lines)."""
    return c.dir / "logs" / "audit.log"


def setup_fingerprint() -> str:
    """Changes when the stages or the control plane's flags change, so a cluster started with
    others is not reused."""
    digest = hashlib.sha256(CONTROL_PLANE)
    digest.update(binary_dir("kwok").name.encode())  # a cluster's kwok runs the patched build
    for path in kwok_stages():
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def plan(indexes: list[int], nodes_per_cluster: int) -> list[Cluster]:
    taken: set[int] = set()
    planned = []
    for i in indexes:
        slot = pick_slot(base_slot(CHECKOUT) + i, taken)
        taken.add(slot)
        ports = slot_ports(slot)
        region = region_of(i)
        planned.append(
            Cluster(
                name=cluster_name(i),
                index=i,
                runtime="binary",
                api_url=f"https://127.0.0.1:{ports['apiserver']}",
                region=region,
                zone_prefix=region,
                nodes=nodes_per_cluster,
                pod_cidr=pod_cidr(slot),
                ports=ports,
            )
        )
    return planned


def _start(cluster: Cluster, name: str, binary: str, args: list[str]) -> None:
    exe = str(binary_path(binary))
    pid = process.spawn([exe, *args], cluster.dir / "logs" / f"{name}.log")
    cluster.pids[name] = (pid, exe)
    cluster.save()


def _start_store_and_apiserver(c: Cluster) -> None:
    d, p = c.dir, c.ports
    pki.generate(d / "pki", c.name)
    kubeconfig.write(c.kubeconfig, name=c.name, server=c.api_url, pki=d / "pki", client="admin")
    for comp in ("controller-manager", "scheduler", "kwok"):
        kubeconfig.write(
            d / f"{comp}.kubeconfig", name=c.name, server=c.api_url, pki=d / "pki", client=comp
        )
    etcd_url, peer_url = f"http://127.0.0.1:{p['etcd']}", f"http://127.0.0.1:{p['etcd_peer']}"
    _start(c, "etcd", "etcd", [
        f"--name={c.name}", f"--data-dir={d / 'etcd'}",
        f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
        f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster={c.name}={peer_url}",
        # Throwaway test data: durability is not worth the fsync latency.
        "--unsafe-no-fsync", "--quota-backend-bytes=4294967296", "--log-level=warn",
    ])  # fmt: skip
    k = d / "pki"
    policy = d / "audit-policy.json"
    policy.write_text(json.dumps(AUDIT_POLICY))
    _start(c, "kube-apiserver", "kube-apiserver", [
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
        # Loopback cannot back the kubernetes Service endpoints; nothing in-cluster needs them.
        "--endpoint-reconciler-type=none",
        f"--secure-port={p['apiserver']}",
        f"--tls-cert-file={k / 'serving.crt'}", f"--tls-private-key-file={k / 'serving.key'}",
        f"--client-ca-file={k / 'ca.crt'}",
        f"--kubelet-client-certificate={k / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={k / 'apiserver-kubelet-client.key'}",
        f"--service-account-key-file={k / 'sa.pub'}",
        f"--service-account-signing-key-file={k / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC", "--allow-privileged=true",
        # Tests drive thousands of pods through one apiserver.
        "--max-requests-inflight=1000", "--max-mutating-requests-inflight=500",
        # The aggregation layer, as kubeadm and kind set it up: extension API servers (KEDA's
        # metrics adapter) authenticate the API server's proxied calls by this client cert.
        f"--proxy-client-cert-file={k / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={k / 'front-proxy-client.key'}",
        f"--requestheader-client-ca-file={k / 'ca.crt'}",
        f"--requestheader-allowed-names={pki.FRONT_PROXY_CLIENT}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--audit-policy-file={policy}", f"--audit-log-path={audit_log(c)}",
        "--audit-log-maxsize=200", "--audit-log-maxbackup=2",
    ])  # fmt: skip


def _scheduler_config(c: Cluster) -> str:
    path = c.dir / "scheduler.json"
    path.write_text(json.dumps({
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {
            "kubeconfig": str(c.dir / "scheduler.kubeconfig"), "qps": 500, "burst": 1000,
        },
        "leaderElection": {"leaderElect": False},
    }))  # fmt: skip
    return str(path)


def _start_components(c: Cluster) -> None:
    d, p, k = c.dir, c.ports, c.dir / "pki"
    kcm = str(d / "controller-manager.kubeconfig")
    _start(c, "kube-controller-manager", "kube-controller-manager", [
        f"--kubeconfig={kcm}", f"--authentication-kubeconfig={kcm}",
        f"--authorization-kubeconfig={kcm}",
        "--bind-address=127.0.0.1", f"--secure-port={p['controller_manager']}",
        "--leader-elect=false", "--use-service-account-credentials=true",
        f"--service-account-private-key-file={k / 'sa.key'}", f"--root-ca-file={k / 'ca.crt'}",
        f"--cluster-signing-cert-file={k / 'ca.crt'}",
        f"--cluster-signing-key-file={k / 'ca.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--kube-api-qps=500", "--kube-api-burst=1000",
    ])  # fmt: skip
    sched = str(d / "scheduler.kubeconfig")
    _start(c, "kube-scheduler", "kube-scheduler", [
        f"--config={_scheduler_config(c)}",
        f"--authentication-kubeconfig={sched}", f"--authorization-kubeconfig={sched}",
        "--bind-address=127.0.0.1", f"--secure-port={p['scheduler']}",
    ])  # fmt: skip
    c.setup = setup_fingerprint()
    _start(c, "kwok", "kwok", [
        *(f"--config={path}" for path in kwok_stages()),
        f"--kubeconfig={d / 'kwok.kubeconfig'}",
        f"--manage-nodes-with-annotation-selector={nodes.KWOK_ANNOTATION}=fake",
        f"--cidr={c.pod_cidr}",
        # The apiserver reaches kwok's kubelet-like server (exec, logs, port-forward) here.
        "--node-ip=127.0.0.1", f"--node-port={p['kwok']}",
        f"--server-address=127.0.0.1:{p['kwok']}",
        f"--tls-cert-file={k / 'serving.crt'}", f"--tls-private-key-file={k / 'serving.key'}",
        "--node-lease-duration-seconds=40", f"--enable-crds={','.join(KWOK_CRDS)}",
    ])  # fmt: skip


def up(clusters: list[Cluster]) -> None:
    """Start every cluster; stages run across all clusters so their start-up overlaps."""
    for c in clusters:
        c.dir.mkdir(parents=True, exist_ok=True)
        c.save()
        _start_store_and_apiserver(c)
    for c in clusters:
        wait_until(
            f"{c.name} apiserver /readyz", partial(_check, c, nodes.api_ready), START_TIMEOUT
        )
    for c in clusters:
        nodes.install_kwok_crds(c, kwok_file("crds.yaml"))
        _start_components(c)
        nodes.create_nodes(c)
    for c in clusters:
        wait_until(
            f"{c.nodes} Ready nodes in {c.name}",
            partial(_check, c, nodes.nodes_ready),
            START_TIMEOUT,
        )
        wait_until(
            f"default ServiceAccount in {c.name}",
            partial(_check, c, nodes.default_service_account),
            START_TIMEOUT,
        )


def _check(c: Cluster, probe: Callable[[Cluster], bool]) -> bool:
    dead = [name for name, (pid, exe) in c.pids.items() if not process.alive(pid, exe)]
    if dead:
        tail = "\n".join(_log_tail(c, name) for name in dead)
        raise FatalError(f"{c.name}: {', '.join(dead)} exited:\n{tail}")
    return probe(c)


def _log_tail(c: Cluster, name: str, lines: int = 15) -> str:
    log = c.dir / "logs" / f"{name}.log"
    text = log.read_text(errors="replace").splitlines()[-lines:] if log.is_file() else []
    return f"--- {log} (last {lines} lines)\n" + "\n".join(text)


def healthy(c: Cluster) -> bool:
    try:
        return (
            c.setup == setup_fingerprint()
            and all(process.alive(pid, exe) for pid, exe in c.pids.values())
            and nodes.api_ready(c)
        )
    except Exception:
        return False


def kill_component(c: Cluster, name: str) -> list[str]:
    """SIGKILL one of the cluster's processes (e.g. "kube-apiserver"), as a crash would; returns
    its command line, to start it again with `start_component`."""
    pid, exe = c.pids[name]
    command = [
        part.decode()
        for part in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if part
    ]
    process.kill(pid, exe)
    return command


def start_component(c: Cluster, name: str, command: list[str]) -> None:
    """Start a process `kill_component` killed again, with the same command line and log,
    once the ports it listens on are free (a killed API server's port was seen bound seconds
    after the process had gone; the new one then failed to listen and exited)."""
    for port in _listen_ports(command):
        wait_until(f"{name}'s port {port} free", partial(port_free, port), timeout=120)
    pid = process.spawn(command, c.dir / "logs" / f"{name}.log")
    c.pids[name] = (pid, command[0])
    c.save()


def _listen_ports(command: list[str]) -> list[int]:
    flags = ("--secure-port=", "--port=")
    return [int(arg.split("=", 1)[1]) for arg in command if arg.startswith(flags)]


def down(c: Cluster) -> None:
    # Reverse start order: clients first, etcd last.
    for _name, (pid, exe) in reversed(list(c.pids.items())):
        process.stop(pid, exe)
    shutil.rmtree(c.dir, ignore_errors=True)
