"""`meshctl compare ENV_A ENV_B`: how two environments' desired states differ, resource by
resource and field by field, with the layer (file:line) that set each value on each side:
the promotion review (issue 25). It reads the manifests only, never a store.

The differences are `manifests.compare`'s; this module loads both environments, reports
their errors, and renders the result as text, JSON or markdown.

The JSON form (`-o json`), stable within its `format_version`:

    {"format_version": 1,
     "a": {"environment": "dev", "manifests": ["manifests/base", "manifests/overlays/dev"]},
     "b": {"environment": "prod", "manifests": [...]},
     "differs": true,
     "summary": {"differing": 2, "only_a": 0, "only_b": 0, "same": 51},
     "only_a": [{"kind": "Agent", "name": "...", "declared": ORIGIN}],   # also "only_b"
     "differing": [{"kind": "Agent", "name": "fraud_agent", "a": ORIGIN, "b": ORIGIN,
                    "fields": [{"path": "max_iterations",
                                "a": {"value": 3, ...ORIGIN}, "b": {"value": 5, ...ORIGIN}},
                               {"path": "capabilities[4]", "a": {...}, "b": null}]}]}

ORIGIN is {"file", "line", "layer"}: the manifest that sets the value (a resource: that
declares it) and the environment's layer folder holding it; `file` null means no manifest
writes the value (a default). A side of a field is null where that environment lacks it.
Lists are in kind order, then by name; fields by path, labels and annotations last.
"""

from __future__ import annotations

from typing import Any

import click
import orjson

from reconciler import engine
from reconciler.cli import environment, options, report
from reconciler.engine import DesiredState
from reconciler.errors import Diagnostic
from reconciler.manifests import compare as compare_
from reconciler.manifests.layers import Layers
from reconciler.manifests.project import Environment
from reconciler.model.resource import ResourceKey
from reconciler.plan.render import common
from reconciler.plan.render import markdown as plan_markdown
from reconciler.plan.render.text import literal

FORMAT_VERSION = 1
EXIT_DIFFERENT = 2  # with --exit-code: meshctl's "changes present"
MARKDOWN_RESERVE = 600  # room kept for the closing note on what was left out


@click.command("compare")
@click.argument("env_a", metavar="ENV_A")
@click.argument("env_b", metavar="ENV_B")
@click.option("--project", type=click.Path(dir_okay=False, exists=True), default=None,
              metavar="FILE", help="The project file (default: meshctl.yaml here or above).")
@options.output_option("text", "json", "markdown")
@click.option("--exit-code", is_flag=True,
              help="Exit 2 when the environments differ (0 when they are the same).")
@click.option("--no-color", is_flag=True, help="No colour, even on a terminal.")
def compare_command(env_a: str, env_b: str, project: str | None, output: str,
                    exit_code: bool, no_color: bool) -> None:
    """Show how two environments' desired states differ, with the layer that set each value.

    Both environments of meshctl.yaml are loaded from their manifest layers (no store is
    read), and compared resource by resource: the resources only one of them has, and,
    for those both have, every field that differs (labels and annotations too), each
    side's value with the file:line of the layer that set it. Fields compare as the plan
    compares them: an omitted optional field equals what its absence means.

    This is the promotion review: move what staging's overlay sets into base, then
    `meshctl compare staging prod` shows what prod would get.

    \b
    Examples:
      meshctl compare dev prod
      meshctl compare staging prod -o markdown > comment.md   # a pull-request comment
      meshctl compare dev prod -o json | jq '.differing[].fields[].path'
      meshctl compare dev prod --exit-code    # CI: 0 the same, 2 they differ, 1 error
      meshctl compare dev prod --project deploy/meshctl.yaml

    Exit: 0 success; 1 error (unknown environment, invalid manifests in either); with
    --exit-code, 2 when they differ.
    """
    found = environment.project_of(project)
    first, second = found.environment(env_a), found.environment(env_b)
    loaded: dict[str, DesiredState] = {}
    for chosen in (first, second):
        if chosen.name not in loaded:
            chosen.check_layers()
            loaded[chosen.name] = engine.load_desired(Layers(chosen.manifests),
                                                      mesh_checks=False)
    failed = [(found.environment(name), desired.diagnostics)
              for name, desired in loaded.items() if desired.errors]
    if failed:
        _no_comparison(failed, as_json=output == "json", no_color=no_color)
        raise click.exceptions.Exit(1)
    result = compare_.compare(loaded[first.name].state, loaded[second.name].state,
                              layers_a=first.manifests, layers_b=second.manifests)
    if output == "json":
        click.echo(orjson.dumps(to_dict(result, first, second),
                                option=orjson.OPT_INDENT_2).decode())
    elif output == "markdown":
        click.echo(render_markdown(result, first, second), nl=False)
    else:
        screen = report.console(no_color=no_color)
        screen.print(render_text(result, first, second), end="")
    if exit_code and result.differs:
        raise click.exceptions.Exit(EXIT_DIFFERENT)


