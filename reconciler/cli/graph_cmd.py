"""`meshctl graph`: the dependency graph as Graphviz dot, Mermaid or JSON."""

from __future__ import annotations

import click
import orjson

from reconciler import engine, graph
from reconciler.cli import environment, options, report
from reconciler.errors import ManifestError, UsageError, did_you_mean
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, ResourceKey

SHAPES = {Kind.AGENT: "box", Kind.TOOL: "component", Kind.MODEL_PROFILE: "cylinder",
          Kind.WORKFLOW: "hexagon", Kind.GOVERNANCE_POLICY: "note",
          Kind.SYSTEM_CONFIG: "folder", Kind.CONTEXT_STRATEGIES: "folder",
          Kind.CONTEXT_PROCESSOR: "cds", Kind.AUTH_PROFILE: "septagon",
          Kind.SECURITY_POLICY: "octagon", Kind.INTEGRATION_CONFIG: "folder",
          Kind.CONNECTOR: "box3d", Kind.INTEGRATION_WORKFLOW: "hexagon"}


@click.command("graph")
@options.paths_argument
@options.output_option("dot", "mermaid", "json")
@click.option("--focus", "focus", multiple=True, metavar="NAME",
              help="Only NAME (or KIND/NAME), what it depends on and what depends on it.")
@click.option("--live", is_flag=True, help="Draw the live registries instead of manifests.")
@options.store_option
@environment.environment_options
def graph_command(paths: tuple[str, ...], output: str, focus: tuple[str, ...], live: bool,
                  location: str) -> None:
    """Print the dependency graph of the manifests (or, with --live, the registries).

    Edges point from a resource to what it names: uses-model, may-use-tool, may-invoke,
    requires-agent, step-agent, policy-ref.

    \b
    Examples:
      meshctl graph | dot -Tsvg > mesh.svg
      meshctl graph --focus fraud_rules -o mermaid
      meshctl graph --live -o json | jq '.cycles'

    Exit: 0 printed, 1 unreadable input or unknown --focus name.
    """
    if live:
        state = options.read_live(location).state
    else:
        desired = engine.load_desired(options.manifest_paths(paths), mesh_checks=False)
        # Rule findings still draw (dangling references show as missing nodes), but a file
        # or document that could not be read would silently drop resources from the picture.
        unread = [d for d in desired.errors if d.code.startswith("M")]
        if unread:
            report.print_diagnostics(report.console(stderr=True), unread)
            raise ManifestError("the manifests could not be read completely (see above)")
        state = desired.state
    mesh_graph = graph.build(state)
    if focus:
        mesh_graph = graph.subgraph(mesh_graph, [key for name in focus
                                                 for key in _resolve(name, state)])
    if output == "json":
        click.echo(orjson.dumps(graph.to_dict(mesh_graph), option=orjson.OPT_INDENT_2).decode())
    elif output == "mermaid":
        click.echo(mermaid(mesh_graph), nl=False)
    else:
        click.echo(dot(mesh_graph), nl=False)


def _resolve(name: str, state: MeshState) -> list[ResourceKey]:
    kind_text, _, bare = name.rpartition("/")
    wanted = [_kind(kind_text)] if kind_text else list(kinds.KIND_ORDER)
    found = [ResourceKey(k, bare) for k in wanted if k is not None and ResourceKey(k, bare)
             in state]
    if not found:
        names = [resource.name for resource in state]
        raise UsageError(f"--focus {name!r}: no such resource; {did_you_mean(bare, names)}"
                         "use NAME or KIND/NAME (agent/fraud_agent)")
    return found


def _kind(text: str) -> Kind | None:
    """A kind as typed (`agent`, `mp`) or as the graph prints it (`governance-policy`)."""
    found = kinds.kind_by_name(text)
    if found is None:
        found = next((kind for kind in kinds.KIND_ORDER
                      if kinds.info(kind).label.replace(" ", "-") == text.lower()), None)
    return found


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _distinct_edges(mesh_graph: graph.Graph) -> list[tuple[ResourceKey, ResourceKey, str]]:
    """One arrow per (source, target, type): a policy naming a tool in five rules is one."""
    return list(dict.fromkeys((e.source, e.target, e.type.value) for e in mesh_graph.edges))


def dot(mesh_graph: graph.Graph) -> str:
    lines = ["digraph mesh {", "  rankdir=LR;", "  node [fontname=Helvetica];"]
    for key in mesh_graph.nodes:
        lines.append(f"  {_quote(str(key))} [label={_quote(key.name)}, "
                     f"shape={SHAPES[key.kind]}];")
    for source, target, kind in _distinct_edges(mesh_graph):
        lines.append(f"  {_quote(str(source))} -> {_quote(str(target))} "
                     f"[label={_quote(kind)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def mermaid(mesh_graph: graph.Graph) -> str:
    ids = {key: f"n{number}" for number, key in enumerate(mesh_graph.nodes)}
    lines = ["graph LR"]
    for key, node_id in ids.items():
        label = f"{kinds.info(key.kind).label}: {key.name}".replace('"', "'")
        lines.append(f'  {node_id}["{label}"]')
    for source_key, target_key, kind in _distinct_edges(mesh_graph):
        source, target = ids.get(source_key), ids.get(target_key)
        if source is None:
            continue
        if target is None:  # a dangling reference: draw its target too, so it shows
            target = ids[target_key] = f"n{len(ids)}"
            lines.append(f'  {target}["missing {target_key}"]')
        lines.append(f"  {source} -->|{kind}| {target}")
    return "\n".join(lines) + "\n"
