"""`meshctl watch`: keep the live registries at the manifests, continuously."""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from reconciler import engine
from reconciler import store as store_
from reconciler.cli import environment, logs, options
from reconciler.errors import UsageError
from reconciler.manifests import loader
from reconciler.manifests.layers import Layers
from reconciler.watch import DEFAULT_DEBOUNCE, DEFAULT_INTERVAL

if TYPE_CHECKING:
    from reconciler.library import RegistryManager
    from reconciler.watch.controller import Controller



def controller_options(func: click.decorators.FC) -> click.decorators.FC:
    """The options `watch` and `serve --watch` share."""
    for option in reversed([
        click.option("--git-repo", default=None, metavar="PATH_OR_URL",
                     help="Follow a branch of this git repository instead of a directory "
                          "(PATH then names folders inside it; default: its root)."),
        click.option("--branch", default="main", show_default=True,
                     help="The branch to follow with --git-repo."),
        click.option("--git-workdir", type=click.Path(file_okay=False, path_type=Path),
                     default=None, help="Where the branch is checked out (default: a "
                                        "folder beside the registries, git/<hash>)."),
        click.option("--self-heal", is_flag=True,
                     help="Revert drift: live changes the manifests did not make."),
        click.option("--interval", type=click.FloatRange(min=0.1), default=DEFAULT_INTERVAL,
                     show_default=True, metavar="S",
                     help="Seconds between full resyncs (and git fetches)."),
        click.option("--debounce-ms", type=click.IntRange(min=0),
                     default=int(DEFAULT_DEBOUNCE * 1000), show_default=True,
                     help="Wait this long after a file event for more before syncing."),
        click.option("--no-prune/--prune", "no_prune", default=False,
                     help="Keep live resources that no manifest declares (--prune: delete "
                          "them, the default, even where the environment says no)."),
        click.option("--max-deletes", type=click.IntRange(min=-1),
                     default=engine.DEFAULT_MAX_DELETES, show_default=True,
                     help="Refuse a sync deleting more resources (-1: no limit)."),
        click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
                     show_default=True, help="Log lines as text or as JSON objects."),
        click.option("--max-bytes", type=click.IntRange(min=1),
                     default=loader.DEFAULT_MAX_BYTES, show_default=True,
                     help="Largest manifest file accepted (as validate and plan take it)."),
        options.deny_breaking_option,
    ]):
        func = option(func)
    return func


def make_controller(paths: tuple[str, ...], store: store_.Store | store_.Location, *,
                    git_repo: str | None, branch: str, git_workdir: Path | None,
                    self_heal: bool, interval: float, debounce_ms: int, no_prune: bool,
                    max_deletes: int, deny_breaking: bool = False,
                    deny_access_widening: bool = False,
                    manager: RegistryManager | None = None,
                    max_bytes: int = loader.DEFAULT_MAX_BYTES) -> Controller:
    """The controller `watch` runs, and `serve --watch` beside its server (sharing its
    `manager`, and so its store)."""
    from reconciler.watch.controller import Controller
    from reconciler.watch.gitsource import GitSource

    store = manager.store if manager is not None else store_.open_store(store)
    git = None
    if git_repo is not None:
        workdir = git_workdir or GitSource.default_workdir(
            store_.work_folder(store), git_repo, branch)
        git = GitSource(git_repo, branch, workdir)
        # folders of the checkout; an environment's stay layers (base first), not one tree
        chosen: Sequence[str] = paths if isinstance(paths, Layers) else list(paths)
    else:
        chosen = options.manifest_paths(paths)
        missing = [p for p in chosen if not Path(p).exists()]
        if missing:
            raise UsageError(f"manifests path '{missing[0]}' not found")
    return Controller(chosen, store, git=git, self_heal=self_heal, interval=interval,
                      debounce=debounce_ms / 1000, prune=not no_prune,
                      max_deletes=max_deletes, deny_breaking=deny_breaking,
                      deny_access_widening=deny_access_widening, manager=manager,
                      max_bytes=max_bytes)


@click.command()
@options.paths_argument
@options.store_option
@controller_options
@click.option("--once", is_flag=True, help="Sync once and exit (1 when it failed).")
@environment.environment_options
def watch(paths: tuple[str, ...], location: str, git_repo: str | None, branch: str,
          git_workdir: Path | None, self_heal: bool, interval: float, debounce_ms: int,
          no_prune: bool, max_deletes: int, log_format: str, max_bytes: int,
          deny_breaking: bool, deny_access_widening: bool, once: bool) -> None:
    """Keep the live registries at the manifests: every change is validated, planned and
    applied as one revision (source `watch`), like Argo CD's automated sync.

    On a manifest change: wait --debounce-ms for more, re-read the files that changed,
    validate the whole desired state, and apply when it is valid and nothing is refused;
    otherwise live stays at the last good state and the errors are logged with file:line.
    Every --interval seconds: a full resync (and, with --git-repo, a fetch). A live change
    the manifests did not make is drift: reported, and reverted with --self-heal. The
    last sync is kept in the store (its metadata area): see `meshctl status`.
    SIGTERM or Ctrl-C finishes the sync in flight, then exits 0.

    \b
    Examples:
      meshctl watch manifests/ --store /srv/agentmesh/registries
      meshctl watch --self-heal --log-format json
      meshctl watch --git-repo https://git.example.com/mesh.git --branch main manifests
      meshctl watch --once                      # one sync, then exit (cron, CI)

    Exit: 0 when stopped (or --once synced), 1 on a usage error or a failed --once sync.
    """
    logs.configure(log_format)
    controller = make_controller(paths, options.open_store(location), git_repo=git_repo,
                                 branch=branch, git_workdir=git_workdir, self_heal=self_heal,
                                 interval=interval, debounce_ms=debounce_ms,
                                 no_prune=no_prune, max_deletes=max_deletes,
                                 deny_breaking=deny_breaking,
                                 deny_access_widening=deny_access_widening,
                                 max_bytes=max_bytes)
    if once:
        controller.stop()  # the loop runs the first sync, then sees the stop
    crashed: list[BaseException] = []

    def run() -> None:
        try:
            controller.run()
        except BaseException as error:  # noqa: BLE001 (reported below, exit 1)
            crashed.append(error)

    worker = threading.Thread(target=run, name="meshctl-watch")

    def stop(signum: int, frame: FrameType | None) -> None:
        controller.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.start()
        while worker.is_alive():
            worker.join(timeout=0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if crashed:
        raise crashed[0]
    last = controller.last_report
    if once and (last is None or not last.result.ok):
        raise click.exceptions.Exit(1)
