"""Watching the manifest folders for the controller: each file event becomes an `Event` in
its inbox. A root folder removed and re-created (`rm -rf` and a fresh copy, a branch switch)
loses its watch, so the root's parent is watched too and the root watched anew.

Without watchdog (or on a file system that sends no events) nothing is lost: the
controller's periodic resync still finds every change, later.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from typing import Any

from reconciler.fsutil import quiet_watchdog_stop
from reconciler.manifests import loader
from reconciler.watch.events import Event, EventKind, Inbox

log = logging.getLogger("reconciler.watch")


class ManifestWatch:
    """A watchdog observer over `paths` (folders recursively, files by their folder)."""

    def __init__(self, paths: Sequence[str], inbox: Inbox) -> None:
        self._paths = list(paths)
        self._inbox = inbox
        self._observer: Any = None
        self._handler: Any = None
        self._root_watches: dict[str, Any] = {}  # each root folder's watch, by path

    def start(self) -> None:
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            log.warning("watchdog is not installed: changes are found by the resync only")
            return
        inbox = self._inbox

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                if event.is_directory:
                    if event.event_type != "modified":
                        inbox.put(Event(EventKind.RESCAN))
                    return
                for path in (event.src_path, getattr(event, "dest_path", "")):
                    text = os.fsdecode(path)
                    if text.endswith(loader.MANIFEST_SUFFIXES):
                        inbox.put(Event(EventKind.FILE, text))

        class _RootHandler(FileSystemEventHandler):
            """A root folder created, removed or moved in its parent."""

            def __init__(self, root: str) -> None:
                self.root = os.path.abspath(root)

            def on_any_event(self, event: FileSystemEvent) -> None:
                paths = (event.src_path, getattr(event, "dest_path", ""))
                if any(os.path.abspath(os.fsdecode(p)) == self.root for p in paths if p):
                    inbox.put(Event(EventKind.ROOT, self.root))

        quiet_watchdog_stop()
        observer = Observer()
        observer.daemon = True
        self._handler = _Handler()
        for path in self._paths:
            if os.path.isdir(path):
                self._root_watches[os.path.abspath(path)] = observer.schedule(
                    self._handler, path, recursive=True)
                parent = os.path.dirname(os.path.abspath(path))
                observer.schedule(_RootHandler(path), parent, recursive=False)
            else:
                observer.schedule(self._handler, os.path.dirname(path) or ".",
                                  recursive=False)
        observer.start()
        self._observer = observer

    def rewatch(self, root: str) -> None:
        """Watch `root` again (it was re-created); a root that is gone is left to the
        rescan, which then finds no files in it."""
        if self._observer is None:
            return
        old = self._root_watches.pop(root, None)
        if old is not None:
            with contextlib.suppress(KeyError, OSError):
                self._observer.unschedule(old)
        if os.path.isdir(root):
            try:
                self._root_watches[root] = self._observer.schedule(self._handler, root,
                                                                   recursive=True)
            except OSError as error:
                log.warning("cannot watch %s again: %s", root, error)

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
