"""`validate --all-envs` and `plan --all-envs`: every environment of meshctl.yaml, one
section each, for the CI job of a pull request. Exit codes are those of one environment,
taken over all of them: 1 when any fails; for `plan --detailed-exitcode`, 2 when any has
changes and none fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click
import orjson

from reconciler import engine, loading
from reconciler.cli import environment, options, report
from reconciler.errors import Diagnostic, MeshctlError, UsageError, sort_key
from reconciler.manifests.layers import Layers
from reconciler.manifests.project import Environment
from reconciler.plan import planfile
from reconciler.plan.model import Plan
from reconciler.plan.render import common, markdown, text


def environments(project: str | None) -> list[Environment]:
    """Every environment of the project file, in its order, each layer checked."""
    found = list(environment.project_of(project).environments.values())
    for each in found:
        each.check_layers()
    return found


def heading(each: Environment) -> str:
    return f"{each.name}: {' + '.join(each.manifests)}"


def validate_all(project: str | None, *, output: str, strict: bool, no_color: bool,
                 max_bytes: int, no_cache: bool, jobs: int | None) -> None:
    chosen = environments(project)
    loaded = loading.load_environments([Layers(each.manifests) for each in chosen],
                                       max_bytes=max_bytes, use_cache=not no_cache, jobs=jobs)
    verdicts = {each.name: bool(desired.errors) or (strict and bool(desired.warnings))
                for each, desired in zip(chosen, loaded, strict=True)}
    summary = ", ".join(f"{name} {'invalid' if failed else 'valid'}"
                        for name, failed in verdicts.items())
    if output in report.CI_FORMATS:
        merged = _merged([(each.name, desired.diagnostics)
                          for each, desired in zip(chosen, loaded, strict=True)])
        cases = list(dict.fromkeys((str(r.key), r.source.file if r.source else None)
                                   for desired in loaded for r in desired.state))
        report.ci_output(output, "meshctl validate --all-envs", merged, cases,
                         f"{common.count(len(chosen), 'environment')}: {summary}")
    elif output == "json":
        click.echo(orjson.dumps({
            "valid": not any(verdicts.values()),
            "environments": [{
                "environment": each.name, "manifests": list(each.manifests),
                "valid": not verdicts[each.name], "errors": len(desired.errors),
                "warnings": len(desired.warnings), "files": len(desired.files),
                "resources": len(desired.state),
                "diagnostics": report.diagnostics_json(desired.diagnostics)}
                for each, desired in zip(chosen, loaded, strict=True)],
        }, option=orjson.OPT_INDENT_2).decode())
    else:
        out = report.console(no_color=no_color)
        for each, desired in zip(chosen, loaded, strict=True):
            out.print(f"[bold]== {heading(each)}[/]", highlight=False)
            report.print_diagnostics(out, desired.diagnostics)
            verdict = "[bold red]invalid[/]" if verdicts[each.name] else "[bold green]valid[/]"
            out.print(f"{verdict}: {common.count(len(desired.state), 'resource')} in "
                      f"{common.count(len(desired.files), 'file')}, "
                      f"{report.summary_line(desired.diagnostics)}\n")
        out.print(f"{common.count(len(chosen), 'environment')}: {summary}")
    if any(verdicts.values()):
        raise click.exceptions.Exit(1)


def _merged(found: list[tuple[str, list[Diagnostic]]]) -> list[Diagnostic]:
    """One list for CI annotations: a finding every environment shares once, as it is; one
    only some have, once, its message saying which (`[prod] ...`)."""
    seen: dict[Diagnostic, list[str]] = {}
    for name, diagnostics in found:
        for diagnostic in diagnostics:
            seen.setdefault(diagnostic, []).append(name)
    everyone = len(found)
    merged = [d if len(names) == everyone else Diagnostic(
        d.code, d.severity, f"[{', '.join(names)}] {d.message}", d.file, d.line, d.resource,
        d.path, d.hint) for d, names in seen.items()]
    return sorted(merged, key=sort_key)


@dataclass(slots=True)
class _Outcome:
    environment: Environment
    plan: Plan | None
    diagnostics: list[Diagnostic]
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.plan is None or self.plan.summary.refused > 0


def plan_all(project: str | None, *, location: str | None, output: str,
             detailed_exitcode: bool, no_color: bool, flags: dict[str, Any],
             max_bytes: int, no_cache: bool, jobs: int | None) -> None:
    """Each environment's plan against its own store (`location` when it names none, or
    when given on the command line). `flags`: the options given on the command line, which
    win over each environment's."""
    if output not in ("text", "json", "markdown"):
        raise UsageError("plan --all-envs prints text, json or markdown")
    outcomes = [_plan_one(each, location, flags, max_bytes, no_cache, jobs)
                for each in environments(project)]
    if output == "json":
        click.echo(orjson.dumps({"environments": [{
            "environment": o.environment.name, "manifests": list(o.environment.manifests),
            "store": _store_of(o.environment, location),
            "plan": planfile.to_dict(o.plan) if o.plan is not None else None,
            "error": o.error,
            "diagnostics": report.diagnostics_json(o.diagnostics)} for o in outcomes]},
            option=orjson.OPT_INDENT_2).decode())
    elif output == "markdown":
        share = markdown.LIMIT // max(1, len(outcomes))
        for o in outcomes:
            title = f"meshctl plan: {o.environment.name}"
            if o.plan is not None:
                click.echo(markdown.render(o.plan, share, title=title), nl=False)
            else:
                click.echo(f"### {title}\n\nNo plan: {_why(o)}\n")
            click.echo()
    else:
        screen = report.console(no_color=no_color)
        for o in outcomes:
            screen.print(f"[bold]== {heading(o.environment)} -> "
                         f"{_store_of(o.environment, location)}[/]", highlight=False)
            if o.plan is not None:
                screen.print(text.render(o.plan, colour=report.shows_colour(screen)), end="")
            else:
                report.print_diagnostics(screen, o.diagnostics)
                screen.print(f"[bold red]No plan:[/] {_why(o)}")
            screen.print()
    if any(o.failed for o in outcomes):
        raise click.exceptions.Exit(1)
    if detailed_exitcode and any(o.plan is not None and o.plan.summary.has_changes
                                 for o in outcomes):
        raise click.exceptions.Exit(2)


def _plan_one(each: Environment, location: str | None, flags: dict[str, Any],
              max_bytes: int, no_cache: bool, jobs: int | None) -> _Outcome:
    settings = {**each.options, **flags}
    try:
        result = engine.make_plan(
            Layers(each.manifests), options.open_store(_store_of(each, location)),
            prune=settings.get("prune", True), max_bytes=max_bytes, use_cache=not no_cache,
            jobs=jobs, deny_breaking=settings.get("deny_breaking", False),
            deny_access_widening=settings.get("deny_access_widening", False))
    except MeshctlError as error:  # one environment's store is down: say so, go on
        return _Outcome(each, None, [], str(error))
    return _Outcome(each, result.plan, result.diagnostics)


def _store_of(each: Environment, location: str | None) -> str:
    return location or each.store or options.DEFAULT_STORE


def _why(outcome: _Outcome) -> str:
    return outcome.error or report.summary_line(outcome.diagnostics)

