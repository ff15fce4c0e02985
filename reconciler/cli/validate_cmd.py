"""`meshctl validate`: check manifests (schema, references, graph) and report every problem."""

from __future__ import annotations

import click
import orjson

from reconciler.cli import environment, options, report
from reconciler.errors import UsageError
from reconciler.plan.render import common


@click.command()
@options.paths_argument
@options.output_option("text", "json", *report.CI_FORMATS)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--all-envs", is_flag=True,
              help="Validate every environment of meshctl.yaml, one section each (CI).")
@click.option("--no-color", is_flag=True, help="No colour, even on a terminal.")
@options.loading_options
@environment.environment_options
def validate(paths: tuple[str, ...], output: str, strict: bool, all_envs: bool,
             no_color: bool, max_bytes: int, no_cache: bool, jobs: int | None) -> None:
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
      meshctl validate --env prod                     # one environment of meshctl.yaml
      meshctl validate --all-envs -o github           # every environment, for CI

    Exit: 0 valid (warnings allowed unless --strict), 1 invalid or unreadable (with
    --all-envs: 1 when any environment is).
    """
    manifests = options.manifest_paths(paths)
    scan = None if all_envs else options.begin_scan(manifests, max_bytes,
                                                    use_cache=not no_cache)
    from reconciler import engine  # (after the scan began: see `options.begin_scan`)
    from reconciler.cli import all_envs as all_envs_

    if all_envs:
        if paths:
            raise UsageError("--all-envs reads each environment's manifests: leave out PATHS")
        all_envs_.validate_all(environment.project_given(), output=output, strict=strict,
                               no_color=no_color, max_bytes=max_bytes, no_cache=no_cache,
                               jobs=jobs)
        return
    desired = engine.validate_files(manifests, max_bytes=max_bytes, use_cache=not no_cache,
                                    jobs=jobs, scan=scan)
    failed = bool(desired.errors) or (strict and bool(desired.warnings))
    if output in report.CI_FORMATS:
        verdict = "invalid" if failed else "valid"
        report.ci_output(output, "meshctl validate", desired.diagnostics, desired.declared,
                         f"{verdict}: {common.count(desired.resource_count, 'resource')} in "
                         f"{common.count(desired.file_count, 'file')}, "
                         f"{report.summary_line(desired.diagnostics)}")
    elif output == "json":
        click.echo(orjson.dumps({
            "valid": not failed,
            "errors": len(desired.errors),
            "warnings": len(desired.warnings),
            "files": desired.file_count,
            "resources": desired.resource_count,
            "diagnostics": report.diagnostics_json(desired.diagnostics),
        }, option=orjson.OPT_INDENT_2).decode())
    else:
        out = report.console(no_color=no_color)
        report.print_diagnostics(out, desired.diagnostics)
        verdict = "[bold red]invalid[/]" if failed else "[bold green]valid[/]"
        out.print(f"{verdict}: {common.count(desired.resource_count, 'resource')} in "
                  f"{common.count(desired.file_count, 'file')}, "
                  f"{report.summary_line(desired.diagnostics)}")
    if failed:
        raise click.exceptions.Exit(1)
