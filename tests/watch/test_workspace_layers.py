"""The watch loop's desired state of an environment (`DesiredWorkspace` over `Layers`) equals
what the engine reads from scratch, after every edit of the base or of a later layer.

The base is kept file by file and the later layers are re-read when one of their files
changes (reconciler/watch/desired.py); whatever the order of edits, `workspace.update(...)`
must give what `engine.load_desired(Layers(...), mesh_checks=False)` gives: the same
resources with the same entries and the same file:line of every value, the same diagnostics,
and the fingerprint a fresh workspace has. The keys it reports as touched must include every
key whose entry changed (the controller judges only those).

Edits: base files changed, created, deleted, restored, defined twice, broken; overlay
documents added, changed and removed (in a file of their own or beside others), `patches:`
list edits, `$patch: delete` (of a base resource, of one a layer created), a resource
created by a layer, patches that do not apply
(M017, M018), broken overlay YAML, an overlay file or folder removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import engine
from reconciler.manifests.layers import Layers
from reconciler.model.resource import ResourceKey
from reconciler.watch.desired import DesiredWorkspace
from tests.conftest import FIXTURE_MANIFESTS, agent, copy_tree, save

AGENTS = ("fraud_agent", "intake_agent", "coverage_agent", "severity_agent")
OVERLAY_FILES = ("agents.yaml", "more/patches.yaml")  # a file at the top, one in a folder
HEAD = "apiVersion: agentmesh.io/v1\nkind: Agent\nmetadata:\n  name: {name}\n"


@dataclass
class Project:
    """A base (the example manifests) and two later layers, with what the overlay files
    hold: per file, its documents by the name of the resource they are about."""

    base: Path
    layers: tuple[Path, Path]
    documents: dict[Path, dict[str, str]] = field(default_factory=dict)
    kept: dict[Path, str] = field(default_factory=dict)  # base files deleted, to restore

    @property
    def stack(self) -> Layers:
        return Layers([str(self.base), *(str(layer) for layer in self.layers)])

    def overlay(self, layer: int, file: int, name: str, text: str | None) -> Path:
        """Put (None: remove) the document about `name` in an overlay file; its path."""
        path = self.layers[layer % 2] / OVERLAY_FILES[file % len(OVERLAY_FILES)]
        documents = self.documents.setdefault(path, {})
        if text is None:
            documents.pop(name, None)
        else:
            documents[name] = text
        if documents:
            path.parent.mkdir(parents=True, exist_ok=True)
            save(path, "---\n".join(documents.values()))
        else:
            path.unlink(missing_ok=True)
        return path


@contextmanager
def project() -> Iterator[Project]:
    folder = Path(tempfile.mkdtemp(prefix="meshctl-layers-"))
    try:
        layers = (folder / "overlays" / "one", folder / "overlays" / "two")
        for layer in layers:
            layer.mkdir(parents=True)
        yield Project(copy_tree(FIXTURE_MANIFESTS, folder / "base"), layers)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def edit(project: Project, step: tuple[str, int, int]) -> Path:
    """Change the project as `step` says; the path an event would name."""
    action, a, b = step
    name = AGENTS[a % len(AGENTS)]
    layer, file = a // len(AGENTS), b
    base_file = project.base / "agents" / f"{name}.yaml"
    if action == "base_iterations":
        if base_file.exists():
            text = base_file.read_text()
            save(base_file, "".join(f"  max_iterations: {1 + b % 40}\n"
                                    if line.startswith("  max_iterations:") else line
                                    for line in text.splitlines(keepends=True)))
        return base_file
    if action == "base_new":
        path = project.base / "agents" / f"extra_{b % 2}.yaml"
        path.write_text(agent(f"extra_{b % 2}", "max_iterations: 4"))
        return path
    if action == "base_drop":
        if base_file.exists():
            project.kept[base_file] = base_file.read_text()
            base_file.unlink()
        return base_file
    if action == "base_restore":
        if project.kept:
            path = sorted(project.kept)[b % len(project.kept)]
            path.write_text(project.kept.pop(path))
            return path
        return base_file
    if action == "base_twice":
        path = project.base / "agents" / "copy.yaml"
        path.write_text(agent(name))
        return path
    if action == "base_break":
        if base_file.exists():
            base_file.write_text(base_file.read_text() + "\n  broken: [\n")
        return base_file
    if action == "patch":
        return project.overlay(layer, file, name, HEAD.format(name=name) + (
            f"  labels: {{tier: t{b % 3}}}\nspec:\n  max_iterations: {1 + b % 9}\n"))
    if action == "remove_key":  # a merge patch's null
        return project.overlay(layer, file, name, HEAD.format(name=name)
                               + "spec:\n  iteration_timeout_seconds: null\n")
    if action == "list_edit":
        return project.overlay(layer, file, name, HEAD.format(name=name) + (
            "patches:\n  - op: add\n    path: /spec/capabilities/0\n"
            f"    value: cap_{b % 3}\n"))
    if action == "delete":
        return project.overlay(layer, file, name, HEAD.format(name=name)
                               + "$patch: delete\n")
    if action == "create":
        new = f"layer_agent_{b % 2}"
        return project.overlay(layer, file, new, agent(new, f"max_iterations: {1 + b % 9}"))
    if action == "delete_created":  # what one layer created, another drops
        new = f"layer_agent_{b % 2}"
        return project.overlay(layer, file, f"drop_{new}", HEAD.format(name=new)
                               + "$patch: delete\n")
    if action == "unpatch":
        return project.overlay(layer, file, name, None)
    if action == "bad_operation":
        return project.overlay(layer, file, name, HEAD.format(name=name)
                               + "patches:\n  - {op: remove, path: /spec/no_such_field}\n")
    if action == "missing":  # a patch of a resource no earlier layer has: M017
        return project.overlay(layer, file, "ghost", HEAD.format(name="ghost_agent")
                               + "patches:\n  - {op: add, path: /spec/x, value: 1}\n")
    if action == "break_overlay":
        path = project.overlay(layer, file, "broken", "kind: [\n")
        project.documents[path].pop("broken")  # the next edit of the file repairs it
        return path
    if action == "drop_overlay_folder":
        folder = project.layers[layer % 2] / "more"
        shutil.rmtree(folder, ignore_errors=True)
        project.documents.pop(folder / "patches.yaml", None)
        return folder
    raise AssertionError(action)


ACTIONS = ("base_iterations", "base_new", "base_drop", "base_restore", "base_twice",
           "base_break", "patch", "remove_key", "list_edit", "delete", "create",
           "delete_created", "unpatch", "bad_operation", "missing", "break_overlay",
           "drop_overlay_folder")


def state_of(desired: engine.DesiredState) -> dict[str, Any]:
    """Each resource's entry and where every value of it was written."""
    return {str(r.key): (r.entry, r.source and (
        r.source.file, r.source.line, dict(r.source.field_lines), dict(r.source.field_files)))
            for r in desired.state}


