"""The gamefleet command line: every command and flag explains itself, and the global flags
work before or after the verb."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from cli import main


def _parsers(
    parser: argparse.ArgumentParser, path: str = "gamefleet"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {choice.dest for choice in action._choices_actions if choice.help}
            for name, sub in action.choices.items():
                if sub.prog.rsplit(" ", 1)[-1] == name:  # not an alias
                    assert name in helped, f"{path} {name}: no help in the list of commands"
                    yield from _parsers(sub, f"{path} {name}")


def _unexplained(parser: argparse.ArgumentParser) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        if action.help == argparse.SUPPRESS:
            continue  # the global flags repeated on a verb: explained at the top
        if not action.help:
            missing.append("/".join(action.option_strings) or action.dest)
    return missing


def test_every_command_and_flag_has_help() -> None:
    parsers = dict(_parsers(main.build_parser()))
    missing = {path: flags for path, p in parsers.items() if (flags := _unexplained(p))}
    assert missing == {}
    assert "gamefleet describe fleet" in parsers
    assert parsers["gamefleet hub serve"].description


def test_agent_run_help_is_for_users(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main.main(["agent", "run", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "add_agent_flags" not in text and "`" not in text
    assert "Run the in-cluster agent" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["--hub", "h:1", "-n", "demo", "get", "fleets"],
        ["get", "fleets", "--hub", "h:1", "-n", "demo"],
        ["get", "--hub", "h:1", "fleets", "-n", "demo"],
        ["-n", "demo", "--hub", "h:1", "update", "gs", "arena-1", "--ops-state", "Maintaining"],
    ],
)
def test_global_flags_before_or_after_the_verb(argv: list[str]) -> None:
    args = main.parse_args(argv)
    assert (args.hub, args.namespace, args.explicit_namespace) == ("h:1", "demo", True)


@pytest.mark.parametrize(
    "argv",
    [
        ["cordon", "eu-1", "-n", "demo"],
        ["uncordon", "eu-1", "-n", "demo"],
        ["register", "cluster", "eu-1", "-n", "demo"],
        ["remove", "cluster", "eu-1", "-n", "demo"],
    ],
)
def test_cluster_commands_take_no_namespace(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main.build_parser().parse_args(argv)
    assert exited.value.code == 1
    assert "unrecognized arguments: -n demo" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--allocation-request-ttl", "--heartbeat-interval"])
@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "ten"])
def test_agent_durations_must_be_positive_seconds(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main.agent_run_parser().parse_args([f"{flag}={value}"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err and "positive number of seconds" in err


def test_agent_durations_take_fractions() -> None:
    args = main.agent_run_parser().parse_args(["--allocation-request-ttl", "0.5"])
    assert args.allocation_request_ttl == 0.5
