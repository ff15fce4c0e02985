"""Options that several commands share, each defined once (as sqlite-utils does)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from reconciler.manifests.loader import DEFAULT_MAX_BYTES

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_MANIFESTS = "manifests"
DEFAULT_REGISTRIES = "registries"


def manifest_paths(paths: tuple[str, ...]) -> list[str]:
    """The PATH arguments, else $MESHCTL_MANIFESTS, else ./manifests."""
    if paths:
        return list(paths)
    return [os.environ.get("MESHCTL_MANIFESTS") or DEFAULT_MANIFESTS]


def paths_argument(func: F) -> F:
    return click.argument("paths", nargs=-1, type=click.Path())(func)


def registries_option(func: F) -> F:
    return click.option(
        "--registries", "registries", envvar="MESHCTL_REGISTRIES", default=DEFAULT_REGISTRIES,
        show_default=True, type=click.Path(file_okay=False),
        help="Live registries directory (env MESHCTL_REGISTRIES).")(func)


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