@dataclass
class Seen:
    """What the workspace held after the last step: entries by key, and diagnostics."""

    entries: dict[ResourceKey, Any]
    diagnostics: list[dict[str, Any]]

    @classmethod
    def of(cls, workspace: DesiredWorkspace) -> Seen:
        return cls({r.key: r.entry for r in workspace.state},
                   [d.to_dict() for d in workspace.diagnostics])


def check(workspace: DesiredWorkspace, stack: Layers, before: Seen,
          answer: tuple[list[str], set[ResourceKey]], step: object) -> Seen:
    """The workspace equals a fresh read of `stack`. What `update` answered (`answer`: the
    files read, the keys touched) tells the controller what to do: every key whose entry
    changed since `before` is touched, and when anything changed (an entry, a diagnostic)
    some file was read, or the controller would not sync (nor report) it."""
    fresh = engine.load_desired(stack, use_cache=False, jobs=1, mesh_checks=False)
    mine = workspace.as_desired()
    assert state_of(mine) == state_of(fresh), step
    assert [d.to_dict() for d in mine.diagnostics] == \
        [d.to_dict() for d in fresh.diagnostics], step
    again = DesiredWorkspace(stack)
    again.load()
    assert again.fingerprint == workspace.fingerprint, step
    now = Seen.of(workspace)
    read, touched = answer
    changed = {k for k in before.entries.keys() | now.entries.keys()
               if before.entries.get(k) != now.entries.get(k)}
    assert changed <= touched, (step, changed - touched)
    assert read or (not changed and now.diagnostics == before.diagnostics), step
    return now


