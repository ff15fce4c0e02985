"""Options that several commands share, each defined once (as sqlite-utils does)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler import scanning
from reconciler.cli import report
from reconciler.errors import StoreError
from reconciler.manifests import layers
from reconciler.manifests.layers import Layers
from reconciler.manifests.loader import DEFAULT_MAX_BYTES
from reconciler.plan.render import common

if TYPE_CHECKING:  # (the store and the rules are imported where used: see `begin_scan`)
    from reconciler.model.resource import Resource
    from reconciler.store import LiveState, Store

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_MANIFESTS = "manifests"
DEFAULT_STORE = "registries"  # a registries folder in the working directory


def manifest_paths(paths: Sequence[str]) -> Sequence[str]:
    """The PATH arguments (an environment's layers, as they are), else $MESHCTL_MANIFESTS,
    else ./manifests."""
    if isinstance(paths, Layers):
        return paths
    if paths:
        return list(paths)
    return [os.environ.get("MESHCTL_MANIFESTS") or DEFAULT_MANIFESTS]


def begin_scan(paths: Sequence[str], max_bytes: int, *, use_cache: bool,
               here: float = scanning.HERE_ALONE) -> scanning.Scan | None:
    """Begin listing and stat-ing the manifests (`scanning.begin`) before the command
    imports the engine: at 100,000 files the stats' forked copy works while this process
    imports the rest (0.1 s that would otherwise leave a core idle). None where loading
    would not use it (no cache; an environment's layers)."""
    if not use_cache or layers.layered(paths) is not None:
        return None
    return scanning.begin(paths, max_bytes, here=here)


def open_store(location: str, lock_timeout: float | None = None) -> Store:
    """The store the command works on, opened once (a registries directory must exist: a
    typo must never read as an empty mesh, whose plan would create everything)."""
    from reconciler import store as store_

    return store_.open_store(location, lock_timeout=store_.DEFAULT_LOCK_TIMEOUT
                             if lock_timeout is None else lock_timeout)


def read_live(location: str) -> LiveState:
    """The live registries, read completely, or an error after printing what is damaged."""
    live = open_store(location).snapshot()
    if live.diagnostics:
        report.print_diagnostics(report.console(stderr=True), live.diagnostics)
        raise StoreError("the live registries could not be read completely (see above); "
                         "nothing was done")
    return live


MAX_LIVE_WARNINGS = 20


def warn_unloadable(resources: Iterable[Resource]) -> None:
    """Print (to stderr) which of `resources` the runtime would skip (L007), at most
    MAX_LIVE_WARNINGS of them."""
    from reconciler import validate

    found = validate.check_live(resources)
    if not found:
        return
    out = report.console(stderr=True)
    report.print_diagnostics(out, found[:MAX_LIVE_WARNINGS])
    if len(found) > MAX_LIVE_WARNINGS:
        more = common.count(len(found) - MAX_LIVE_WARNINGS, "more entry", "more entries")
        out.print(f"... and {more} the runtime skips (meshctl plan lists them all)")


def no_prune_option(func: F) -> F:
    return click.option(
        "--no-prune/--prune", "no_prune", default=False,
        help="Keep live resources that no manifest declares (--prune deletes them, the "
             "default, where an environment says 'prune: false').")(func)


def paths_argument(func: F) -> F:
    return click.argument("paths", nargs=-1, type=click.Path())(func)


def store_option(func: F) -> F:
    """`--store LOCATION` (older name `--registries`): where the live registries are."""
    return click.option(
        "--store", "--registries", "location", envvar=["MESHCTL_STORE", "MESHCTL_REGISTRIES"],
        default=DEFAULT_STORE, show_default=True, metavar="LOCATION",
        help="Where the live registries are: a registries directory, or a database URL "
             "postgresql://USER@HOST:5432/DB (password from PGPASSWORD or ~/.pgpass; never "
             "printed). Env MESHCTL_STORE or MESHCTL_REGISTRIES.")(func)


def output_option(*choices: str) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        return click.option("-o", "--output", "output", type=click.Choice(choices),
                            default=choices[0], show_default=True,
                            help="Output format.")(func)
    return decorate


def loading_options(func: F) -> F:
    func = click.option("--max-bytes", type=click.IntRange(min=1), default=DEFAULT_MAX_BYTES,
                        show_default=True, help="Largest manifest file accepted.")(func)
    func = click.option("--no-cache", is_flag=True,
                        help="Ignore and do not write the parse cache (.meshctl-cache/).")(func)
    return click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
                        help="Worker processes for parsing (default: CPU count).")(func)


def deny_breaking_option(func: F) -> F:
    func = click.option(
        "--deny-access-widening/--allow-access-widening", default=False,
        help="Refuse changes that let an agent invoke an agent or use a tool it could not "
             "before (the plan's access changes marked +). For protected branches.")(func)
    return click.option(
        "--deny-breaking/--allow-breaking", default=False,
        help="Refuse changes that break callers: schema changes (B001) and workflow steps "
             "left without their inputs (B002). Default: warnings.")(func)
