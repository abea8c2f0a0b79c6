"""Kubernetes naming rules: DNS-1123 labels and subdomains, label keys and values.

Each check returns None when the text is valid, else a message describing the rule it breaks.
"""

from __future__ import annotations

import re

from .limits import (
    DNS1123_LABEL_MAX_LENGTH,
    DNS1123_SUBDOMAIN_MAX_LENGTH,
    LABEL_VALUE_MAX_LENGTH,
    QUALIFIED_NAME_MAX_LENGTH,
)

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


def dns1123_label_problem(text: str) -> str | None:
    """Check a DNS-1123 label such as an object or container name."""
    if len(text) > DNS1123_LABEL_MAX_LENGTH:
        return f"must be no more than {DNS1123_LABEL_MAX_LENGTH} characters"
    if not _DNS1123_LABEL.fullmatch(text):
        return (
            "must consist of lower case alphanumeric characters or '-', "
            "and must start and end with an alphanumeric character"
        )
    return None


def dns1123_subdomain_problem(text: str) -> str | None:
    """Check a DNS-1123 subdomain such as the prefix of a label key."""
    if len(text) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        return f"must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} characters"
    if not _DNS1123_SUBDOMAIN.fullmatch(text):
        return (
            "must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character"
        )
    return None


def qualified_name_problem(text: str) -> str | None:
    """Check a qualified name (`[prefix/]name`), the form of label and annotation keys."""
    prefix, slash, name = text.rpartition("/")
    if slash:
        if not prefix:
            return "prefix part must be non-empty"
        problem = dns1123_subdomain_problem(prefix)
        if problem is not None:
            return f"prefix part {problem}"
    if not name:
        return "name part must be non-empty"
    if len(name) > QUALIFIED_NAME_MAX_LENGTH:
        return f"name part must be no more than {QUALIFIED_NAME_MAX_LENGTH} characters"
    if not _QUALIFIED_NAME.fullmatch(name):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character"
        )
    return None


def label_value_problem(text: str) -> str | None:
    """Check a label value: empty, or a short qualified-name-like string."""
    if not text:
        return None
    if len(text) > LABEL_VALUE_MAX_LENGTH:
        return f"must be no more than {LABEL_VALUE_MAX_LENGTH} characters"
    if not _QUALIFIED_NAME.fullmatch(text):
        return (
            "must consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character"
        )
    return None
