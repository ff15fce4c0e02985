"""`meshctl store init|import|export` and `meshctl mirror`: a database store's life cycle, and
the sidecar that keeps a registries folder equal to it for runtimes that read files."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType

import click
import orjson

from reconciler import store as store_
from reconciler.cli import logs, options
from reconciler.errors import StoreError, UsageError
from reconciler.plan.render import common

log = logging.getLogger(__name__)


def _database_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--store", "location", envvar="MESHCTL_STORE", required=True, metavar="URL",
        help="The database: postgresql://USER@HOST:5432/DB (env MESHCTL_STORE). The "
             "password comes from the URL, PGPASSWORD or ~/.pgpass, and is never "
             "printed.")(func)


def _database(location: str) -> str:
    if not store_.is_database(location):
        raise UsageError(f"--store must be a postgresql:// URL here, not '{location}' (a "
                         "registries directory needs no init, import or export)")
    return location


@click.group("store")
def store_group() -> None:
    """Create, fill and dump a database store (PostgreSQL).

    \b
    Examples:
      meshctl store init   --store postgresql://meshctl@db:5432/mesh
      meshctl store import --store postgresql://meshctl@db:5432/mesh --from registries/
      meshctl store export --store postgresql://meshctl@db:5432/mesh --to /tmp/registries
    """


@store_group.command("init")
@_database_option
def init(location: str) -> None:
    """Create the meshctl schema in the database, or migrate it to this meshctl's format.

    Safe to run again: an up-to-date schema is left as it is. A schema written by a newer
    meshctl is refused, and nothing is changed.

    \b
    Examples:
      meshctl store init --store postgresql://meshctl@db:5432/mesh
      PGPASSWORD=... meshctl store init --store postgresql://meshctl@db/mesh

    Exit: 0 created, migrated or up to date; 1 the database refused or is newer.
    """
    click.echo(store_.init_database(_database(location)))


@store_group.command("import")
@_database_option
@click.option("--from", "folder", required=True, metavar="DIR",
              type=click.Path(file_okay=False, exists=True),
              help="The AgentMesh registries folder to load.")
def import_command(location: str, folder: str) -> None:
    """Load AgentMesh registry files into an empty database store.

    The folder's meshctl history (if any) becomes the store's first revisions, and its
    state one more revision; the files' bytes are kept, so `store export` right after gives
    the same bytes. A store that already holds revisions is refused.

    \b
    Examples:
      meshctl store import --store postgresql://meshctl@db/mesh --from registries/

    Exit: 0 imported; 1 the folder could not be read or the store is not empty.
    """
    store = options.open_store(_database(location))
    revision = store_.import_files(store, folder)
    changes = len(revision.record["changes"])
    click.echo(f"imported {common.count(changes, 'resource')} from {folder} into "
               f"{store.location} as revision {revision.number}")


@store_group.command("export")
@_database_option
@click.option("--to", "folder", required=True, metavar="DIR", type=click.Path(),
              help="A new (or empty) folder for the registry files.")
def export_command(location: str, folder: str) -> None:
    """Write the store's state as AgentMesh registry files the runtime reads.

    Entries keep the store's order, headers and unknown keys. DIR must be new or empty;
    `meshctl mirror` keeps an existing folder in sync instead.

    \b
    Examples:
      meshctl store export --store postgresql://meshctl@db/mesh --to /srv/registries

    Exit: 0 written; 1 DIR is not empty or the store cannot be read.
    """
    store = options.open_store(_database(location))
    written = store_.export_files(store, folder)
    click.echo(f"wrote {common.count(len(written), 'registry file')} to {folder} (revision "
               f"{store.head()})")


@click.command("mirror")
@_database_option
@click.option("--to", "folder", required=True, metavar="DIR", type=click.Path(),
              help="The registries folder to keep equal to the store.")
@click.option("--once", is_flag=True, help="Mirror once, then exit.")
@click.option("--poll", type=float, default=5.0, show_default=True, metavar="SECONDS",
              help="How long to wait for a change notification before checking anyway.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Log lines as text or JSON.")
@options.output_option("text", "json")
def mirror(location: str, folder: str, once: bool, poll: float, log_format: str,
           output: str) -> None:
    """Keep a registries folder equal to a database store, for runtimes that read files.

    Follows the store's change feed; each change is committed to DIR the way meshctl
    commits to files (journal, atomic renames, fsync), so a runtime hot-reloading DIR never
    sees half a revision. Each pass logs the revision mirrored and its lag, and records
    them in DIR's metadata area (mirror-status). SIGTERM or Ctrl-C stops it.

    \b
    Examples:
      meshctl mirror --store postgresql://meshctl_ro@db/mesh --to /srv/agentmesh/registries
      meshctl mirror --store "$MESHCTL_STORE" --to registries/ --once
      meshctl mirror --store "$MESHCTL_STORE" --to registries/ --once -o json

    With --once, what was done is printed on stdout: a sentence, or with -o json
    {"revision": N, "changed": N}.

    Exit: 0 stopped (or --once done); 1 the store or the folder cannot be used.
    """
    logs.configure(log_format)
    store = options.open_store(_database(location))
    mirrored = store_.Mirror(store, Path(folder))
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if not once:
        signal.signal(signal.SIGTERM, stopping)
    seen = -1
    while True:
        try:
            done = mirrored.sync()
        except StoreError as error:
            if once:
                raise
            log.warning("mirror pass failed, retrying: %s", error)
            stop.wait(1.0)
            continue
        if done.revision != seen or done.changed:
            lag = "" if done.lag_seconds is None else f" (lag {done.lag_seconds:.1f} s)"
            log.info("mirrored revision %s: %s changed%s", done.revision,
                     common.count(done.changed, "resource"), lag, extra={"fields": {
                         "event": "mirrored", "revision": done.revision,
                         "changed": done.changed, "lag_seconds": done.lag_seconds}})
        seen = done.revision
        if once:
            if output == "json":
                click.echo(orjson.dumps({"revision": done.revision, "changed": done.changed})
                           .decode())
            else:
                click.echo(f"Mirrored revision {done.revision} to {folder}: "
                           f"{common.count(done.changed, 'resource')} changed.")
            return
        last_pass = time.monotonic()
        try:  # the next revision, or the poll's time (a hand edit of DIR is put right then)
            while not stop.is_set() and time.monotonic() - last_pass < poll:
                if store.revisions_after(seen, wait=min(poll, 1.0)):
                    break
        except StoreError as error:  # the database went away: the next pass retries
            log.warning("waiting for the next revision failed: %s", error)
            stop.wait(1.0)
        except KeyboardInterrupt:
            return
        if stop.is_set():
            return
