"""Service quality: probe outcomes and OKG's action-firing rules.

The spec (`okg.service_quality`) and the value templates (`okg.templates`) are OKG's model,
shared with the hub. Pure functions over frozen dataclasses. The prober
(`agent.quality.prober`) turns probe runs into outcomes with `Threshold`; the leader's
reconciler turns outcomes plus the record of what it last acted on (`Record`, kept on the
GameServer) into one patch with `decide`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import TYPE_CHECKING, Any

from okg import service_quality
from okg.errors import ValidationError
from okg.service_quality import Action, Probe, ServiceQuality
from okg.templates import TemplateError, render

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

GRPC_SERVING = "SERVING"
GRPC_SERVICE_UNKNOWN = "SERVICE_UNKNOWN"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A probe's reported outcome: success, and its stdout (`|` and newlines stripped)."""

    status: bool
    result: str = ""

    @property
    def status_text(self) -> str:
        return "True" if self.status else "False"


@dataclasses.dataclass(frozen=True)
class Record:
    """What the writer last acted on for one quality: the outcome, and when an action fired."""

    outcome: Outcome
    acted_at: str = ""


@dataclasses.dataclass(frozen=True)
class Decision:
    """The patch for one GameServer: spec fields, labels, annotations; new records; errors."""

    spec: Mapping[str, object]
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    records: Mapping[str, Record]
    fired: tuple[str, ...]
    errors: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.spec or self.labels or self.annotations or self.fired)


class QualitySpecError(ValueError):
    """A `serviceQualities` list the agent cannot probe."""


def normalize_result(output: str) -> str:
    """OKG's result: the probe's output with `|` and newlines removed."""
    return output.replace("|", "").replace("\n", "").replace("\r", "")


def parse_qualities(items: object) -> tuple[ServiceQuality, ...]:
    """Read `spec.serviceQualities` (`okg.service_quality`); any problem raises, naming it."""
    qualities, problems = service_quality.parse(items)
    if problems:
        raise QualitySpecError(str(ValidationError(problems)))
    return qualities


# Thresholds: probe runs -> reported outcome.


@dataclasses.dataclass(frozen=True)
class Threshold:
    """Consecutive-run counting as the kubelet's prober does it: the status turns to success
    after `success_threshold` successes in a row and to failure after `failure_threshold`
    failures; once reached, every further run reports its output."""

    last: bool | None = None
    run: int = 0

    def observe(self, probe: Probe, ok: bool, output: str) -> tuple[Threshold, Outcome | None]:
        run = self.run + 1 if self.last is ok else 1
        following = Threshold(ok, run)
        needed = probe.success_threshold if ok else probe.failure_threshold
        if run < max(1, needed):
            return following, None
        return following, Outcome(ok, normalize_result(output))


def grpc_outcome(code: str, serving: str = "") -> tuple[bool, str]:
    """One gRPC health check (`grpc.health.v1.Health/Check`) as (success, output).

    `code` is the call's status code name, `serving` the answer's serving status name. An
    answered call succeeds when it says SERVING, and its output is the status name. A call
    refused with NOT_FOUND (the server does not know the service) reads SERVICE_UNKNOWN, the
    name the protocol gives that case. Any other failed call (no connection, timeout, no
    health service) is a failure with empty output, as HTTP and TCP errors are."""
    if code == "OK":
        return serving == GRPC_SERVING, serving
    if code == "NOT_FOUND":
        return False, GRPC_SERVICE_UNKNOWN
    return False, ""


# Records kept on the GameServer (annotation `gamefleet.io/service-quality-actions`).


def encode_records(records: Mapping[str, Record]) -> str:
    body = {
        name: {"status": r.outcome.status, "result": r.outcome.result, "actedAt": r.acted_at}
        for name, r in sorted(records.items())
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def decode_records(text: str | None) -> dict[str, Record]:
    """Read the annotation; anything unreadable counts as no record."""
    if not text:
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    records = {}
    for name, item in body.items():
        if isinstance(item, dict) and isinstance(item.get("status"), bool):
            records[str(name)] = Record(
                Outcome(item["status"], str(item.get("result") or "")),
                str(item.get("actedAt") or ""),
            )
    return records


def outcomes_from_conditions(conditions: Sequence[Mapping[str, Any]] | None) -> dict[str, Outcome]:
    """`status.serviceQualitiesConditions` as outcomes (entries without a status are skipped)."""
    found = {}
    for cond in conditions or ():
        status = cond.get("status")
        if status in ("True", "False") and cond.get("name"):
            found[str(cond["name"])] = Outcome(status == "True", str(cond.get("result") or ""))
    return found


# The firing rule.


def decide(
    qualities: Sequence[ServiceQuality],
    outcomes: Mapping[str, Outcome],
    records: Mapping[str, Record],
    now: str,
) -> Decision:
    """OKG's rule: an outcome seen for the first time or changed runs the matching actions
    (in order, later ones overriding earlier ones), and a `permanent` quality only until one
    action has fired. Records of qualities that are gone are dropped."""
    spec: dict[str, object] = {}
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    new_records: dict[str, Record] = {}
    fired: list[str] = []
    errors: list[str] = []
    for quality in qualities:
        outcome = outcomes.get(quality.name)
        old = records.get(quality.name)
        if outcome is None:
            if old is not None:
                new_records[quality.name] = old
            continue
        fresh = old is None or old.outcome != outcome
        if not fresh or (quality.permanent and old is not None and old.acted_at):
            new_records[quality.name] = Record(outcome, old.acted_at if old else "")
            continue
        acted_at = old.acted_at if old else ""
        for action in quality.actions:
            if action.state is not outcome.status or action.result not in ("", outcome.result):
                continue
            try:
                _apply(action, outcome, spec, labels, annotations)
            except TemplateError as exc:
                errors.append(f"serviceQualities {quality.name}: {exc}")
                continue
            acted_at = now
            if quality.name not in fired:
                fired.append(quality.name)
        new_records[quality.name] = Record(outcome, acted_at)
    return Decision(spec, labels, annotations, new_records, tuple(fired), tuple(errors))


def _apply(
    action: Action,
    outcome: Outcome,
    spec: dict[str, object],
    labels: dict[str, str],
    annotations: dict[str, str],
) -> None:
    """Render every value of the action first, so an invalid template changes nothing."""
    rendered: dict[str, object] = {}
    if action.ops_state is not None:
        rendered["opsState"] = render(action.ops_state, outcome.result)
    for key, value in (
        ("updatePriority", action.update_priority),
        ("deletionPriority", action.deletion_priority),
    ):
        if isinstance(value, int):
            rendered[key] = value
        elif value is not None:
            text = render(value, outcome.result).strip()
            rendered[key] = int(text) if re.fullmatch(r"[+-]?\d+", text) else text
    if action.network_disabled is not None:
        rendered["networkDisabled"] = action.network_disabled
    new_labels = {k: render(v, outcome.result) for k, v in action.labels}
    new_notes = {k: render(v, outcome.result) for k, v in action.annotations}
    spec.update(rendered)
    labels.update(new_labels)
    annotations.update(new_notes)
