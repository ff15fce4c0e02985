"""`meshctl export`: live registries -> one manifest per resource."""

from __future__ import annotations

import os
from pathlib import Path

import click
import orjson
from rich.progress import Progress

from reconciler import engine
from reconciler.cli import environment, options, report
from reconciler.errors import ManifestError, UsageError
from reconciler.manifests import export as exporter
from reconciler.manifests.layers import Layers
from reconciler.model import kinds
from reconciler.plan.render import common

PROGRESS_MIN = 500  # resources; smaller exports finish before a bar is worth drawing


@click.command()
@options.paths_argument
@options.store_option
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Where to write manifests (default $MESHCTL_MANIFESTS or ./manifests).")
@click.option("--drifted", is_flag=True,
              help="Only the resources whose live state differs from the manifests in PATH, "
                   "written where their manifests live (under --out if given).")
@options.output_option("text", "json")
@environment.environment_options
def export(paths: tuple[str, ...], location: str, out: str | None, drifted: bool,
           output: str) -> None:
    """Write the live registries as manifests, one file per resource.

    Files land in OUT/agents/, tools/, model-profiles/, workflows/ and policies/ as
    <name>.yaml (an existing file of the same name is replaced). The layout `meshctl fmt`
    keeps: the registry's field order, block style, multi-line strings as literal blocks,
    no folded lines. Re-reading gives the same data.
    File-level keys of the registries (version, last_updated, _comment) stay in the
    registry files; they are not resources.

    With --drifted [PATH...] (default ./manifests): only what differs from the manifests,
    so a change made in the panel or the API can become a pull request. A drifted resource
    replaces its own document in its file (the file's other documents and comments stay);
    a live resource no manifest declares gets a new file; a resource deleted live has its
    document removed (with --out it is only listed). Then `git diff` shows the drift.

    \b
    Examples:
      meshctl export --store /srv/agentmesh/registries --out manifests/
      meshctl export -o json | jq '.files | length'
      meshctl export --drifted manifests/ && git diff     # live changes -> a pull request

    Exit: 0 written (or no drift), 1 registries unreadable or damaged, or manifests that
    cannot be read (nothing is written).
    """
    if drifted:
        _export_drifted(paths, location, out, output)
        return
    if paths and not isinstance(paths, Layers):  # (an environment's: for --drifted)
        raise UsageError("PATH is for --drifted: a full export writes to --out")
    live = options.read_live(location)
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
        click.echo(f"Exported {common.count(len(written), 'resource')} to {target}/ ({detail})")


def _export_drifted(paths: tuple[str, ...], location: str, out: str | None,
                    output: str) -> None:
    from reconciler.watch import drift

    chosen = options.manifest_paths(paths)
    live = options.read_live(location)
    desired = engine.load_desired(chosen, mesh_checks=False)
    unreadable = [d for d in desired.errors if d.code.startswith("M")]
    if unreadable:
        report.print_diagnostics(report.console(stderr=True), unreadable)
        raise ManifestError("the manifests cannot all be read (see above), so where each "
                            "resource lives is not known; nothing was written")
    roots = [Path(p) if Path(p).is_dir() else Path(p).parent for p in chosen]
    done = drift.write_drifted(desired.state, live.state, roots=roots,
                               out=Path(out) if out else None)
    if output == "json":
        click.echo(orjson.dumps({
            "written": [str(p) for p in done.written], "removed": [str(p) for p in done.removed],
            "not_written": [str(k) for k in done.not_written],
            "resources": [{"kind": k.kind.value, "name": k.name, "status": why}
                          for k, why in done.reasons.items()]},
            option=orjson.OPT_INDENT_2).decode())
        return
    if not done.reasons:
        click.echo("No drift: the live registries match the manifests.")
        return
    for key, why in done.reasons.items():
        click.echo(f"{why:12} {key}")
    for key in done.not_written:
        click.echo(f"note: {key} was deleted live: remove its manifest by hand")
    click.echo(f"Wrote {common.count(len(done.written), 'file')}, removed "
               f"{len(done.removed)}.")
