"""python -m tests.localcluster {build,up,down,status,env}: local Kubernetes clusters."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from tests.localcluster import manager, state
from tests.localcluster.versions import BUILD_SCRIPT, pins


def cmd_build(args: argparse.Namespace) -> int:
    return subprocess.run(["bash", str(BUILD_SCRIPT), *args.targets], check=False).returncode


def cmd_up(args: argparse.Namespace) -> int:
    began = time.monotonic()
    clusters, started = manager.ensure(args.count, args.nodes, args.runtime)
    took = time.monotonic() - began
    for c in clusters:
        how = "started" if c.name in started else "reused"
        print(f"{c.name}: {how}, {c.api_url}, region {c.region}, pods {c.pod_cidr or '-'}")
        print(f"  kubeconfig: {c.kubeconfig}")
    print(f"ready in {took:.1f}s")
    kubectl = f"kubectl {pins()['KUBERNETES_VERSION']}" if args.runtime == "binary" else "kubectl"
    print(
        f"# {kubectl} on PATH and every cluster in KUBECONFIG (kubectl --context gamefleet-2 ...):"
        '\n#   eval "$(.venv/bin/python -m tests.localcluster env)"  (as JSON: ... status)'
    )
    print("\n".join(manager.env_lines()))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    stopped = manager.down(args.names or None)
    print("stopped: " + (", ".join(stopped) if stopped else "nothing"))
    return 0


def cmd_status(_: argparse.Namespace) -> int:
    rows = [
        {
            "name": c.name,
            "runtime": c.runtime,
            "healthy": manager.runtime(c.runtime).healthy(c),
            "api_url": c.api_url,
            "kubeconfig": str(c.kubeconfig),
            "region": c.region,
            "pod_cidr": c.pod_cidr,
            "ports": c.ports,
            "pids": {k: v[0] for k, v in c.pids.items()},
        }
        for c in state.load_all()
    ]
    print(json.dumps(rows, indent=2))
    return 0


def cmd_env(_: argparse.Namespace) -> int:
    print("\n".join(manager.env_lines()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.localcluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the pinned binaries into the cache")
    build.add_argument("targets", nargs="*", help="etcd, kubernetes, kwok (default: all)")
    build.set_defaults(func=cmd_build)
    up = sub.add_parser("up", help="start clusters gamefleet-1..N, reusing healthy ones")
    up.add_argument("--count", type=int, default=2)
    up.add_argument("--nodes", type=int, default=3)
    up.add_argument(
        "--runtime", default=os.environ.get("CLUSTER_RUNTIME", "binary"), choices=manager.RUNTIMES
    )
    up.set_defaults(func=cmd_up)
    down = sub.add_parser(
        "down", help="stop clusters and remove their data (default: every one of this checkout)"
    )
    down.add_argument("names", nargs="*", help="cluster names (default: all)")
    down.set_defaults(func=cmd_down)
    sub.add_parser("status", help="recorded clusters as JSON").set_defaults(func=cmd_status)
    sub.add_parser("env", help="shell lines for kubectl and KUBECONFIG").set_defaults(func=cmd_env)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
