"""`meshctl fmt`: rewrite manifests in the canonical layout, keeping comments."""

from __future__ import annotations

import difflib
import multiprocessing
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click

from reconciler.cli import environment, options, report
from reconciler.fsutil import write_atomically
from reconciler.manifests import fmt, loader
from reconciler.plan.render import common


@click.command("fmt")
@options.paths_argument
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 when a file is not formatted (CI, pre-commit).")
@click.option("--diff", "show_diff", is_flag=True,
              help="Write nothing; print what would change as a unified diff.")
@environment.environment_options
def fmt_command(paths: tuple[str, ...], check: bool, show_diff: bool) -> None:
    """Rewrite manifests in the layout `meshctl export` writes: key order (apiVersion, kind,
    metadata, spec in the registry's field order), block style, multi-line strings as
    literal blocks, strings quoted as export quotes them, no folded lines. Comments are
    kept. A file with errors is left alone and reported.

    \b
    Examples:
      meshctl fmt                        # ./manifests, in place
      meshctl fmt --check                # CI: exit 1 when something is not formatted
      meshctl fmt --diff manifests/agents/fraud_agent.yaml

    Exit: 0 formatted (or already), 1 a file would change (--check) or has errors.
    """
    names = loader.manifest_file_names(options.manifest_paths(paths))
    changed: list[str] = []
    problems = []
    for name, text, result in _formatted(names):
        path = Path(name)
        if result.text is None:
            problems += result.problems
            continue
        if result.text == text:
            continue
        changed.append(name)
        if show_diff:
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(keepends=True), result.text.splitlines(keepends=True),
                f"{name}", f"{name} (formatted)"))
        elif not check:
            write_atomically(path, result.text.encode("utf-8"), mode=path.stat().st_mode & 0o777)
    err = report.console(stderr=True)
    report.print_diagnostics(err, problems)
    verb = "would reformat" if check or show_diff else "reformatted"
    for name in changed if not show_diff else []:
        click.echo(f"{verb} {name}")
    click.echo(f"{common.count(len(changed), 'file')} {verb}, "
               f"{common.count(len(names) - len(changed) - len(problems), 'file')} unchanged"
               + (f", {common.count(len(problems), 'file')} with errors" if problems else ""),
               err=True)
    if problems or (changed and (check or show_diff)):
        raise click.exceptions.Exit(1)


PARALLEL_MIN_FILES = 200


def _format_file(name: str) -> tuple[str, str, fmt.Formatted]:
    text = Path(name).read_text(encoding="utf-8", errors="surrogateescape")
    return name, text, fmt.format_text(text, name)


def _formatted(names: list[str]) -> Iterator[tuple[str, str, fmt.Formatted]]:
    """Each file's text and outcome, in order; many files are spread over forked workers
    (the comment-keeping round trip is pure Python)."""
    workers = os.cpu_count() or 1
    if len(names) < PARALLEL_MIN_FILES or workers < 2:
        yield from map(_format_file, names)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(_format_file, names, chunksize=64)
