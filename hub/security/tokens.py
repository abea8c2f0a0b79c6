"""Static bearer tokens for the user API, read once from a file.

The format follows kube-apiserver's ``--token-auth-file``: one token per line, optionally as CSV
``token,user[,more columns ignored]``. Blank lines and lines starting with ``#`` are skipped. A
token without a user name is known as ``line-N``, N being its line number.
"""

from __future__ import annotations

import csv
import dataclasses
import hmac
import secrets
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class TokenEntry:
    token: bytes
    user: str


class TokenFile:
    """The tokens of one file; :meth:`authenticate` maps a presented token to its user."""

    def __init__(self, entries: list[TokenEntry], source: str = "<tokens>") -> None:
        if not entries:
            raise ValueError(f"{source}: no tokens")
        self._entries = tuple(entries)
        self.source = source

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def users(self) -> list[str]:
        return [entry.user for entry in self._entries]

    def authenticate(self, presented: str) -> str | None:
        """The user whose token equals ``presented``, else None.

        Compares against every token with ``hmac.compare_digest`` and does not stop at the first
        match, so the time taken does not tell how much of a token was right.
        """
        candidate = presented.encode()
        user: str | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.token, candidate) and user is None:
                user = entry.user
        return user


def parse_tokens(text: str, source: str = "<tokens>") -> TokenFile:
    """Parse a token file's text; ValueError naming ``source`` and the line on bad input."""
    entries: list[TokenEntry] = []
    seen: dict[bytes, int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{lineno}"
        columns = [column.strip() for column in next(csv.reader([line]))]
        token = columns[0]
        if not token:
            raise ValueError(f"{where}: token: must be non-empty")
        if any(char.isspace() for char in token):
            raise ValueError(f"{where}: token: must not contain whitespace")
        if not token.isascii() or not token.isprintable():
            raise ValueError(f"{where}: token: must be printable ASCII")
        user = columns[1] if len(columns) > 1 and columns[1] else f"line-{lineno}"
        encoded = token.encode()
        if encoded in seen:
            raise ValueError(f"{where}: token: repeats the token of line {seen[encoded]}")
        seen[encoded] = lineno
        entries.append(TokenEntry(encoded, user))
    return TokenFile(entries, source)


def load_token_file(path: Path) -> TokenFile:
    """Read and parse the token file at ``path``."""
    return parse_tokens(path.read_text(encoding="utf-8"), str(path))


def new_token() -> str:
    """A fresh random token: 256 bits, URL-safe text."""
    return secrets.token_urlsafe(32)


def bearer_token(authorization: str) -> str | None:
    """The token of an ``authorization`` header value ``Bearer <token>``, else None."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None
