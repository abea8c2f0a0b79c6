"""Who deleted the bench's pods and GameServers: the local API server's audit log
(`tests/localcluster/binary.py` turns it on), kept with the agents' logs in the bench's
directory and summed up by user and user agent."""

from __future__ import annotations

import collections
import json
import shutil
from pathlib import Path
from typing import Any

from tests.localcluster import binary
from tests.localcluster.state import Cluster

DELETES = ("delete", "deletecollection")


def events(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    """The audit events of `namespace` (rotated files first), oldest first."""
    log = binary.audit_log(cluster)
    files = [*sorted(log.parent.glob(f"{log.stem}-*{log.suffix}")), log]
    found = []
    for path in files:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            with_ns = f'"namespace":"{namespace}"'
            if with_ns in line:
                found.append(json.loads(line))
    return found


def keep(cluster: Cluster, namespace: str, workdir: Path) -> list[dict[str, Any]]:
    """Write the namespace's audit events to `workdir`/audit-<cluster>.jsonl, with a copy of the
    cluster's kwok log (its pod deletes; the cluster's directory goes with the cluster); returns
    the events."""
    kwok = cluster.dir / "logs" / "kwok.log"
    if kwok.is_file():
        shutil.copyfile(kwok, workdir / f"kwok-{cluster.name}.log")
    found = events(cluster, namespace)
    with (workdir / f"audit-{cluster.name}.jsonl").open("w") as out:
        for event in found:
            out.write(json.dumps(event) + "\n")
    return found


def deleters(found: list[dict[str, Any]]) -> dict[str, int]:
    """Deletes by "resource verb by user (user agent)", answered ones only."""
    tally: collections.Counter[str] = collections.Counter()
    for event in found:
        if event.get("verb") not in DELETES or event.get("stage") != "ResponseComplete":
            continue
        ref = event.get("objectRef") or {}
        user = (event.get("user") or {}).get("username", "?")
        code = (event.get("responseStatus") or {}).get("code", "?")
        agent = event.get("userAgent")
        tally[f"{ref.get('resource')} {event['verb']} {code} by {user} ({agent})"] += 1
    return dict(tally)
