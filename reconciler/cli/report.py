"""How diagnostics look on a terminal and in JSON; shared by every command that reports them."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import orjson

from reconciler.errors import Diagnostic
from reconciler.plan.render import common

if TYPE_CHECKING:  # (rich is imported when something is printed: 30 ms of every start)
    from rich.console import Console


def console(*, stderr: bool = False, no_color: bool = False) -> Console:
    """Colour only on a terminal, and never with --no-color or NO_COLOR. No emoji codes:
    a value holding `:fire:` prints as written."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    plain = no_color or "NO_COLOR" in os.environ or not stream.isatty()
    return Console(file=stream, highlight=False, soft_wrap=True, no_color=plain, emoji=False,
                   color_system=None if plain else "auto")


def shows_colour(out: Console) -> bool:
    """Will `out` show styles? (If not, what colour alone would mark needs a marker.)"""
    return out.color_system is not None


def print_diagnostics(out: Console, diagnostics: list[Diagnostic]) -> None:
    from rich.markup import escape

    for d in diagnostics:
        colour = "red" if d.is_error else "yellow"
        resource = f" {escape(d.resource)}:" if d.resource else ""
        where = f"{escape(d.location)}: " if d.file else ""
        out.print(f"{where}[bold {colour}]{d.severity.value}[/] "
                  f"[dim]{d.code}[/]{resource} {escape(d.message)}")
        if d.hint:
            out.print(f"    [dim]hint:[/] {escape(d.hint)}")


def summary_line(diagnostics: list[Diagnostic]) -> str:
    errors = sum(1 for d in diagnostics if d.is_error)
    return (f"{common.count(errors, 'error')}, "
            f"{common.count(len(diagnostics) - errors, 'warning')}")


def diagnostics_json(diagnostics: list[Diagnostic]) -> list[dict[str, Any]]:
    return [d.to_dict() for d in diagnostics]


def no_plan(diagnostics: list[Diagnostic], *, as_json: bool, no_color: bool = False) -> None:
    """Why there is no plan (invalid manifests, unreadable registries): the same words for
    plan, apply and rollback, as JSON on stdout or as text on stderr."""
    if as_json:
        print(orjson.dumps({"valid": False, "diagnostics": diagnostics_json(diagnostics)},
                           option=orjson.OPT_INDENT_2).decode())
        return
    err = console(stderr=True, no_color=no_color)
    print_diagnostics(err, diagnostics)
    err.print(f"[bold red]No plan:[/] {summary_line(diagnostics)}")


CI_FORMATS = ("github", "junit", "sarif")


def ci_output(output: str, suite: str, findings: list[Diagnostic],
              cases: list[tuple[str, str | None]], summary: str) -> None:
    """Print `findings` as GitHub annotations, JUnit XML or SARIF (`output`)."""
    from importlib.metadata import version

    from reconciler.plan.render import ci
    from reconciler.validate import RULES

    if output == "github":
        print(ci.github(findings, {code: rule.title for code, rule in RULES.items()},
                        summary), end="")
    elif output == "junit":
        print(ci.junit(suite, cases, findings), end="")
    else:
        rules = {code: (rule.title, rule.severity) for code, rule in RULES.items()}
        print(orjson.dumps(ci.sarif(findings, rules, version=version("meshctl")),
                           option=orjson.OPT_INDENT_2).decode())
