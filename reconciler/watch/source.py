"""Where the controller's desired state comes from: manifest folders, or a git branch
checked out commit by commit (`gitsource.GitSource`), and which commit is checked out.

Its `info()` goes into the status; its `id()` (the source without the commit) keys what
was last seen in sync, so a restart on the same source keeps telling drift from changes.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from typing import Any

import orjson

from reconciler.manifests.layers import Layers
from reconciler.watch.gitsource import GitError, GitSource

log = logging.getLogger("reconciler.watch")


class DesiredSource:
    """`paths` (relative to the git work tree when `git` is given)."""

    def __init__(self, paths: Sequence[str], git: GitSource | None) -> None:
        self.git = git
        found = [str(git.workdir / p) for p in (paths or ["."])] if git else list(paths)
        # An environment's layers stay layers (the workspace patches later over earlier).
        self.paths: list[str] | Layers = Layers(found) if isinstance(paths, Layers) else found
        self.commit: str | None = None  # the git commit checked out
        self.subject: str | None = None  # its first line, for the status

    def describe(self) -> str:
        if self.git is not None:
            return f"git {self.git.repo} branch {self.git.branch}"
        return ", ".join(self.paths)

    def info(self) -> dict[str, Any]:
        if self.git is not None:
            return {"type": "git", "repo": self.git.repo, "branch": self.git.branch,
                    "commit": self.commit, "commit_subject": self.subject,
                    "paths": list(self.paths)}  # (JSON has no tuple subclasses: Layers)
        return {"type": "directory", "paths": [os.path.abspath(p) for p in self.paths]}

    def id(self) -> str:
        """The source without the commit checked out: the same across commits."""
        info = self.info()
        info.pop("commit", None)
        info.pop("commit_subject", None)
        return hashlib.sha256(orjson.dumps(info, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]

    def first_checkout(self) -> None:
        """Fetch and check out the branch before anything is read. When the fetch fails,
        a checkout kept from an earlier run is used (and fetched again later); without one
        there is no desired state at all, and syncing would delete everything: raise."""
        git = self.git
        if git is None:
            return
        try:
            head = git.fetch()
        except GitError as error:
            kept = git.current()
            if kept is None:
                raise GitError(f"{error}; nothing was synced (no earlier checkout to use)") \
                    from error
            log.warning("git fetch failed, using the checkout of %s: %s", kept[:12], error)
            git.checked_out = self.commit = kept
            return
        git.checkout(head)
        self.commit = head
        self.subject = self._subject_of(head)

    def fetch(self) -> bool:
        """Fetch the branch; check its head out when it moved. True when it moved."""
        git = self.git
        if git is None:
            return False
        try:
            head = git.fetch()
            if head == git.checked_out:
                return False
            git.checkout(head)
        except GitError as error:
            log.warning("git fetch failed: %s", error, extra={"fields": {"event": "git"}})
            return False
        self.commit = head
        self.subject = self._subject_of(head)
        return True

    def _subject_of(self, sha: str) -> str | None:
        assert self.git is not None
        try:
            return self.git.describe(sha).subject
        except GitError:
            return None
