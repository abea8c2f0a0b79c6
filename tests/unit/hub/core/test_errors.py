"""FieldError and ValidationError rendering."""

from __future__ import annotations

import pytest

from hub.core import errors


def test_field_error_names_the_field() -> None:
    error = errors.FieldError("spec.replicas", "must be at least 0")
    assert str(error) == "spec.replicas: must be at least 0"


def test_validation_error_shows_the_first_error_and_counts_the_rest() -> None:
    single = errors.ValidationError([errors.FieldError("a", "bad")])
    several = errors.ValidationError(
        (
            errors.FieldError("a", "bad"),
            errors.FieldError("b", "worse"),
            errors.FieldError("c", "x"),
        )
    )
    assert str(single) == "a: bad"
    assert str(several) == "a: bad (and 2 more)"
    assert several.errors[1] == errors.FieldError("b", "worse")


def test_validation_error_needs_an_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        errors.ValidationError([])
