"""The hub's live view of its clusters: agent sessions, health, desired sets and status."""
