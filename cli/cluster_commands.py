"""get, register, cordon, uncordon and remove clusters."""

from __future__ import annotations

import argparse
import sys
import time

from gamefleet.v1 import cluster_pb2, cluster_pb2_grpc

from . import connection, output
from .errors import CliError

CLUSTER_API_VERSION = "gamefleet.io/v1"


def _stub(args: argparse.Namespace) -> cluster_pb2_grpc.ClusterServiceStub:
    return cluster_pb2_grpc.ClusterServiceStub(
        connection.open_channel(connection.target_from(args))
    )


def _labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--label: {pair!r} is not KEY=VALUE")
        labels[key] = value
    return labels


# ClusterService has no watch: `get clusters -w` lists again this often and prints what changed.
WATCH_POLL_S = 2.0


def _headers(fmt: str) -> list[str]:
    headers = ["NAME", "STATUS", "REGION", "CLOUD", "AGENT", "NODES", "AGE"]
    if fmt == "wide":
        headers += ["LABELS"]
    return headers


def _row(cluster: cluster_pb2.Cluster, fmt: str) -> list[object]:
    labels = cluster.metadata.labels
    row: list[object] = [
        cluster.metadata.name,
        cluster.status.phase,
        labels.get("region", "-"),
        labels.get("cloud", "-"),
        cluster.status.agent_version or "-",
        cluster.status.capacity.nodes,
        output.age(cluster.metadata.create_time),
    ]
    if fmt == "wide":
        row.append(output.labels_text(labels) or "-")
    return row


def _print_clusters(clusters: list[cluster_pb2.Cluster], fmt: str) -> None:
    if fmt in ("yaml", "json"):
        docs = [output.document(c, CLUSTER_API_VERSION, "Cluster") for c in clusters]
        output.print_documents(docs, fmt)
        return
    output.print_table(_headers(fmt), [_row(cluster, fmt) for cluster in clusters])


def _unchanging(cluster: cluster_pb2.Cluster) -> bytes:
    """The cluster without what changes on every heartbeat: a watch prints real changes."""
    copy = cluster_pb2.Cluster()
    copy.CopyFrom(cluster)
    copy.status.ClearField("last_heartbeat_time")
    return copy.SerializeToString(deterministic=True)


def _watch(stub: cluster_pb2_grpc.ClusterServiceStub, args: argparse.Namespace) -> None:
    headers = (["EVENT"] if args.output_watch_events else []) + _headers(args.output)
    rows = output.RowStream(headers)
    shown: dict[str, tuple[bytes, cluster_pb2.Cluster]] = {}

    def emit(kind: str, cluster: cluster_pb2.Cluster) -> None:
        if args.output in ("yaml", "json"):
            doc = output.document(cluster, CLUSTER_API_VERSION, "Cluster")
            output.print_watched_document(doc, args.output)
            return
        prefix: list[object] = [kind] if args.output_watch_events else []
        rows.row(prefix + _row(cluster, args.output))

    while True:
        listed = stub.ListClusters(cluster_pb2.ListClustersRequest(label_selector=args.selector))
        current = {
            c.metadata.name: c
            for c in listed.clusters
            if not args.name or c.metadata.name == args.name
        }
        for name, cluster in current.items():
            seen = _unchanging(cluster)
            before = shown.get(name)
            if before is None or before[0] != seen:
                emit("ADDED" if before is None else "MODIFIED", cluster)
                shown[name] = (seen, cluster)
        for name in [name for name in shown if name not in current]:
            emit("DELETED", shown.pop(name)[1])
        time.sleep(WATCH_POLL_S)


def get(args: argparse.Namespace) -> None:
    stub = _stub(args)
    if args.watch:
        _watch(stub, args)
        return
    if args.name:
        _print_clusters([stub.GetCluster(cluster_pb2.ClusterRef(name=args.name))], args.output)
        return
    clusters = list_clusters(stub, cluster_pb2.ListClustersRequest(label_selector=args.selector))
    if not clusters and args.output not in ("yaml", "json"):
        sys.stderr.write("No clusters found.\n")
        return
    _print_clusters(clusters, args.output)


def list_clusters(
    stub: cluster_pb2_grpc.ClusterServiceStub, request: cluster_pb2.ListClustersRequest
) -> list[cluster_pb2.Cluster]:
    """Every cluster the request selects, following next_page_token to the last page."""
    clusters: list[cluster_pb2.Cluster] = []
    while True:
        response = stub.ListClusters(request)
        clusters += response.clusters
        if not response.next_page_token:
            return clusters
        request.page_token = response.next_page_token


def register(args: argparse.Namespace) -> None:
    cluster = cluster_pb2.Cluster()
    cluster.metadata.name = args.name
    cluster.metadata.labels.update(_labels(args.label))
    _stub(args).RegisterCluster(cluster_pb2.RegisterClusterRequest(cluster=cluster))
    sys.stdout.write(f"cluster/{args.name} registered\n")


def cordon(args: argparse.Namespace) -> None:
    _stub(args).CordonCluster(cluster_pb2.ClusterRef(name=args.name))
    sys.stdout.write(f"cluster/{args.name} cordoned\n")


def uncordon(args: argparse.Namespace) -> None:
    _stub(args).UncordonCluster(cluster_pb2.ClusterRef(name=args.name))
    sys.stdout.write(f"cluster/{args.name} uncordoned\n")


def remove(args: argparse.Namespace) -> None:
    _stub(args).RemoveCluster(cluster_pb2.ClusterRef(name=args.name))
    sys.stdout.write(f"cluster/{args.name} removed\n")
