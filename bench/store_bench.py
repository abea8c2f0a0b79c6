"""Store latency and throughput for each backend; prints one JSON object per figure.

python -m bench.store_bench [--ops 1000] [--concurrency 16] [--value-bytes 1024] [--etcd URL]

Sequential put / compare-and-swap put / get latency (p50, p99), concurrent put and get throughput
with ``--concurrency`` tasks on one event loop, and one list of every key written.

Starts its own etcd (the pinned binary, see tests/integration/store/etcd_server.py) unless
``--etcd URL`` names one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import statistics
import tempfile
import time
import uuid
from typing import Any

from bench import machine
from hub import store as hubstore
from tests.integration.store import etcd_server


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(s: hubstore.Store, ops: int, concurrency: int, value: bytes) -> dict[str, Any]:
    put_ms: list[float] = []
    for i in range(ops):
        started = time.perf_counter()
        await s.put(f"bench/{i:08d}", value)
        put_ms.append((time.perf_counter() - started) * 1000)
    get_ms: list[float] = []
    for i in range(ops):
        started = time.perf_counter()
        await s.get(f"bench/{i:08d}")
        get_ms.append((time.perf_counter() - started) * 1000)
    cas_ms: list[float] = []
    revision = await s.put("bench/cas", value)
    for _ in range(ops):
        started = time.perf_counter()
        revision = await s.put("bench/cas", value, expected_mod_revision=revision)
        cas_ms.append((time.perf_counter() - started) * 1000)

    async def writer(worker: int) -> None:
        for i in range(ops // concurrency):
            await s.put(f"bench/c{worker:03d}/{i:08d}", value)

    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(concurrency)))
    put_throughput = (ops // concurrency) * concurrency / (time.perf_counter() - started)

    async def reader(worker: int) -> None:
        for i in range(ops // concurrency):
            await s.get(f"bench/{(worker * 7919 + i) % ops:08d}")

    started = time.perf_counter()
    await asyncio.gather(*(reader(w) for w in range(concurrency)))
    get_throughput = (ops // concurrency) * concurrency / (time.perf_counter() - started)

    started = time.perf_counter()
    items, _ = await s.list("bench/")
    list_ms = (time.perf_counter() - started) * 1000
    return {
        "put_latency_p50": (_percentile(put_ms, 0.5), "ms"),
        "put_latency_p99": (_percentile(put_ms, 0.99), "ms"),
        "cas_put_latency_p50": (_percentile(cas_ms, 0.5), "ms"),
        "cas_put_latency_p99": (_percentile(cas_ms, 0.99), "ms"),
        "get_latency_p50": (_percentile(get_ms, 0.5), "ms"),
        "get_latency_p99": (_percentile(get_ms, 0.99), "ms"),
        "put_throughput_concurrent": (put_throughput, "ops/s"),
        "get_throughput_concurrent": (get_throughput, "ops/s"),
        "put_latency_mean": (statistics.fmean(put_ms), "ms"),
        f"list_{len(items)}_keys": (list_ms, "ms"),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--value-bytes", type=int, default=1024)
    parser.add_argument("--etcd", help="an existing etcd URL instead of a private etcd")
    args = parser.parse_args()
    value = os.urandom(args.value_bytes)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        etcd_url = args.etcd
        if etcd_url is None:
            workdir = pathlib.Path(tmp) / "etcd"
            workdir.mkdir()
            server = etcd_server.EtcdServer(etcd_server.etcd_binary(), workdir)
            server.start()
            etcd_url = server.url
        backends = {
            "sqlite synchronous=full": f"sqlite://{tmp}/full.db",
            "sqlite synchronous=normal": f"sqlite://{tmp}/normal.db?synchronous=normal",
            "etcd (1 member, local disk)": f"{etcd_url}/bench-{uuid.uuid4().hex}",
        }
        try:
            for name, url in backends.items():
                s = await hubstore.open_store(url)
                try:
                    figures = await _measure(s, args.ops, args.concurrency, value)
                finally:
                    await s.close()
                for figure, (number, unit) in figures.items():
                    results.append(
                        {
                            "figure": figure,
                            "backend": name,
                            "value": round(number, 3),
                            "unit": unit,
                            "parameters": {
                                "ops": args.ops,
                                "concurrency": args.concurrency,
                                "value_bytes": args.value_bytes,
                            },
                            "machine": machine.describe(),
                        }
                    )
        finally:
            if server is not None:
                server.stop()
    for result in results:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
