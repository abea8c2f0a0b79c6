"""Errors that name the offending field the way a user wrote it."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class FieldError:
    """One problem with one field; `path` is in the camelCase form of YAML/JSON manifests."""

    path: str
    message: str

    def __str__(self) -> str:
        if not self.path:
            return self.message
        return f"{self.path}: {self.message}"


class ValidationError(Exception):
    """A rejected document, with every problem found in it."""

    def __init__(self, errors: tuple[FieldError, ...] | list[FieldError]) -> None:
        if not errors:
            raise ValueError("ValidationError needs at least one FieldError")
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__(self._summary())

    def _summary(self) -> str:
        first = str(self.errors[0])
        more = len(self.errors) - 1
        if more:
            return f"{first} (and {more} more)"
        return first

    def __str__(self) -> str:
        return self._summary()
