"""describe fleet | gameserver | cluster: one object's status, conditions, where it runs, and
the hub's recent events of it, laid out as `kubectl describe` lays them out."""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Sequence

import grpc
from gamefleet.v1 import (
    cluster_pb2,
    cluster_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    gameserver_pb2_grpc,
    meta_pb2,
)
from google.protobuf import timestamp_pb2

from . import connection, event_output, fleet_commands, gameserver_commands, output


def _channel(args: argparse.Namespace) -> grpc.Channel:
    return connection.open_channel(connection.target_from(args))


def _time(stamp: timestamp_pb2.Timestamp) -> str:
    if not stamp.seconds:
        return ""
    at = stamp.ToDatetime(datetime.UTC).replace(microsecond=0).isoformat()
    return f"{at} ({output.age(stamp)} ago)"


def _conditions(conditions: Sequence[meta_pb2.Condition]) -> None:
    rows = [[c.type, c.status, c.reason, c.message] for c in conditions]
    output.print_section("Conditions", ["Type", "Status", "Reason", "Message"], rows)


def fleet(args: argparse.Namespace) -> None:
    channel = _channel(args)
    stub = fleet_pb2_grpc.FleetServiceStub(channel)
    ref = fleet_pb2.FleetRef(namespace=args.namespace, name=args.name)
    found = stub.GetFleet(fleet_pb2.GetFleetRequest(ref=ref))
    meta, spec, status = found.metadata, found.spec, found.status
    counts = status.counts
    output.print_fields(
        [
            ("Name", meta.name),
            ("Namespace", meta.namespace),
            ("Labels", output.labels_text(meta.labels)),
            ("Generation", meta.generation),
            ("Created", _time(meta.create_time)),
            ("Replicas", spec.replicas),
            ("Strategy", spec.placement.strategy or "Weighted"),
            ("Update policy", spec.update_policy.type or "Parallel"),
            ("Network", spec.template.network.network_type),
            ("Failover", "enabled" if spec.placement.failover.enabled else "off"),
            ("Problem", fleet_commands.problem(found)),
        ]
    )
    sys.stdout.write("Status:\n")
    output.print_fields(
        [
            ("Placed", status.replicas),
            ("Replicas", counts.replicas),
            ("Ready", counts.ready),
            ("Allocated", counts.allocated),
            ("Maintaining", counts.maintaining),
            ("Wait to be deleted", counts.wait_to_be_deleted),
            ("Updated", counts.updated),
            ("Observed generation", status.observed_generation),
        ],
        indent=2,
    )
    _conditions(status.conditions)
    rows = [
        [
            c.cluster,
            c.cluster_phase or "-",
            c.desired_replicas,
            c.counts.replicas,
            c.counts.ready,
            c.counts.allocated,
            c.observed_generation,
        ]
        for c in status.clusters
    ]
    headers = ["Cluster", "Phase", "Desired", "Replicas", "Ready", "Allocated", "Generation"]
    output.print_section("Clusters", headers, rows)
    event_output.print_events(channel, "Fleet", meta.namespace, meta.name)


def gameserver(args: argparse.Namespace) -> None:
    channel = _channel(args)
    stub = gameserver_pb2_grpc.GameServerServiceStub(channel)
    server = gameserver_commands.get_one(stub, args, args.name)
    images = [f"{name}={image}" for name, image in sorted(server.images.items())]
    output.print_fields(
        [
            ("Name", server.name),
            ("Namespace", server.namespace),
            ("Cluster", server.cluster),
            ("Fleet", server.fleet),
            ("Labels", output.labels_text(server.labels)),
            ("State", server.state),
            ("Ops state", server.ops_state or "None"),
            ("Allocation request", server.allocation_request_id),
            ("Deletion priority", server.deletion_priority),
            ("Update priority", server.update_priority),
            ("Network disabled", str(server.network_disabled).lower()),
            ("Address", gameserver_commands.address(server)),
            ("Node", server.node),
            ("Zone", server.zone),
            ("Images", ", ".join(images)),
            ("Updated", "yes" if server.updated else "no"),
            ("Last transition", _time(server.last_transition_time)),
        ]
    )
    rows = []
    for quality in server.quality_conditions:
        fields = quality.fields
        rows.append(
            [
                fields["name"].string_value if "name" in fields else "-",
                fields["status"].string_value if "status" in fields else "-",
                fields["result"].string_value if "result" in fields else "",
            ]
        )
    output.print_section("Service qualities", ["Name", "Status", "Result"], rows)
    name = f"{server.cluster}/{server.name}"
    event_output.print_events(channel, "GameServer", server.namespace, name)


def cluster(args: argparse.Namespace) -> None:
    channel = _channel(args)
    found = cluster_pb2_grpc.ClusterServiceStub(channel).GetCluster(
        cluster_pb2.ClusterRef(name=args.name)
    )
    meta, status = found.metadata, found.status
    capacity = status.capacity
    output.print_fields(
        [
            ("Name", meta.name),
            ("Labels", output.labels_text(meta.labels)),
            ("Created", _time(meta.create_time)),
            ("Phase", status.phase),
            ("Cordoned", "yes" if found.spec.cordoned else "no"),
            ("Agent version", status.agent_version),
            ("Network plugins", ", ".join(status.network_plugins)),
            ("Last heartbeat", _time(status.last_heartbeat_time)),
        ]
    )
    sys.stdout.write("Capacity:\n")
    output.print_fields(
        [
            ("Nodes", capacity.nodes),
            ("CPU", capacity.cpu),
            ("Memory", capacity.memory),
            ("Pods", capacity.pods),
        ],
        indent=2,
    )
    _conditions(status.conditions)
    fleets = fleet_commands.list_fleets(
        fleet_pb2_grpc.FleetServiceStub(channel), fleet_pb2.ListFleetsRequest()
    )
    rows = [
        [
            f.metadata.namespace,
            f.metadata.name,
            placed.desired_replicas,
            placed.counts.replicas,
            placed.counts.ready,
            placed.counts.allocated,
        ]
        for f in fleets
        for placed in f.status.clusters
        if placed.cluster == meta.name
    ]
    headers = ["Namespace", "Fleet", "Desired", "Replicas", "Ready", "Allocated"]
    output.print_section("Fleets", headers, rows)
    event_output.print_events(channel, "Cluster", "", meta.name)
