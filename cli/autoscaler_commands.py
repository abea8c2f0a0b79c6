"""apply, get and delete fleet autoscalers."""

from __future__ import annotations

import argparse
import sys

from gamefleet.v1 import autoscaler_pb2, autoscaler_pb2_grpc

from hub.core import values

from . import connection, manifests, output

KIND = "FleetAutoscaler"
# How wide the last decision's reason may be in a table; -o yaml shows every decision whole.
REASON_WIDTH = 60


def _stub(args: argparse.Namespace) -> autoscaler_pb2_grpc.FleetAutoscalerServiceStub:
    return autoscaler_pb2_grpc.FleetAutoscalerServiceStub(
        connection.open_channel(connection.target_from(args))
    )


def _ref(args: argparse.Namespace, name: str) -> autoscaler_pb2.FleetAutoscalerRef:
    return autoscaler_pb2.FleetAutoscalerRef(namespace=args.namespace, name=name)


def apply_one(args: argparse.Namespace, autoscaler: autoscaler_pb2.FleetAutoscaler) -> None:
    """Apply one FleetAutoscaler of a manifest and say what happened, as kubectl does."""
    if not autoscaler.metadata.namespace:
        autoscaler.metadata.namespace = args.namespace
    response = _stub(args).ApplyFleetAutoscaler(
        autoscaler_pb2.ApplyFleetAutoscalerRequest(
            fleet_autoscaler=autoscaler, dry_run=args.dry_run
        )
    )
    verb = "created" if response.created else "configured" if response.changed else "unchanged"
    suffix = " (dry run)" if args.dry_run else ""
    name = response.fleet_autoscaler.metadata.name
    sys.stdout.write(f"fleetautoscaler/{name} {verb}{suffix}\n")


def policy_summary(policy: autoscaler_pb2.AutoscalerPolicy) -> str:
    """The policy in a few words: "Buffer 20/region [0,500]", "Chain[evening,default]"."""
    if policy.type == "Chain":
        return f"Chain[{','.join(entry.id for entry in policy.chain)}]"
    if policy.type == "Buffer":
        buffer = policy.buffer
        size = values.describe(buffer.buffer_size).strip('"')
        label = f"/{buffer.per_cluster_label}" if buffer.per_cluster_label else ""
        return f"Buffer {size}{label} [{buffer.min_replicas},{buffer.max_replicas}]"
    if policy.type in ("Counter", "List"):
        counter = policy.counter if policy.type == "Counter" else policy.list
        size = values.describe(counter.buffer_size).strip('"')
        bounds = f"[{counter.min_capacity},{counter.max_capacity}]"
        return f"{policy.type} {counter.key} {size} {bounds}"
    return policy.type or "-"


def last_decision(status: autoscaler_pb2.FleetAutoscalerStatus, wide: bool) -> str:
    if not status.decisions:
        return "-"
    last = status.decisions[-1]
    when = output.age(last.time)
    text = f"{last.from_replicas}->{last.to_replicas} {last.policy} {when} ago"
    if wide:
        reason = last.reason
        if len(reason) > REASON_WIDTH:
            reason = reason[: REASON_WIDTH - 3] + "..."
        text += f": {reason}"
    return text


def _condition_reason(status: autoscaler_pb2.FleetAutoscalerStatus) -> str:
    for condition in status.conditions:
        if condition.type == "AbleToScale":
            return condition.reason
    return "-"


def print_autoscalers(found: list[autoscaler_pb2.FleetAutoscaler], fmt: str) -> None:
    if fmt in ("yaml", "json"):
        docs = [output.document(a, manifests.FLEET_API_VERSION, KIND) for a in found]
        output.print_documents(docs, fmt)
        return
    headers = ["NAMESPACE", "NAME", "FLEET", "POLICY", "CURRENT", "DESIRED", "STATE"]
    headers += ["LAST DECISION", "AGE"]
    rows = []
    for autoscaler in found:
        status = autoscaler.status
        rows.append(
            [
                autoscaler.metadata.namespace,
                autoscaler.metadata.name,
                autoscaler.spec.fleet_name,
                policy_summary(autoscaler.spec.policy),
                status.current_replicas,
                status.desired_replicas,
                _condition_reason(status) + (" (limited)" if status.scaling_limited else ""),
                last_decision(status, fmt == "wide"),
                output.age(autoscaler.metadata.create_time),
            ]
        )
    output.print_table(headers, rows)


def get(args: argparse.Namespace) -> None:
    stub = _stub(args)
    if args.name:
        found = [
            stub.GetFleetAutoscaler(
                autoscaler_pb2.GetFleetAutoscalerRequest(ref=_ref(args, args.name))
            )
        ]
    else:
        namespace = "" if args.all_namespaces else args.namespace
        listed = stub.ListFleetAutoscalers(
            autoscaler_pb2.ListFleetAutoscalersRequest(namespace=namespace)
        )
        found = list(listed.fleet_autoscalers)
    if not found and args.output not in ("yaml", "json"):
        sys.stderr.write("No fleet autoscalers found.\n")
        return
    print_autoscalers(found, args.output)


def delete(args: argparse.Namespace) -> None:
    _stub(args).DeleteFleetAutoscaler(
        autoscaler_pb2.DeleteFleetAutoscalerRequest(ref=_ref(args, args.name))
    )
    sys.stdout.write(
        f"fleetautoscaler/{args.name} deleted; its fleet's replicas are the user's again\n"
    )