STEPS = st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 7), st.integers(0, 30),
                           st.booleans()), min_size=1, max_size=10)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_the_workspace_of_an_environment_equals_a_fresh_read(
        steps: list[tuple[str, int, int, bool]]) -> None:
    with project() as made:
        workspace = DesiredWorkspace(made.stack)
        workspace.load()
        seen = check(workspace, made.stack, Seen.of(workspace), ([], set()), "load")
        for action, a, b, rescan in steps:
            path = edit(made, (action, a, b))
            answer = workspace.update(None if rescan else [str(path)])
            seen = check(workspace, made.stack, seen, answer, (action, a, b, rescan))


# Every kind of edit at least once, each in the order that matters for it (an overlay
# document added, changed, removed; a patched resource deleted from the base and back).
SEQUENCE = [
    ("patch", 0, 0), ("unpatch", 0, 0),  # the only overlay file: created, then removed
    ("patch", 0, 1), ("patch", 0, 2), ("list_edit", 4, 0), ("base_iterations", 0, 7),
    ("remove_key", 1, 0), ("unpatch", 0, 1), ("delete", 5, 0), ("base_iterations", 1, 3),
    ("unpatch", 5, 0), ("create", 0, 0), ("create", 4, 1), ("delete_created", 4, 0),
    ("base_new", 0, 0),
    ("patch", 4, 0), ("base_drop", 4, 0), ("base_restore", 0, 0), ("bad_operation", 2, 1),
    ("unpatch", 2, 1), ("missing", 0, 0), ("base_twice", 3, 0), ("break_overlay", 7, 0),
    ("patch", 7, 0), ("base_break", 2, 0), ("patch", 2, 0), ("delete", 1, 1),
    ("drop_overlay_folder", 4, 0), ("unpatch", 0, 0), ("unpatch", 1, 1),
]


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_each_kind_of_edit_in_turn(relative: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixed sequence; with `relative`, the layers are given as paths from the working
    folder (as meshctl.yaml gives them) while events name files by absolute paths and by
    relative ones in turn, as watchdog gives them for the folders it was given."""
    assert {action for action, _, _ in SEQUENCE} == set(ACTIONS)
    with project() as made:
        stack = made.stack
        if relative:
            root = made.base.parent
            monkeypatch.chdir(root)
            stack = Layers([os.path.relpath(p, root) for p in stack])
        workspace = DesiredWorkspace(stack)
        workspace.load()
        seen = Seen.of(workspace)
        for number, step in enumerate(SEQUENCE):
            path = edit(made, step)
            event = os.path.relpath(path) if relative and number % 2 else str(path)
            seen = check(workspace, stack, seen, workspace.update([event]), step)
        # a periodic rescan finds nothing more
        check(workspace, stack, seen, workspace.update(None), "rescan")


def test_a_layer_folder_gone_is_an_error_until_it_is_back() -> None:
    """A layer removed or replaced whole (`rm -rf overlays/one && cp -r ...`, a branch
    switch) is an error of the desired state, naming the folder, so nothing is synced
    meanwhile; the workspace does not raise (the watch loop would stop), and once the
    folder is back it equals a fresh read again."""
    with project() as made:
        edit(made, ("patch", 0, 1))
        workspace = DesiredWorkspace(made.stack)
        workspace.load()
        seen = Seen.of(workspace)
        layer = made.layers[0]
        moved = shutil.move(layer, layer.with_name("elsewhere"))
        read, _ = workspace.update([str(layer)])
        assert read  # the controller syncs, so the failure is reported at once
        for _ in range(2):  # and after a rescan
            [error] = workspace.errors
            assert (error.code, error.file) == ("M013", str(layer)), error
            assert "nothing is synced until it is back" in error.message
            workspace.update(None)
        shutil.move(moved, layer)
        read, touched = workspace.update([str(layer / "agents.yaml")])
        assert workspace.errors == []
        check(workspace, made.stack, seen, (read, touched | set(seen.entries)), "back")
