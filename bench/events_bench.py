"""Cost of the hub's event recorder when full; prints one JSON object.

python -m bench.events_bench

Fills the GameServer kind to its bound (every object its last ``per_object`` distinct events,
each message as long as a refusal's) and reports the memory it holds, the time per record, and
the time of the two reads `describe` and a filterless ListEvents make.
"""

from __future__ import annotations

import gc
import json
import time

from hub.federation.events import EventRecorder, game_server_ref

MESSAGE = (
    "is Allocated: opsState Maintaining would un-allocate it; that needs allow_unallocate "
    "(--force) (asked by user alice; refused by the hub)"
)


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def main() -> None:
    recorder = EventRecorder()
    gc.collect()
    before = _rss_mib()
    started = time.perf_counter()
    count = 0
    for index in range(recorder.max_objects):
        ref = game_server_ref("demo", f"cluster-{index % 200}", f"arena-{index}")
        for repeat in range(recorder.per_object):
            recorder.warning(ref, "UpdateRefused", f"{MESSAGE} #{repeat}", "hub/api")
            count += 1
    record_s = (time.perf_counter() - started) / count
    gc.collect()
    held = _rss_mib() - before
    started = time.perf_counter()
    recorder.events("GameServer", "demo", "cluster-5/arena-5")
    one_s = time.perf_counter() - started
    started = time.perf_counter()
    recorder.events(limit=100)
    all_s = time.perf_counter() - started
    print(
        json.dumps(
            {
                "events": count,
                "objects": recorder.max_objects,
                "per_object": recorder.per_object,
                "rss_mib": round(held, 1),
                "record_us": round(record_s * 1e6, 2),
                "one_object_us": round(one_s * 1e6, 1),
                "all_newest_100_ms": round(all_s * 1e3, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