def _no_comparison(failed: list[tuple[Environment, list[Diagnostic]]], *, as_json: bool,
                   no_color: bool) -> None:
    """Each environment's problems, once each: both read the base, so an error there would
    otherwise show twice."""
    seen: set[Diagnostic] = set()
    shown: list[tuple[Environment, list[Diagnostic]]] = []
    for chosen, diagnostics in failed:
        fresh = [d for d in diagnostics if d not in seen]
        seen.update(fresh)
        shown.append((chosen, fresh))
    if as_json:
        data = {"valid": False,
                "environments": {chosen.name: report.diagnostics_json(diagnostics)
                                 for chosen, diagnostics in failed}}
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    err = report.console(stderr=True, no_color=no_color)
    for chosen, diagnostics in shown:
        err.print(f"[bold]{literal(chosen.name)}[/] ({literal(', '.join(chosen.manifests))}):")
        if diagnostics:
            report.print_diagnostics(err, diagnostics)
        else:
            err.print("  the same problems as above")
    counts = "; ".join(f"{literal(chosen.name)}: {report.summary_line(diagnostics)}"
                       for chosen, diagnostics in failed)
    err.print(f"[bold red]No comparison:[/] {counts}")


# --- JSON -----------------------------------------------------------------------------------


def to_dict(result: compare_.Comparison, a: Environment, b: Environment) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "a": {"environment": a.name, "manifests": list(a.manifests)},
        "b": {"environment": b.name, "manifests": list(b.manifests)},
        "differs": result.differs,
        "summary": {"differing": len(result.differing), "only_a": len(result.only_a),
                    "only_b": len(result.only_b), "same": result.same},
        "only_a": [_declared(item) for item in result.only_a],
        "only_b": [_declared(item) for item in result.only_b],
        "differing": [
            {**_key(item.key), "a": _origin(item.a), "b": _origin(item.b),
             "fields": [{"path": f.path, "a": _setting(f.a), "b": _setting(f.b)}
                        for f in item.fields]}
            for item in result.differing],
    }


def _key(key: ResourceKey) -> dict[str, str]:
    return {"kind": key.kind.value, "name": key.name}


def _origin(origin: compare_.Origin) -> dict[str, Any]:
    return {"file": origin.file, "line": origin.line, "layer": origin.layer}


def _declared(item: compare_.Declared) -> dict[str, Any]:
    return {**_key(item.key), "declared": _origin(item.origin)}


def _setting(setting: compare_.Setting | None) -> dict[str, Any] | None:
    return None if setting is None else {"value": setting.value, **_origin(setting.origin)}


# --- text -----------------------------------------------------------------------------------


def render_text(result: compare_.Comparison, first: Environment, second: Environment) -> str:
    """The comparison as rich markup: the resources only one side has, then each differing
    resource with, per field, each side's value and where it was set."""
    a, b = first.name, second.name
    lines = [f"Comparing [cyan]{literal(a)}[/] ({literal(' + '.join(first.manifests))}) with "
             f"[magenta]{literal(b)}[/] ({literal(' + '.join(second.manifests))}).", ""]
    width = max(len(a), len(b)) + 1
    if not result.differs:
        lines.append(f"[green]No differences.[/] {literal(a)} and {literal(b)} declare the "
                     f"same {common.count(result.same, 'resource')}.")
        return "\n".join(lines) + "\n"
    for name, only in ((a, result.only_a), (b, result.only_b)):
        if only:
            lines.append(f"[bold]Only in {literal(name)}[/] ({len(only)}):")
            lines.extend(f"  [bold]{literal(str(item.key))}[/]  [dim]{literal(str(item.origin))}[/]"
                         for item in only)
            lines.append("")
    if result.differing:
        lines.append(f"[bold]Different[/] ({len(result.differing)}):")
        for item in result.differing:
            lines.append(f"  [yellow]~[/] [bold]{literal(str(item.key))}[/]")
            for field in item.fields:
                lines.append(f"      {literal(field.path)}")
                lines.append(_side(a, width, field.a, "cyan"))
                lines.append(_side(b, width, field.b, "magenta"))
        lines.append("")
    lines.append(f"[bold]{literal(summary_line(result, a, b))}[/]")
    return "\n".join(lines) + "\n"


