"""Errors that name the offending field; defined once in `okg.errors`, shared with the agent."""

from okg.errors import FieldError, ValidationError

__all__ = ["FieldError", "ValidationError"]
