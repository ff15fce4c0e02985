"""`meshctl render`: an environment's merged manifests, one document per resource, as
`kustomize build` shows what Argo CD will apply (issue 25).

Loading does the layering (`manifests/layers.py`); this command only writes the result with
the exporter's renderer, so what it prints is what `meshctl export` would write of the same
resources, and reading it back as plain manifests gives the environment's desired state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click
import orjson

from reconciler import engine
from reconciler.cli import environment, options, report
from reconciler.errors import ManifestError, UsageError
from reconciler.manifests import export as exporter
from reconciler.manifests import loader
from reconciler.model import kinds
from reconciler.model.resource import Resource
from reconciler.plan.render import common


@click.command()
@options.paths_argument
@click.option("--out", "out", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Write one file per resource under DIR, in export's layout, instead of "
                   "printing them.")
@options.output_option("yaml", "json")
@options.loading_options
@environment.environment_options
def render(paths: tuple[str, ...], out: str | None, output: str, max_bytes: int,
           no_cache: bool, jobs: int | None) -> None:
    """Print the merged manifests of an environment, one document per resource: its layers
    applied (merge patches, `patches:` operations, `$patch: delete`), as `kustomize build`
    shows what Argo CD will apply. Without --env, the manifests in PATH (default
    $MESHCTL_MANIFESTS or ./manifests), each in the canonical layout.

    The documents come in the kinds' dependency order (model profiles, tools, agents,
    workflows, policies, ...), then as declared (base first, then what later layers add),
    written as `meshctl export` writes them. Values are never substituted: `${GW_BASE_URL}`
    comes out as written. Read back as plain manifests (`meshctl plan DIR --store ...`), the
    output is the environment's desired state.

    With --out DIR: the files of `meshctl export --out` (DIR/agents/<name>.yaml, ...). As
    export does, a file of the same name is replaced and other files in DIR are left as
    they are (a note lists them: reading DIR back would read them too, so render into an
    empty folder). DIR may not be inside the manifests it renders. `-o json` prints the
    documents as one JSON list (with --out: what was written, as `export -o json` does).

    Manifests that cannot be read or merged (M rules) are reported and nothing is printed
    or written. Other rules' findings are not render's business: `meshctl validate --env`.

    \b
    Examples:
      meshctl render --env prod                      # what prod applies, on stdout
      meshctl render --env dev --out build/dev       # one file per resource
      meshctl render --env prod -o json | jq '.[].metadata.name'
      diff <(meshctl render --env dev) <(meshctl render --env prod)
      meshctl render teams/claims/                   # no environment: plain manifests

    Exit: 0 rendered, 1 manifests that cannot be read or merged, DIR cannot be written, or
    a usage error (nothing is written).
    """
    chosen = options.manifest_paths(paths)
    target = Path(out) if out is not None else None
    if target is not None:
        _refuse_inside(target, chosen)
    desired = engine.load_desired(chosen, max_bytes=max_bytes, use_cache=not no_cache,
                                  jobs=jobs, mesh_checks=False)
    unreadable = [d for d in desired.errors if d.code.startswith("M")]
    if unreadable:
        report.print_diagnostics(report.console(stderr=True), unreadable)
        raise ManifestError(f"the manifests cannot all be read and merged "
                            f"({common.count(len(unreadable), 'error')}, see above); "
                            "nothing was rendered")
    resources = list(desired.state)  # kinds in dependency order, then as declared
    if desired.errors:
        click.echo(f"note: the rendered manifests have "
                   f"{common.count(len(desired.errors), 'error')} by the resource rules; "
                   "`meshctl validate` with the same arguments lists them", err=True)
    if target is None:
        if output == "json":
            click.echo(orjson.dumps([exporter.manifest_document(r) for r in resources],
                                    option=orjson.OPT_INDENT_2).decode())
        else:
            click.echo("---\n".join(exporter.render_manifest(r) for r in resources), nl=False)
        return
    counts = {kinds.info(kind).plural: n for kind, n in desired.state.counts().items()}
    _write(resources, target, desired.files, counts, output)


def _refuse_inside(target: Path, paths: Sequence[str]) -> None:
    """DIR must not be one of the manifest folders or inside one: the rendered copies would
    replace the files they came from, or be read as manifests next time (M010)."""
    where = target.resolve()
    for path in paths:
        folder = Path(path)
        if folder.is_dir() and (where == folder.resolve() or folder.resolve() in where.parents):
            raise UsageError(f"--out {target} is inside the manifests it renders ({path}): "
                             "choose a folder outside them")


def _write(resources: list[Resource], target: Path, sources: list[str],
           counts: dict[str, int], output: str) -> None:
    """The files of `meshctl export --out`, after checking that none replaces a manifest
    that was read; then what was written, and which other manifest files DIR holds."""
    planned = [exporter.manifest_path(target, r) for r in resources]
    read = {Path(name).resolve() for name in sources}
    clash = [str(path) for path in planned if path.resolve() in read]
    if clash:  # a PATH that is a file, in the folder it would be rendered to
        raise UsageError(f"--out {target} would replace manifests it renders "
                         f"({', '.join(clash[:3])}): choose another folder")
    written = exporter.export_resources(resources, target)
    ours = {path.resolve() for path in written}
    others = [name for name in loader.manifest_file_names([target])
              if Path(name).resolve() not in ours] if target.is_dir() else []
    if output == "json":
        click.echo(orjson.dumps({"out": str(target), "counts": counts,
                                 "files": [str(p) for p in written], "others": others},
                                option=orjson.OPT_INDENT_2).decode())
    else:
        detail = ", ".join(f"{n} {plural}" for plural, n in counts.items())  # folder names
        click.echo(f"Rendered {common.count(len(written), 'resource')} to {target}/ ({detail})")
    if others:
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        click.echo(f"note: {target}/ also holds {common.count(len(others), 'manifest file')} "
                   f"this render did not write ({shown}); reading {target}/ back reads them "
                   "too: render into an empty folder to get the environment alone", err=True)
