"""`meshctl apply`: make the live registries match the manifests, as one revision."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console

from reconciler import engine
from reconciler.cli import environment, options, report
from reconciler.errors import UsageError
from reconciler.manifests.layers import Layers
from reconciler.plan import planfile
from reconciler.plan.model import Plan
from reconciler.plan.render import text
from reconciler.store import DEFAULT_LOCK_TIMEOUT, Revision, Store


def approval_options(func: Any) -> Any:
    func = click.option("--auto-approve", is_flag=True,
                        help="Apply without asking (needed when there is no terminal).")(func)
    func = click.option("--lock-timeout", type=click.FloatRange(min=0),
                        default=DEFAULT_LOCK_TIMEOUT,
                        show_default=True, metavar="S",
                        help="Seconds to wait for another writer to finish.")(func)
    return func


@click.command()
@options.paths_argument
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Apply exactly this saved plan (from `plan --out`), without asking.")
@options.no_prune_option
@click.option("--max-deletes", type=click.IntRange(min=-1), default=engine.DEFAULT_MAX_DELETES,
              show_default=True, help="Refuse a plan deleting more resources (-1: no limit).")
@options.store_option
@options.output_option("text", "json")
@approval_options
@options.deny_breaking_option
@options.loading_options
@environment.environment_options
def apply(paths: tuple[str, ...], plan_file: str | None, no_prune: bool, max_deletes: int,
          location: str, output: str, auto_approve: bool, lock_timeout: float,
          deny_breaking: bool, deny_access_widening: bool, max_bytes: int, no_cache: bool,
          jobs: int | None) -> None:
    """Apply the manifests (or a saved plan) to the live registries, all or nothing.

    Without --plan: computes the plan, shows it and asks for confirmation on a terminal
    (without one, --auto-approve is required). With --plan FILE: applies exactly that plan,
    refusing it if the registries changed since it was made. Either way a plan with
    refusals, or deleting more than --max-deletes resources, writes nothing. Each apply is
    one revision: see `meshctl history`, undo with `meshctl rollback`.

    \b
    Examples:
      meshctl apply
      meshctl apply --auto-approve -o json       # in a pipeline
      meshctl plan --out plan.json && meshctl apply --plan plan.json
      meshctl apply --max-deletes 200            # a large, intended clean-up

    Exit: 0 applied (or nothing to do), 1 error, refusal, stale plan or not confirmed.
    """
    store = options.open_store(location, lock_timeout)
    result: engine.PlanResult | None = None
    if plan_file is not None:
        if (paths and not isinstance(paths, Layers)) or environment.given("no_prune"):
            raise UsageError("--plan applies a saved plan: PATH and --no-prune do not apply")
        the_plan = planfile.load(Path(plan_file))
    else:
        result = engine.make_plan(options.manifest_paths(paths), store, prune=not no_prune,
                                  max_bytes=max_bytes, use_cache=not no_cache, jobs=jobs,
                                  deny_breaking=deny_breaking,
                                  deny_access_widening=deny_access_widening)
        if result.plan is None:
            report.no_plan(result.diagnostics, as_json=output == "json")
            raise click.exceptions.Exit(1)
        the_plan = result.plan
        show_then_confirm(the_plan, output=output, auto_approve=auto_approve,
                          max_deletes=max_deletes)
    run_apply(the_plan, store, output=output, max_deletes=max_deletes, planned=result)


def show_then_confirm(the_plan: Plan, *, output: str, auto_approve: bool,
                      max_deletes: int) -> None:
    """Show the plan (on stdout for text; on stderr before a prompt when stdout carries
    JSON), then ask, unless it will be refused anyway or there is nothing to do."""
    asking = (the_plan.summary.has_changes and not the_plan.refusals
              and not 0 <= max_deletes < the_plan.summary.delete)
    if output == "text":
        _show(the_plan, report.console())
    elif asking and not auto_approve and sys.stdin.isatty():
        _show(the_plan, report.console(stderr=True))
    if asking:
        confirm(auto_approve)


def _show(the_plan: Plan, out: Console) -> None:
    out.print(text.render(the_plan, colour=report.shows_colour(out)), end="")


def confirm(auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise UsageError("no terminal to confirm on: pass --auto-approve to apply without "
                         "asking (or save the plan and apply it with --plan)")
    answer = click.prompt("Apply these changes? Only 'yes' will be accepted", default="",
                          show_default=False, err=True)
    if answer.strip() != "yes":
        click.echo("Apply cancelled; nothing was written.", err=True)
        raise click.exceptions.Exit(1)


def run_apply(the_plan: Plan, store: Store, *, output: str, max_deletes: int,
              source: str = "cli", note: str | None = None,
              planned: engine.PlanResult | None = None) -> None:
    err = report.console(stderr=True)
    with err.status("Applying…", spinner="dots") if err.is_terminal else _nothing():
        revision = engine.apply_plan(the_plan, store, source=source, max_deletes=max_deletes,
                                     note=note, planned=planned)
    print_outcome(the_plan, revision, output)


def print_outcome(the_plan: Plan, revision: Revision | None, output: str) -> None:
    s = the_plan.summary
    if output == "json":
        click.echo(orjson.dumps({
            "applied": revision is not None,
            "revision": revision.number if revision else None,
            "summary": {"create": s.create, "update": s.update, "delete": s.delete},
            "files": list(revision.files) if revision else [],
            "fingerprint": revision.fingerprint_after if revision else the_plan.live_fingerprint,
        }, option=orjson.OPT_INDENT_2).decode())
    elif revision is None:
        click.echo("No changes to apply.")
    else:
        click.echo(f"Apply complete: revision {revision.number} ({s.create} created, "
                   f"{s.update} updated, {s.delete} deleted).")


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None
