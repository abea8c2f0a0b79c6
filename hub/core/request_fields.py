"""Checks of the plain fields of API requests: names, bounded strings, counts, selectors.

Each raises ValidationError naming the request field, before anything reads the store.
"""

from __future__ import annotations

from . import errors, limits, names, selectors


def refused(path: str, message: str) -> errors.ValidationError:
    return errors.ValidationError([errors.FieldError(path, message)])


def name(value: str, path: str, *, required: bool = True) -> str:
    """A DNS-1123 label such as a fleet, namespace or cluster name; "" only when optional."""
    if not value:
        if required:
            raise refused(path, "is required")
        return value
    problem = names.dns1123_label_problem(value)
    if problem is not None:
        raise refused(path, problem)
    return value


def subdomain(value: str, path: str) -> str:
    """A DNS-1123 subdomain such as a game server (pod) name."""
    problem = names.dns1123_subdomain_problem(value) if value else "must not be empty"
    if problem is not None:
        raise refused(path, problem)
    return value


def bounded(value: str, path: str, most: int) -> str:
    if len(value) > most:
        raise refused(path, f"must be at most {most} characters, not {len(value):,}")
    return value


def count(items: int, path: str, most: int) -> None:
    if items > most:
        raise refused(path, f"has {items:,} entries; at most {most:,} are allowed")


def selector(text: str, path: str = "label_selector") -> selectors.Selector | None:
    """A parsed label selector; None for an empty one (selects everything)."""
    if not text.strip():
        return None
    bounded(text, path, limits.MAX_SELECTOR_LENGTH)
    try:
        return selectors.parse_selector(text)
    except selectors.SelectorError as exc:
        raise refused(path, str(exc)) from None


def not_negative(value: int, path: str) -> int:
    if value < 0:
        raise refused(path, f"{value} must not be negative")
    return value
