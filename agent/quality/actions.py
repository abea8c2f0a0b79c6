"""Service-quality actions: the pure decision lives in `agent.core.actions`; the reconcile
plan turns it into guarded GameServer patches (`agent.core.actions.patches`)."""

from __future__ import annotations

from agent.core.actions import RECORD_ANNOTATION, plan, qualities_of

__all__ = ["RECORD_ANNOTATION", "plan", "qualities_of"]
