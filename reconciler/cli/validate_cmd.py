"""`meshctl validate`: check manifests (schema, references, graph) and report every problem."""

from __future__ import annotations

import click
import orjson

from reconciler import engine
from reconciler.cli import environment, options, report
from reconciler.plan.render import common


@click.command()
@options.paths_argument
@options.output_option("text", "json", *report.CI_FORMATS)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--no-color", is_flag=True, help="No colour, even on a terminal.")
@options.loading_options
@environment.environment_options
def validate(paths: tuple[str, ...], output: str, strict: bool, no_color: bool,
             max_bytes: int, no_cache: bool, jobs: int | None) -> None:
    """Validate manifests: schema, references and the dependency graph.

    PATHS are manifest files or directories, read recursively (*.yaml, *.yml);
    default $MESHCTL_MANIFESTS or ./manifests.

    \b
    Examples:
      meshctl validate
      meshctl validate teams/claims/ teams/shared/   # several roots, one mesh
      meshctl validate --strict -o json > report.json
      meshctl validate -o github                      # annotations on a pull request
      meshctl validate -o sarif > meshctl.sarif       # code scanning
      meshctl validate -o junit > meshctl.xml         # a test report

    Exit: 0 valid (warnings allowed unless --strict), 1 invalid or unreadable.
    """
    desired = engine.load_desired(options.manifest_paths(paths), max_bytes=max_bytes,
                                  use_cache=not no_cache, jobs=jobs)
    failed = bool(desired.errors) or (strict and bool(desired.warnings))
    if output in report.CI_FORMATS:
        verdict = "invalid" if failed else "valid"
        report.ci_output(output, "meshctl validate", desired.diagnostics,
                         [(str(r.key), r.source.file if r.source else None)
                          for r in desired.state],
                         f"{verdict}: {common.count(len(desired.state), 'resource')} in "
                         f"{common.count(len(desired.files), 'file')}, "
                         f"{report.summary_line(desired.diagnostics)}")
    elif output == "json":
        click.echo(orjson.dumps({
            "valid": not failed,
            "errors": len(desired.errors),
            "warnings": len(desired.warnings),
            "files": len(desired.files),
            "resources": len(desired.state),
            "diagnostics": report.diagnostics_json(desired.diagnostics),
        }, option=orjson.OPT_INDENT_2).decode())
    else:
        out = report.console(no_color=no_color)
        report.print_diagnostics(out, desired.diagnostics)
        verdict = "[bold red]invalid[/]" if failed else "[bold green]valid[/]"
        out.print(f"{verdict}: {common.count(len(desired.state), 'resource')} in "
                  f"{common.count(len(desired.files), 'file')}, "
                  f"{report.summary_line(desired.diagnostics)}")
    if failed:
        raise click.exceptions.Exit(1)
