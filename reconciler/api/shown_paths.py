"""Paths as a browser is shown them: a manifest or registry file by its place under the
folder the served folders share (`manifests/agents/fraud_agent.yaml`,
`registries/agent_registry.json`), never by where that folder sits on the server's disk.
A client needs the name to find the file in git or in the registries; the server's
directory layout is nobody's business and can say more than it should (user names, mount
points)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload


@dataclass(frozen=True)
class ShownPaths:
    """Rewrites the absolute paths under `roots` in a JSON answer, in values and inside
    messages alike, to the root's own name followed by the rest of the path."""

    pattern: re.Pattern[str] | None
    names: dict[str, str]

    @classmethod
    def of(cls, roots: Iterable[str | Path | None]) -> ShownPaths:
        """The folders that exist among `roots` (a database URL is not one: its location
        is already shown without its password)."""
        found = {os.path.abspath(root) for root in roots
                 if root is not None and os.path.isdir(root)}
        found.discard(os.path.abspath(os.sep))
        if not found:
            return cls(None, {})
        longest_first = sorted(found, key=len, reverse=True)
        pattern = re.compile("(" + "|".join(re.escape(root) for root in longest_first)
                             + r")(?![\w.-])")
        return cls(pattern, _names(found))

    @overload
    def text(self, text: str) -> str: ...

    @overload
    def text(self, text: None) -> None: ...

    def text(self, text: str | None) -> str | None:
        """`text` (a path, or a message of meshctl's naming one) with such paths shortened.
        Never for what a user wrote: an entry's text is theirs, whatever it holds."""
        if self.pattern is None or text is None or os.sep not in text:
            return text
        return self.pattern.sub(lambda match: self.names[match.group(1)], text)

    def plan(self, data: dict[str, Any]) -> dict[str, Any]:
        """A plan's JSON (`planfile.to_dict`) with the paths it names shortened: where each
        resource, user and rule is declared, the warnings' files and messages, the refusals,
        and the plan's own `registries` and `manifests`. Entries (before, after, field
        values) are left as they are."""
        if self.pattern is None:
            return data
        shown = {**data, "changes": [self._change(change) for change in data["changes"]],
                 "warnings": [self._finding(found) for found in data["warnings"]],
                 "access_changes": [{**found, "rule": self._location(found.get("rule"))}
                                    for found in data["access_changes"]]}
        meta = dict(data["meta"])
        if isinstance(meta.get("registries"), str):
            meta["registries"] = self.text(meta["registries"])
        if isinstance(meta.get("manifests"), list):
            meta["manifests"] = [self.text(path) if isinstance(path, str) else path
                                 for path in meta["manifests"]]
        shown["meta"] = meta
        return shown

    def stats(self, stats: dict[str, Any]) -> dict[str, Any]:
        """The library's stats (`RegistryManager.stats`): the last error and the files of
        the entries the runtime would skip."""
        return {**stats, "last_error": self.text(stats.get("last_error")),
                "unloadable": [{**found, "file": self.text(found.get("file"))}
                               for found in stats.get("unloadable", [])]}

    def watch(self, status: dict[str, Any]) -> dict[str, Any]:
        """A watch controller's status (`watch.reporting`): the folders and repository it
        watches, and its last sync's message and findings."""
        if self.pattern is None:
            return status
        shown = dict(status)
        controller = status.get("controller")
        if isinstance(controller, dict) and isinstance(controller.get("source"), dict):
            source = dict(controller["source"])
            source["paths"] = [self.text(path) for path in source.get("paths", [])]
            if isinstance(source.get("repo"), str):
                source["repo"] = self.text(source["repo"])
            shown["controller"] = {**controller, "source": source}
        last = status.get("last_sync")
        if isinstance(last, dict):
            shown["last_sync"] = {
                **last, "message": self.text(last.get("message")),
                "errors": [self._finding(found) for found in last.get("errors", [])],
                "warnings": [self._finding(found) for found in last.get("warnings", [])]}
        return shown

    def _finding(self, found: dict[str, Any]) -> dict[str, Any]:
        """A diagnostic's JSON (`Diagnostic.to_dict`) with its file and message shown."""
        return {**found, **{key: self.text(found[key]) for key in ("file", "message")
                            if isinstance(found.get(key), str)}}

    def _location(self, location: dict[str, Any] | None) -> dict[str, Any] | None:
        if location is None or not isinstance(location.get("file"), str):
            return location
        return {**location, "file": self.text(location["file"])}

    def _change(self, change: dict[str, Any]) -> dict[str, Any]:
        shown = dict(change)
        if "source" in change:
            shown["source"] = self._location(change["source"])
        if change.get("refused"):
            shown["refused"] = self.text(change["refused"])
        if "users" in change:
            shown["users"] = [{**user, "location": self._location(user.get("location"))}
                              for user in change["users"]]
        return shown


def _names(roots: set[str]) -> dict[str, str]:
    """Each root by its place under the folder the roots share (`manifests/base`,
    `manifests/overlays/prod`, `registries-prod`); one root alone, or roots that share
    only the file system's root, by their own names."""
    common = os.path.commonpath(sorted(roots))
    if common in roots:
        common = os.path.dirname(common)
    if common == os.path.dirname(common):  # "/": nothing to cut that says nothing
        return {root: Path(root).name for root in roots}
    return {root: os.path.relpath(root, common) for root in roots}