def _side(name: str, width: int, setting: compare_.Setting | None, style: str) -> str:
    label = f"        [{style}]{literal((name + ':').ljust(width))}[/] "
    if setting is None:
        return f"{label}[dim](absent)[/]"
    return (f"{label}{literal(common.value(setting.value))}  "
            f"[dim]{literal(str(setting.origin))}[/]")


def summary_line(result: compare_.Comparison, a: str, b: str) -> str:
    return (f"Compare {a} with {b}: {len(result.differing)} different, "
            f"{len(result.only_a)} only in {a}, {len(result.only_b)} only in {b}, "
            f"{result.same} the same.")


# --- markdown -------------------------------------------------------------------------------


def render_markdown(result: compare_.Comparison, first: Environment, second: Environment,
                    limit: int = plan_markdown.LIMIT) -> str:
    """The comparison as a pull-request comment: a summary table, the resources only one
    side has, and a table per differing resource, kept under `limit` characters (what
    does not fit is counted, with a pointer to the JSON)."""
    a, b = first.name, second.name
    out = "\n".join([
        f"### meshctl compare: {_text(a)} and {_text(b)}",
        "",
        f"{_text(a)}: {', '.join(_code(layer) for layer in first.manifests)}; "
        f"{_text(b)}: {', '.join(_code(layer) for layer in second.manifests)}",
        "",
        f"| different | only in {_text(a)} | only in {_text(b)} | same |",
        "|---:|---:|---:|---:|",
        f"| {len(result.differing)} | {len(result.only_a)} | {len(result.only_b)} | "
        f"{result.same} |",
        "",
        "",
    ])
    if not result.differs:
        return out + f"No differences: {_text(a)} and {_text(b)} declare the same resources.\n"
    budget = limit - MARKDOWN_RESERVE
    left_out = 0
    blocks: list[tuple[str, list[str]]] = [
        (f"#### Only in {_text(a)} ({len(result.only_a)})\n\n",
         [f"- {_code(str(i.key))} — {_code(str(i.origin))}\n" for i in result.only_a]),
        (f"#### Only in {_text(b)} ({len(result.only_b)})\n\n",
         [f"- {_code(str(i.key))} — {_code(str(i.origin))}\n" for i in result.only_b]),
        (f"#### Different ({len(result.differing)})\n\n",
         [_table(item, a, b) for item in result.differing]),
    ]
    for heading, items in blocks:
        if not items:
            continue
        if len(out) + len(heading) > budget:
            left_out += len(items)
            continue
        out += heading
        for number, block in enumerate(items):
            if len(out) + len(block) > budget:
                left_out += len(items) - number
                out += f"- … and {len(items) - number} more\n"
                break
            out += block
        out += "\n"
    if left_out:
        out += (f"> {common.count(left_out, 'resource')} left out to stay under {limit:,} "
                f"characters; run `meshctl compare {a} {b} -o json` for all of it.\n")
    return out


def _table(item: compare_.ResourceDifference, a: str, b: str) -> str:
    rows = [f"**{_code(str(item.key))}**", "", f"| field | {_text(a)} | {_text(b)} |",
            "|---|---|---|"]
    rows += [f"| {_code(f.path)} | {_cell(f.a)} | {_cell(f.b)} |" for f in item.fields]
    return "\n".join(rows) + "\n\n"


def _cell(setting: compare_.Setting | None) -> str:
    if setting is None:
        return "*absent*"
    return f"{_code(common.value(setting.value))}<br>{_code(str(setting.origin))}"


def _code(text: str) -> str:
    """`text` as an inline code span that survives a table cell: pipes escaped, and a
    longer fence around a text holding backticks."""
    text = text.replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _text(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")
