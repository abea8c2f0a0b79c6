"""Service quality at the edge: probing game servers (every replica) and applying actions
(the leader's reconciler). Decisions live in `agent.core.quality`."""
