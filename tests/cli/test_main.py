"""The `meshctl` group: help on every command, version, and exit codes of usage errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reconciler.cli import cli
from tests.conftest import CliResult

Run = Callable[..., CliResult]


@pytest.mark.parametrize("command", [None, *sorted(cli.all_commands())])
def test_every_help_has_examples(meshctl: Run, command: str | None) -> None:
    result = meshctl(*([command] if command else []), "--help")
    assert result.code == 0
    assert "Examples" in result.out
    assert result.err == ""


def test_the_core_commands_exist() -> None:
    assert {"validate", "export", "get"} <= set(cli.all_commands())


def test_version(meshctl: Run) -> None:
    result = meshctl("--version")
    assert result.code == 0
    assert result.out.startswith("meshctl, version ")


@pytest.mark.parametrize("args", [("--bogus",), ("frobnicate",), ("validate", "--what")])
def test_usage_errors_exit_1_with_a_message(meshctl: Run, args: tuple[str, ...]) -> None:
    result = meshctl(*args)
    assert result.code == 1
    assert "Error:" in result.err
    assert "Traceback" not in result.output


def test_no_command_shows_usage(meshctl: Run) -> None:
    result = meshctl()
    assert result.code in (0, 1)  # click prints the group's help; never a traceback
    assert "Usage:" in result.output
    assert "Traceback" not in result.output
