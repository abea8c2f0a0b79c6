"""Which clusters keep the template they hold while a fleet's new template rolls out: the
update policy's cluster order, or a progressive rollout's waves and gates (the rollout glue
between placement and the RolloutTracker)."""

from __future__ import annotations

from collections.abc import Mapping

from gamefleet.v1 import agent_pb2, fleet_pb2

from hub.core import rollout, rollout_observed, rollout_waves

from .intent import IntentMirror, fleet_key
from .links import AgentLinks, ClusterLive
from .live_index import LiveIndex
from .rollouts import RolloutTracker


class RolloutHolds:
    """Reads the agents' reports to tell which clusters a fleet's rollout holds back."""

    def __init__(
        self,
        intent: IntentMirror,
        links: AgentLinks,
        index: LiveIndex,
        rollouts: RolloutTracker,
    ) -> None:
        self._intent = intent
        self._links = links
        self._index = index
        self._rollouts = rollouts

    def held_back(
        self, fleet: fleet_pb2.Fleet, rendered: dict[str, agent_pb2.DesiredSet]
    ) -> set[str]:
        """The connected clusters that keep the template they hold for now, though
        ``rendered`` is what the fleet's placement gives them: by the update policy's order or
        the progressive rollout's waves and gates."""
        key = fleet_key(fleet)
        if fleet.spec.HasField("rollout"):
            return self._progressive(fleet, rendered)
        held: dict[str, str | None] = {}
        settled: dict[str, bool] = {}
        for cluster, desired_set in rendered.items():
            session = self._links.sessions.get(cluster)
            held[cluster] = session.held.get(key) if session is not None else None
            reported = self._links.live.get(cluster, ClusterLive()).sets.get(key)
            settled[cluster] = reported is not None and (
                reported.applied_hash == desired_set.hash
                and reported.counts.updated_ready == reported.desired_replicas
            )
        waiting = rollout.held_back(fleet, {c: s.hash for c, s in rendered.items()}, held, settled)
        return {cluster for cluster in waiting if cluster in self._links.sessions}

    def _progressive(
        self, fleet: fleet_pb2.Fleet, rendered: dict[str, agent_pb2.DesiredSet]
    ) -> set[str]:
        """The clusters the rollout's gates keep on the template they hold for now."""
        key = fleet_key(fleet)
        qualities = frozenset(fleet.spec.rollout.qualities)
        labels: dict[str, Mapping[str, str]] = {}
        observed = {}
        for cluster, desired_set in rendered.items():
            record = self._intent.clusters.get(cluster)
            labels[cluster] = record.metadata.labels if record is not None else {}
            session = self._links.sessions.get(cluster)
            template = rollout_observed.template_of(desired_set.hash)
            servers = (
                ()
                if self._rollouts.succeeded(key, cluster, template)
                else (s.decode() for s in self._index.of_fleet_in(cluster, *key))
            )
            observed[cluster] = rollout_observed.observe(
                desired_set.hash,
                session.held.get(key) if session is not None else None,
                self._links.live.get(cluster, ClusterLive()).sets.get(key),
                servers,
                qualities,
            )
        waves = rollout_waves.waves(fleet, labels)
        progress = self._rollouts.decide(fleet, waves, observed)
        return {cluster for cluster in progress.held_back if cluster in self._links.sessions}
