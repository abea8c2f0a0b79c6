"""Placement's cost: one `place` of a fleet over many clusters (the hub's core, no I/O).

    .venv/bin/python -m bench.placement_bench [--clusters 100] [--regions 5] [--runs 200]

The fleet is `examples/arena.yaml` with a service quality and one override per region
(`placement.overrides` selecting `region`), as a studio spreading one game over clouds writes
it. Reports the median milliseconds of one `place` over `--clusters` Ready clusters spread
over `--regions` regions: each call renders every cluster's spec (template plus the matching
overrides, its hash), then splits the replicas.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import time

from gamefleet.v1 import fleet_pb2

from bench.machine import emit
from cli import manifests
from hub.core import placement

ARENA = pathlib.Path(__file__).resolve().parent.parent / "examples" / "arena.yaml"


def arena(regions: int) -> fleet_pb2.Fleet:
    (fleet,) = manifests.load_fleets(str(ARENA))
    fleet.spec.replicas = 10_000
    quality = fleet.spec.template.service_qualities.add(name="idle", container_name="arena")
    quality.exec.update({"command": ["cat", "/tmp/idle"]})
    action = quality.service_quality_action.add(state=True, ops_state="WaitToBeDeleted")
    action.labels["idle"] = "{{.Result}}"
    for region in range(regions):
        override = fleet.spec.placement.overrides.add()
        override.cluster_selector.match_labels["region"] = f"region-{region}"
        override.patch.update({"network": {"networkType": "Kubernetes-NodePort"}})
    return fleet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--regions", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    fleet = arena(args.regions)
    clusters = [
        placement.ClusterView(f"cluster-{i}", {"region": f"region-{i % args.regions}"}, True)
        for i in range(args.clusters)
    ]
    samples = []
    for _ in range(args.runs):
        start = time.perf_counter()
        placement.place(fleet, clusters)
        samples.append(time.perf_counter() - start)
    emit(
        "placement_place_ms",
        round(statistics.median(samples) * 1000, 3),
        "ms",
        clusters=args.clusters,
        regions=args.regions,
        runs=args.runs,
    )


if __name__ == "__main__":
    main()
