"""`meshctl plan`: what applying the manifests would change in the live registries."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler import engine
from reconciler.cli import all_envs as all_envs_
from reconciler.cli import environment, options, report
from reconciler.errors import PlanError, UsageError, sort_key
from reconciler.plan import planfile
from reconciler.plan.render import ci, common, markdown, text


@click.command()
@options.paths_argument
@options.store_option
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Also save the plan as JSON to FILE (schema: docs/plan.md).")
@options.no_prune_option
@options.output_option("text", "json", "markdown", *report.CI_FORMATS)
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 2 when there are changes and nothing is refused.")
@click.option("--no-color", is_flag=True, help="No colour, even on a terminal.")
@click.option("--all-envs", is_flag=True,
              help="Plan every environment of meshctl.yaml against its store, one section "
                   "each (CI; -o text, json or markdown).")
@options.deny_breaking_option
@options.loading_options
@environment.environment_options
def plan(paths: tuple[str, ...], location: str, out: str | None, no_prune: bool, output: str,
         detailed_exitcode: bool, no_color: bool, all_envs: bool, deny_breaking: bool,
         deny_access_widening: bool, max_bytes: int, no_cache: bool, jobs: int | None) -> None:
    """Show what applying the manifests would change in the live registries.

    The manifests are the whole desired state: live resources no manifest declares are
    planned for deletion, unless --no-prune. Deleting what something still uses, or the
    orchestrator, is refused (shown with `!`). What the plan changes of what agents may
    do at runtime (invoke an agent, use a tool: asked for and granted by governance) is
    listed under "Access changes".

    \b
    Examples:
      meshctl plan
      meshctl plan --out plan.json            # save the plan data as JSON
      meshctl plan -o markdown > comment.md   # a pull-request comment
      meshctl plan --detailed-exitcode        # CI: 0 no changes, 2 changes, 1 error
      meshctl plan --deny-breaking            # refuse schema changes that break callers
      meshctl plan --deny-access-widening     # refuse changes that grant more access
      meshctl plan -o github                  # warnings and refusals as PR annotations

      meshctl plan --env prod                 # an environment of meshctl.yaml
      meshctl plan --all-envs -o markdown     # every environment, one section each

    Exit: 0 success; 1 error (invalid manifests, unreadable registries, any refusal,
    usage error); with --detailed-exitcode, 2 when there are changes and none is refused.
    With --all-envs the same over every environment: 1 when any fails, else 2 when any
    has changes (with --detailed-exitcode).
    """
    if all_envs:
        if paths or out is not None:
            raise UsageError("--all-envs plans each environment's manifests: leave out "
                             "PATHS and --out")
        flags = {name: value for name, value in (
            ("deny_breaking", deny_breaking), ("deny_access_widening", deny_access_widening),
            ("prune", not no_prune)) if environment.given(
                "no_prune" if name == "prune" else name)}
        all_envs_.plan_all(environment.project_given(),
                           location=location if environment.given("location") else None,
                           output=output, detailed_exitcode=detailed_exitcode,
                           no_color=no_color, flags=flags, max_bytes=max_bytes,
                           no_cache=no_cache, jobs=jobs)
        return
    result = engine.make_plan(options.manifest_paths(paths), options.open_store(location),
                              prune=not no_prune, max_bytes=max_bytes, use_cache=not no_cache,
                              jobs=jobs, deny_breaking=deny_breaking,
                              deny_access_widening=deny_access_widening)
    if result.plan is None:
        if output in report.CI_FORMATS:
            report.ci_output(output, "meshctl plan", result.diagnostics,
                             [(str(r.key), r.source.file if r.source else None)
                              for r in result.desired.state],
                             f"No plan: {report.summary_line(result.diagnostics)}")
        else:
            report.no_plan(result.diagnostics, as_json=output == "json", no_color=no_color)
        raise click.exceptions.Exit(1)
    the_plan = result.plan
    if out is not None:
        try:
            planfile.save(the_plan, Path(out))
        except OSError as error:
            message = f"cannot write the plan to {out}: {error.strerror or error}"
            raise PlanError(message) from error
    if output in report.CI_FORMATS:
        findings = sorted([*the_plan.warnings, *ci.refusal_findings(the_plan)], key=sort_key)
        report.ci_output(output, "meshctl plan", findings,
                         [(str(c.key), c.source.file if c.source else None)
                          for c in the_plan.changes], common.summary_line(the_plan))
    elif output == "json":
        click.echo(planfile.dumps(the_plan).decode())
    elif output == "markdown":
        click.echo(markdown.render(the_plan), nl=False)
    else:
        screen = report.console(no_color=no_color)
        screen.print(text.render(the_plan, colour=report.shows_colour(screen)), end="")
        if out is not None:
            click.echo(f"Saved the plan to {out}.")
    summary = the_plan.summary
    if summary.refused:
        raise click.exceptions.Exit(1)
    if detailed_exitcode and summary.has_changes:
        raise click.exceptions.Exit(2)
