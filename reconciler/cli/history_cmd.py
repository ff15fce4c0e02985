"""`meshctl history`, `meshctl rollback` and `meshctl revert`: every revision, what it changed,
and its undo (all later revisions, or that one alone)."""

from __future__ import annotations

import click
import orjson
from rich.markup import escape
from rich.table import Table

from reconciler import engine
from reconciler import store as store_
from reconciler.cli import apply_cmd, environment, options, report
from reconciler.plan.render import jsondiff

NO_WIDTH = 10_000


@click.group(invoke_without_command=True)
@options.store_option
@options.output_option("text", "json")
@click.pass_context
@environment.environment_options
def history(ctx: click.Context, location: str, output: str) -> None:
    """List the revisions of the live registries (newest last).

    Each apply (CLI, API, library, watch loop) records one: number, time, user, host,
    source, the manifests' git commit, a summary, and a note (a restore says which
    revision it returned to, a revert which one it undid).

    \b
    Examples:
      meshctl history
      meshctl history -o json | jq '.[-1]'
      meshctl history show 12          # what revision 12 changed
      meshctl revert 12                # undo revision 12 alone
      meshctl rollback 12              # back to the state right after revision 12

    Exit: 0 listed, 1 unreadable history.
    """
    ctx.ensure_object(dict)
    ctx.obj["location"] = location
    if ctx.invoked_subcommand is not None:
        return
    store = options.open_store(location)
    records = store_.summaries(store)
    if output == "json":
        click.echo(orjson.dumps(records, option=orjson.OPT_INDENT_2).decode())
        return
    if not records:
        click.echo("No revisions yet.")
        return
    table = Table(box=None, header_style="bold")
    for column in ("REV", "TIME", "USER", "SOURCE", "CHANGES", "GIT", "NOTE"):
        table.add_column(column)
    for record in records:
        s = record.get("summary") or {}
        table.add_row(str(record["revision"]), record["time"], escape(record["user"]),
                      escape(record["source"]), f"+{s.get('create', 0)} ~{s.get('update', 0)} "
                      f"-{s.get('delete', 0)}", (record.get("git_commit") or "-")[:12],
                      escape(record.get("note") or "-"))
    out = report.console()
    # Off a terminal no width applies: a row stays one line (for grep), its note whole.
    out.print(table, width=None if out.is_terminal else NO_WIDTH)


@history.command("show")
@click.argument("number", type=int)
@options.output_option("text", "json")
@click.pass_context
def show(ctx: click.Context, number: int, output: str) -> None:
    """Show what revision NUMBER changed, as a unified diff per resource.

    \b
    Examples:
      meshctl history show 3
      meshctl history show 3 -o json

    Exit: 0 shown, 1 no such revision.
    """
    record = options.open_store(ctx.obj["location"]).revision(number)
    if output == "json":
        click.echo(orjson.dumps(record, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"revision {record['revision']}  {record['time']}  {record['user']}@"
               f"{record['host']}  source {record['source']}"
               + (f"  git {record['git_commit']}" if record.get("git_commit") else ""))
    for change in record["changes"]:
        name = f"{change['kind']}/{change['name']}"
        click.echo(jsondiff.json_diff(change["before"], change["after"], f"before/{name}",
                                      f"after/{name}"), nl=False)


@click.command()
@click.argument("number", type=int)
@options.store_option
@options.output_option("text", "json")
@apply_cmd.approval_options
@options.deny_breaking_option
@environment.environment_options
def rollback(number: int, location: str, output: str, auto_approve: bool,
             lock_timeout: float, deny_breaking: bool, deny_access_widening: bool) -> None:
    """Restore the live registries to their state right after revision NUMBER.

    Plans the undo of every later revision through the same validation and refusal rules
    as any plan, shows it, and applies it as a new revision recorded as a restore (note
    `restore to revision N`; history is never rewritten). NUMBER 0 is the state before
    the first revision. To undo one revision alone, keeping the later ones: `meshctl
    revert N`.

    \b
    Examples:
      meshctl rollback 11
      meshctl rollback 0               # back to before the first revision
      meshctl rollback 11 --auto-approve -o json
      meshctl rollback 11 --deny-breaking  # refuse it if it breaks callers

    Exit: 0 restored (or nothing to do), 1 error, refusal or not confirmed.
    """
    _undo("restore", number, location, output, auto_approve, lock_timeout,
          deny_breaking=deny_breaking, deny_access_widening=deny_access_widening)


@click.command()
@click.argument("number", type=int)
@options.store_option
@options.output_option("text", "json")
@apply_cmd.approval_options
@options.deny_breaking_option
@environment.environment_options
def revert(number: int, location: str, output: str, auto_approve: bool,
           lock_timeout: float, deny_breaking: bool, deny_access_widening: bool) -> None:
    """Undo revision NUMBER alone: each resource it changed goes back to its entry before
    it, and every later revision's changes stay.

    Planned and applied by the same rules as any plan (in-use refusals, validation), shown
    first, committed as a new revision recorded as a revert (note `revert of revision N`).
    Refused, with nothing planned, when a later revision changed one of its resources
    again: the error names the resource and that revision (revert it first, or use
    `meshctl rollback`).

    \b
    Examples:
      meshctl revert 5                 # undo what revision 5 changed
      meshctl revert 5 --auto-approve -o json
      meshctl history show 5           # what that is

    Exit: 0 reverted (or nothing to do), 1 error, conflict, refusal or not confirmed.
    """
    _undo("revert", number, location, output, auto_approve, lock_timeout,
          deny_breaking=deny_breaking, deny_access_widening=deny_access_widening)


def _undo(action: str, number: int, location: str, output: str, auto_approve: bool,
          lock_timeout: float, *, deny_breaking: bool, deny_access_widening: bool) -> None:
    store = options.open_store(location, lock_timeout)
    result = (engine.revert_plan if action == "revert" else engine.restore_plan)(
        store, number, deny_breaking=deny_breaking, deny_access_widening=deny_access_widening)
    if result.plan is None:
        report.no_plan(result.diagnostics, as_json=output == "json")
        raise click.exceptions.Exit(1)
    apply_cmd.show_then_confirm(result.plan, output=output, auto_approve=auto_approve,
                                max_deletes=-1)
    apply_cmd.run_apply(result.plan, store, output=output, max_deletes=-1,
                        note=engine.undo_note(result.plan))
