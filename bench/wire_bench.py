"""A desired set's spec on the agent stream: JSON bytes vs a protobuf Struct, side by side.

    .venv/bin/python -m bench.wire_bench [--runs 2000]

The spec is one cluster's rendering of `examples/arena.yaml` with a service quality and region
overrides (`bench.placement_bench`). Reports the median microseconds for the hub to build the
DesiredSet message and serialize it, and for the agent to parse it and read the spec as a
document, for each form, and the message's bytes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from gamefleet import protocol
from gamefleet.v1 import agent_pb2
from google.protobuf import json_format, struct_pb2

from bench.machine import emit
from bench.placement_bench import arena
from hub.core import placement


def _median_us(runs: int, work: Callable[[], object]) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return round(statistics.median(samples) * 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    cluster = placement.ClusterView("cluster-0", {"region": "region-0"}, True)
    spec, _ = placement.render_spec(arena(5), cluster)
    spec["replicas"] = 100

    def send_struct() -> bytes:
        struct = struct_pb2.Struct()
        struct.update(spec)
        return agent_pb2.DesiredSet(name="arena", spec=struct).SerializeToString()

    def send_json() -> bytes:
        body = json.dumps(spec, separators=(",", ":"), ensure_ascii=False).encode()
        return agent_pb2.DesiredSet(name="arena", spec_json=body).SerializeToString()

    as_struct, as_json = send_struct(), send_json()

    def read_struct() -> object:
        desired = agent_pb2.DesiredSet.FromString(as_struct)
        return protocol.whole_numbers(json_format.MessageToDict(desired.spec))

    def read_json() -> object:
        return json.loads(agent_pb2.DesiredSet.FromString(as_json).spec_json)

    assert read_struct() == read_json()
    for form, send, read, size in (
        ("struct", send_struct, read_struct, len(as_struct)),
        ("json", send_json, read_json, len(as_json)),
    ):
        emit("desired_set_send_us", _median_us(args.runs, send), "us", form=form, bytes=size)
        emit("desired_set_read_us", _median_us(args.runs, read), "us", form=form, bytes=size)


if __name__ == "__main__":
    main()
