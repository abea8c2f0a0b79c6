"""Errors the registries raise; the API edge maps each to one gRPC status."""

from __future__ import annotations


class RegistryError(Exception):
    """A request the registry refuses."""


class NotFoundError(RegistryError):
    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name!r} not found")


class RevisionMismatchError(RegistryError):
    """The caller's expected revision is not the stored one."""

    def __init__(self, name: str, expected: int, actual: int) -> None:
        stored = f"revision {actual}" if actual else "no stored object"
        super().__init__(f"{name}: expected revision {expected}, found {stored}")


class HistoryCompactedError(RegistryError):
    """A watch asked for history the store no longer keeps."""


class DeletingError(RegistryError):
    """The object is being deleted: it cannot be changed until it is gone."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name!r} is being deleted; apply it again once it is gone")


class PreconditionError(RegistryError):
    """The request conflicts with what is stored (FAILED_PRECONDITION), e.g. a change of
    replicas that an autoscaler owns."""
