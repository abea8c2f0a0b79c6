"""Benchmarks of the local clusters; each prints one JSON object per figure.

python -m bench.local_clusters build        # cold build: empty Go and binary caches
python -m bench.local_clusters start        # warm start of N clusters (binaries cached)
python -m bench.local_clusters rss          # resident memory per running cluster
python -m bench.local_clusters pods         # pod creation rate as one cluster fills up
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client

from bench import machine
from tests.localcluster import manager, process, state
from tests.localcluster.nodes import api
from tests.localcluster.versions import BUILD_SCRIPT, pins


def _emit(figure: str, value: float, unit: str, **parameters: Any) -> None:
    record = {
        "figure": figure,
        "value": round(value, 2),
        "unit": unit,
        "parameters": {**parameters, **pins()},
        "machine": machine.describe(),
    }
    print(json.dumps(record), flush=True)


def bench_build(_: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="gf-coldbuild-") as tmp:
        env = {
            **os.environ,
            "GAMEFLEET_CACHE": f"{tmp}/cache",
            "GOMODCACHE": f"{tmp}/gomod",
            "GOCACHE": f"{tmp}/gocache",
        }
        began = time.monotonic()
        subprocess.run(["bash", str(BUILD_SCRIPT)], env=env, check=True)
        took = time.monotonic() - began
        # The module cache is read-only by design; make it removable.
        subprocess.run(["chmod", "-R", "u+w", tmp], check=False)
    _emit("cold_build", took, "s", binaries="etcd kube-* kubectl kwok", cores=os.cpu_count())


def bench_start(args: argparse.Namespace) -> None:
    manager.down()
    began = time.monotonic()
    manager.ensure(args.clusters, args.nodes)
    took = time.monotonic() - began
    _emit("warm_start", took, "s", clusters=args.clusters, nodes=args.nodes)


def bench_rss(_: argparse.Namespace) -> None:
    for c in state.load_all():
        per = {name: process.rss_kib(pid) / 1024 for name, (pid, _) in c.pids.items()}
        _emit("rss_per_cluster", sum(per.values()), "MiB", cluster=c.name, nodes=c.nodes,
              pods=_pod_count(c), processes={k: round(v, 1) for k, v in per.items()})  # fmt: skip


def _pod_count(c: state.Cluster) -> int:
    return len(client.CoreV1Api(api(c)).list_pod_for_all_namespaces().items)


def _all_running(core: client.CoreV1Api, namespace: str) -> bool:
    # Server-side filter with limit=1: the poll stays cheap however many pods exist.
    left = core.list_namespaced_pod(namespace, field_selector="status.phase!=Running", limit=1)
    return not left.items


def bench_pods(args: argparse.Namespace) -> None:
    cluster = manager.ensure(1, args.nodes)[0][0]
    core = client.CoreV1Api(api(cluster))
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    spec = client.V1PodSpec(containers=[client.V1Container(name="g", image="example.invalid/g")])
    best_rate = 0.0
    created = 0
    try:
        with ThreadPoolExecutor(args.workers) as pool:
            while created < args.max_pods:
                names = [f"p{created + i}" for i in range(args.batch)]
                began = time.monotonic()
                pods = [
                    client.V1Pod(metadata=client.V1ObjectMeta(name=n), spec=spec) for n in names
                ]
                list(pool.map(lambda p: core.create_namespaced_pod(ns, p), pods))
                create_s = time.monotonic() - began
                created += args.batch
                while not _all_running(core, ns):
                    time.sleep(0.2)
                rate = args.batch / (time.monotonic() - began)
                best_rate = max(best_rate, rate)
                _emit("pods_running_rate", rate, "pods/s", total_pods=created, batch=args.batch,
                      create_rate=round(args.batch / create_s, 1), workers=args.workers,
                      nodes=args.nodes)  # fmt: skip
                if rate < best_rate * args.slowdown:
                    break
        _emit("pods_before_slowdown", created, "pods", nodes=args.nodes,
              slowdown_threshold=args.slowdown, best_rate=round(best_rate, 1))  # fmt: skip
        bench_rss(args)
    finally:
        core.delete_namespace(ns)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("figure", choices=["build", "start", "rss", "pods"])
    parser.add_argument("--clusters", type=int, default=2)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--max-pods", type=int, default=4000)
    parser.add_argument("--slowdown", type=float, default=0.5, help="stop when rate < this x first")
    args = parser.parse_args()
    {"build": bench_build, "start": bench_start, "rss": bench_rss, "pods": bench_pods}[args.figure](
        args
    )


if __name__ == "__main__":
    main()
