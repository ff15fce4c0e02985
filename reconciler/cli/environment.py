"""`--env NAME` and `--project FILE` on every command: an environment of meshctl.yaml gives
the command its manifest layers, its store and the options it fixes (issue 25).

What wins, most specific first: an option on the command line; the environment; the
variables MESHCTL_MANIFESTS and MESHCTL_STORE; the defaults. (A shell that exports
MESHCTL_STORE for one mesh must not send `--env prod` somewhere else.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from reconciler.errors import UsageError
from reconciler.manifests import project as project_
from reconciler.manifests.layers import Layers
from reconciler.manifests.project import Environment, Project

F = TypeVar("F", bound=Callable[..., Any])

ENV_VARIABLE = "MESHCTL_ENV"
_META = "meshctl.environment"
_PROJECT = "meshctl.project"

# A command's parameter -> the environment setting it takes when not given on the line.
_FLAGS = {"deny_breaking": "deny_breaking", "deny_access_widening": "deny_access_widening",
          "max_deletes": "max_deletes"}


def project_of(project: str | None) -> Project:
    """The project file named, else the nearest meshctl.yaml, else a usage error."""
    if project is not None:
        return project_.load(Path(project))
    found = project_.find(Path.cwd())
    if found is None:
        raise UsageError(f"no {project_.FILE_NAME} here or in a folder above (up to the git "
                         "root): create one (`meshctl init --envs dev,prod`) or give "
                         "--project FILE")
    return project_.load(found)


def chosen() -> Environment | None:
    """The environment the running command works in, if any."""
    context = click.get_current_context(silent=True)
    found = context.meta.get(_META) if context is not None else None
    return found if isinstance(found, Environment) else None


def project_given() -> str | None:
    """The --project FILE given without --env (for --all-envs)."""
    context = click.get_current_context(silent=True)
    found = context.meta.get(_PROJECT) if context is not None else None
    return found if isinstance(found, str) else None


def environment_options(func: F) -> F:
    """Adds `--env` and `--project`; before the command runs, the chosen environment fills
    in the manifests, store and options the command line left out."""

    @functools.wraps(func)
    def wrapper(*args: Any, env: str | None, project: str | None, **kwargs: Any) -> Any:
        if env is not None:
            context = click.get_current_context()
            environment = project_of(project).environment(env)
            context.meta[_META] = environment
            fill(environment, kwargs)
        elif project is not None:
            if not kwargs.get("all_envs"):
                raise UsageError("--project needs --env NAME (or $MESHCTL_ENV): which of "
                                 "its environments?")
            click.get_current_context().meta[_PROJECT] = project
        if env is not None and kwargs.get("all_envs"):
            raise UsageError("--all-envs works on every environment: leave out --env (and "
                             f"${ENV_VARIABLE})")
        return func(*args, **kwargs)

    wrapper = click.option(
        "--project", type=click.Path(dir_okay=False, exists=True), default=None,
        metavar="FILE", help=f"The project file (default: {project_.FILE_NAME} here or "
                             "above).")(wrapper)
    wrapper = click.option(
        "--env", "env", envvar=ENV_VARIABLE, default=None, metavar="NAME",
        help="Work in this environment of meshctl.yaml: its manifest layers, store and "
             f"options; an option given here still wins. Env {ENV_VARIABLE}.")(wrapper)
    return wrapper  # type: ignore[return-value]


def given(parameter: str) -> bool:
    """Whether the running command's `parameter` was given on the command line."""
    source = click.get_current_context().get_parameter_source(parameter)
    return source is ParameterSource.COMMANDLINE


def fill(environment: Environment, kwargs: dict[str, Any]) -> None:
    """Set in `kwargs` what `environment` gives and the command line did not."""
    if "paths" in kwargs or "manifests" in kwargs:  # (status, get, history: the store only)
        environment.check_layers()
    layers = Layers(environment.manifests)
    if "paths" in kwargs and not kwargs["paths"]:
        kwargs["paths"] = layers
    if "manifests" in kwargs and not given("manifests"):
        kwargs["manifests"] = layers
    if "location" in kwargs and environment.store is not None and not given("location"):
        kwargs["location"] = environment.store
    for parameter, setting in _FLAGS.items():
        if parameter in kwargs and setting in environment.options and not given(parameter):
            kwargs[parameter] = environment.options[setting]
    if "no_prune" in kwargs and "prune" in environment.options and not given("no_prune"):
        kwargs["no_prune"] = not environment.options["prune"]
