"""`meshctl status`: what the watch controller last did, from its status file."""

from __future__ import annotations

import click
import orjson

from reconciler.cli import environment, options, report
from reconciler.errors import StoreError
from reconciler.watch import status as status_file


@click.command()
@options.store_option
@options.output_option("text", "json")
@environment.environment_options
def status(location: str, output: str) -> None:
    """Show the watch controller's last sync: when, what it synced (commit or manifests
    fingerprint), the revision, the result and its errors, and the drifted resources.

    \b
    Examples:
      meshctl status
      meshctl status -o json | jq .last_sync.result

    Exit: 0 when the last sync succeeded, 1 when it failed or no controller ever ran here.
    """
    store = options.open_store(location)
    found = status_file.read(store)
    if found is None:
        raise StoreError(f"no watch controller has run on '{store.location}'; start one with "
                         "`meshctl watch`")
    found["running"] = status_file.is_running(found)
    last = found.get("last_sync") or {}
    ok = last.get("result") in ("synced", "in_sync")
    if output == "json":
        click.echo(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
    else:
        _print(found)
    if not ok:
        raise click.exceptions.Exit(1)


def _print(found: dict[str, object]) -> None:
    out = report.console()
    controller = found.get("controller") or {}
    assert isinstance(controller, dict)
    source = controller.get("source") or {}
    assert isinstance(source, dict)
    state = "running" if found.get("running") else "not running"
    out.print(f"Controller: {state} (pid {controller.get('pid')} on {controller.get('host')}, "
              f"since {controller.get('started')})")
    if source.get("type") == "git":
        subject = f" ({source['commit_subject']})" if source.get("commit_subject") else ""
        out.print(f"Source:     git {source.get('repo')} branch {source.get('branch')} "
                  f"at {str(source.get('commit') or '?')[:12]}{subject}", markup=False)
    else:
        out.print(f"Source:     {', '.join(map(str, source.get('paths') or []))}")
    out.print(f"Self-heal:  {'on' if controller.get('self_heal') else 'off'}; "
              f"resync every {controller.get('interval')} s")
    last = found.get("last_sync")
    if isinstance(last, dict):
        colour = "green" if last.get("result") in ("synced", "in_sync") else "red"
        out.print(f"Last sync:  {last.get('time')} [{colour}]{last.get('result')}[/] "
                  f"({last.get('trigger')}): {last.get('message')}")
        for error in (last.get("errors") or [])[:20]:
            where = ":".join(str(error[k]) for k in ("file", "line")
                             if error.get(k) is not None)  # a folder has no line
            where = f"{where}: " if error.get("file") else ""
            out.print(f"  {where}{error.get('message')}", markup=False)
    good = found.get("last_good_sync")
    if isinstance(good, dict):
        commit = f", commit {str(good['commit'])[:12]}" if good.get("commit") else ""
        out.print(f"Last good:  {good.get('time')} at revision {good.get('revision')}{commit}")
    for label, key in (("Drifted", "drifted"), ("Pending", "pending")):
        listed = found.get(key) or []
        assert isinstance(listed, list)
        count = found.get(f"{key}_count", len(listed))
        out.print(f"{label + ':':11} {count}")
        for item in listed:
            out.print(f"  {item['kind']}/{item['name']} {item['status']}", markup=False)

