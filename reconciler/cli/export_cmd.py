"""`meshctl export`: live registries -> one manifest per resource."""

from __future__ import annotations

import os
from pathlib import Path

import click
import orjson
from rich.progress import Progress

from reconciler import engine
from reconciler.cli import options, report
from reconciler.manifests import export as exporter
from reconciler.model import kinds

PROGRESS_MIN = 500  # resources; smaller exports finish before a bar is worth drawing


@click.command()
@options.registries_option
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Where to write manifests (default $MESHCTL_MANIFESTS or ./manifests).")
@options.output_option("text", "json")
def export(registries: str, out: str | None, output: str) -> None:
    """Write the live registries as manifests, one file per resource.

    Files land in OUT/agents/, tools/, model-profiles/, workflows/ and policies/ as
    <name>.yaml (an existing file of the same name is replaced). Block style, registry
    key order, multi-line strings as literal blocks: re-reading gives the same data.
    File-level keys of the registries (version, last_updated, _comment) stay in the
    registry files; they are not resources.

    \b
    Examples:
      meshctl export --registries /srv/agentmesh/registries --out manifests/
      meshctl export -o json | jq '.files | length'

    Exit: 0 written, 1 registries unreadable or damaged (nothing is written).
    """
    live = options.read_live(registries)
    err = report.console(stderr=True)
    findings = engine.validate_live(live)
    report.print_diagnostics(err, findings)
    target = Path(out or os.environ.get("MESHCTL_MANIFESTS") or options.DEFAULT_MANIFESTS)
    resources = list(live.state)
    if len(resources) >= PROGRESS_MIN and err.is_terminal:
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("Exporting", total=len(resources))
            written = exporter.export_resources(
                resources, target, lambda _: progress.advance(task))
    else:
        written = exporter.export_resources(resources, target)
    if findings:  # exported as they are: the manifests must show what is live, flaws included
        err.print(f"note: the live registries have {report.summary_line(findings)}; "
                  "the manifests show them as they are")
    counts = {kinds.info(kind).plural: n for kind, n in live.state.counts().items()}
    if output == "json":
        click.echo(orjson.dumps({"out": str(target), "counts": counts,
                                 "files": [str(p) for p in written]},
                                option=orjson.OPT_INDENT_2).decode())
    else:
        detail = ", ".join(f"{n} {plural}" for plural, n in counts.items())  # folder names
        click.echo(f"Exported {len(written)} resources to {target}/ ({detail})")
