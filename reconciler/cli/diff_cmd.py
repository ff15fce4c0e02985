"""`meshctl diff`: a unified diff of the live and desired JSON of each changed resource."""

from __future__ import annotations

import click

from reconciler import engine
from reconciler.cli import environment, options, report
from reconciler.errors import MeshctlError
from reconciler.model import entrydiff
from reconciler.plan.model import Change
from reconciler.plan.render.jsondiff import json_diff

EXIT_DIFFERENCES, EXIT_TROUBLE = 1, 2  # kubectl diff's convention


@click.command()
@options.paths_argument
@options.store_option
@options.no_prune_option
@options.loading_options
@environment.environment_options
def diff(paths: tuple[str, ...], location: str, no_prune: bool, max_bytes: int,
         no_cache: bool, jobs: int | None) -> None:
    """Show a unified diff of live vs desired JSON for every resource that would change.

    Keys are sorted. An update shows both sides as the plan compares them: omitted optional
    fields filled with their defaults, `last_updated` left out, `1.0` written as `1`, so
    every changed line is a change the plan counts. Creates and deletes show the entry as
    is. A refused delete still shows as a delete here; `meshctl plan` says why.

    \b
    Examples:
      meshctl diff
      meshctl diff manifests/ | less -R
      meshctl diff --store /srv/agentmesh/registries

    Exit (kubectl's convention, unlike other commands): 0 no differences, 1 differences,
    2 error.
    """
    try:
        result = engine.make_plan(options.manifest_paths(paths),
                                  options.open_store(location),
                                  prune=not no_prune, max_bytes=max_bytes,
                                  use_cache=not no_cache, jobs=jobs)
    except MeshctlError as error:
        click.echo(f"Error: {error}", err=True)
        raise click.exceptions.Exit(EXIT_TROUBLE) from error
    if result.plan is None:
        report.print_diagnostics(report.console(stderr=True), result.diagnostics)
        raise click.exceptions.Exit(EXIT_TROUBLE)
    changes = result.plan.actionable
    for change in changes:
        click.echo(unified(change), nl=False)
    if changes:
        raise click.exceptions.Exit(EXIT_DIFFERENCES)


def unified(change: Change) -> str:
    name = str(change.key)
    before, after = change.before, change.after
    if before is not None and after is not None:  # an update: compare as the plan does
        before = entrydiff.comparable(change.key.kind, before)
        after = entrydiff.comparable(change.key.kind, after)
    return json_diff(before, after, f"live/{name}", f"desired/{name}")
