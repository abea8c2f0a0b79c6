"""Checks of a process's log that every test of that process makes at its end."""

from __future__ import annotations

import pathlib

LOGGING_ERROR = "--- Logging error ---"


def assert_no_logging_errors(log: pathlib.Path | None) -> None:
    """Fail when a log call of the process could not be formatted (Python prints the
    traceback and goes on, so nothing else would notice)."""
    if log is None or not log.exists():
        return
    text = log.read_text(errors="replace")
    at = text.find(LOGGING_ERROR)
    if at >= 0:
        raise AssertionError(f"{log} has a logging error:\n{text[at : at + 3000]}")
