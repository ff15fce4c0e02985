"""`meshctl describe`: one resource, its fields, its references both ways, and its sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson
from rich.markup import escape

from reconciler import engine, graph
from reconciler.cli import environment, options, report
from reconciler.cli.get_cmd import parse_kind
from reconciler.errors import UsageError, did_you_mean
from reconciler.manifests import export as exporter
from reconciler.manifests.layers import Layers
from reconciler.model import fields, kinds
from reconciler.model.resource import ResourceKey


@click.command()
@click.argument("kind")
@click.argument("name")
@options.store_option
@click.option("--manifests", "manifests", type=click.Path(), default=None,
              help="Where to look for its manifest (default $MESHCTL_MANIFESTS or "
                   "./manifests, when it exists).")
@options.output_option("text", "json")
@environment.environment_options
def describe(kind: str, name: str, location: str, manifests: str | None, output: str) -> None:
    """Describe one live resource: fields, references, users, and where it is declared.

    \b
    Examples:
      meshctl describe agent fraud_agent
      meshctl describe tool fraud_rules -o json
      meshctl describe mp default_gpt35 --manifests teams/claims/

    Exit: 0 found, 1 unknown kind or name, or unreadable registries.
    """
    key = ResourceKey(parse_kind(kind), name)
    store = options.open_store(location)
    live = store.snapshot()
    resource = live.state.get(key)
    if resource is None:
        names = list(live.state.of_kind(key.kind))
        raise UsageError(f"{key.describe()} not found in {store.location}; "
                         f"{did_you_mean(name, names)}"
                         f"see `meshctl get {kinds.info(key.kind).plural}`")
    options.warn_unloadable([resource])
    live_graph = graph.build(live.state)
    declared = _declared_in(key, manifests)
    data: dict[str, Any] = {
        "kind": key.kind.value,
        "name": name,
        "live": resource.source.file if resource.source else None,
        "declared_in": declared,
        "entry": resource.entry,
        "refers_to": [_edge(edge.target, edge) for edge in live_graph.outgoing(key)],
        "referred_to_by": [_edge(edge.source, edge) for edge in live_graph.incoming(key)],
        "dependents": [str(k) for k in live_graph.dependents(key, transitive=True)],
        "runtime_skips": fields.unloadable(key.kind, resource.entry),
    }
    if output == "json":
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    out = report.console()
    out.print(f"[bold]Name:[/]        {escape(name)}")
    out.print(f"[bold]Kind:[/]        {key.kind.value}")
    out.print(f"[bold]Live:[/]        {escape(str(data['live']))}")
    out.print(f"[bold]Declared in:[/] {escape(declared or 'no manifest found')}")
    out.print("[bold]Fields:[/]")
    spec = exporter.render_manifest(resource).split("\nspec:\n", 1)[-1]
    out.print(escape(spec.rstrip("\n")))
    for title, edges in (("Refers to", data["refers_to"]),
                         ("Referred to by", data["referred_to_by"])):
        out.print(f"[bold]{title}:[/]" + ("" if edges else " none"))
        for edge in edges:
            out.print(f"  {edge['type']:<15} {escape(edge['resource'])}  [dim]({edge['path']})[/]")
    out.print(f"[bold]Dependents (transitive):[/] {len(data['dependents'])}")


def _edge(other: ResourceKey, edge: graph.Reference) -> dict[str, str]:
    return {"type": edge.type.value, "resource": str(other), "path": edge.path}


def _declared_in(key: ResourceKey, manifests: str | Layers | None) -> str | None:
    paths = manifests if isinstance(manifests, Layers) else \
        [manifests] if manifests else options.manifest_paths(())
    if not all(Path(p).exists() for p in paths):
        return None
    desired = engine.load_desired(paths, mesh_checks=False)
    resource = desired.state.get(key)
    if resource is None or resource.source is None:
        return None
    return f"{resource.source.file}:{resource.source.line}"
