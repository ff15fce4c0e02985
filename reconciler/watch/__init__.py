"""The GitOps loop: a controller that keeps the live registries at the manifests (a
directory, or a git branch), reports drift, and reverts it when asked to self-heal."""

from __future__ import annotations

from reconciler.watch.controller import Controller, SyncReport
from reconciler.watch.gitsource import GitError, GitSource

__all__ = ["Controller", "GitError", "GitSource", "SyncReport"]
