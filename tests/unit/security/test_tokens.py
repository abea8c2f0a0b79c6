"""The user API's token file: parsing, errors naming the line, lookups, bearer headers."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.security import tokens


def test_parses_plain_csv_comments_and_blank_lines() -> None:
    text = '# tokens\n\nplain-token\ncsv-token,alice,uid-1,"ops,dev"\n  spaced-token , bob \n'
    parsed = tokens.parse_tokens(text)
    assert len(parsed) == 3
    assert parsed.users == ["line-3", "alice", "bob"]
    assert parsed.authenticate("plain-token") == "line-3"
    assert parsed.authenticate("csv-token") == "alice"
    assert parsed.authenticate("spaced-token") == "bob"


@pytest.mark.parametrize("presented", ["", "csv", "csv-token-", "CSV-TOKEN", "alice", "plain"])
def test_wrong_tokens_name_nobody(presented: str) -> None:
    parsed = tokens.parse_tokens("csv-token,alice\nplain-token\n")
    assert parsed.authenticate(presented) is None


def test_empty_user_column_falls_back_to_the_line() -> None:
    assert tokens.parse_tokens("t,\n").users == ["line-1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"^f: no tokens$"),
        ("# only a comment\n", r"^f: no tokens$"),
        ("a\nb\na,carol\n", r"^f:3: token: repeats the token of line 1$"),
        (",alice\n", r"^f:1: token: must be non-empty$"),
        ('"a b",alice\n', r"^f:1: token: must not contain whitespace$"),
        ("tökén\n", r"^f:1: token: must be printable ASCII$"),
    ],
)
def test_bad_files_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tokens.parse_tokens(text, "f")


def test_load_token_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text("x,alice\nx\n")
    with pytest.raises(ValueError, match=rf"^{path}:2: "):
        tokens.load_token_file(path)
    path.write_text("x,alice\n")
    assert tokens.load_token_file(path).authenticate("x") == "alice"


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER   abc  ", "abc"),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic abc", None),
        ("abc", None),
        ("", None),
    ],
)
def test_bearer_token(header: str, token: str | None) -> None:
    assert tokens.bearer_token(header) == token


def test_new_tokens_are_long_and_distinct() -> None:
    made = {tokens.new_token() for _ in range(10)}
    assert len(made) == 10
    assert all(len(token) >= 43 for token in made)
    assert tokens.parse_tokens("\n".join(made)).authenticate(next(iter(made))) is not None
