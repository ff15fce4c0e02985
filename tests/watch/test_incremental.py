"""The watch loop's incremental work agrees with the engine's full work, step by step.

- The desired state kept in memory (`DesiredWorkspace`, one file re-read at a time) equals
  what `engine.load_desired` reads from scratch: the same resources, the same first of two
  definitions, the same diagnostics, the same fingerprint.
- A sync judged by a partial plan (`planner.make` scoped to the resources a change touches)
  succeeds exactly when the full plan (`engine.make_plan`, what `meshctl apply` does) is
  valid and refuses nothing, and then leaves nothing for the full plan to do; when it
  fails, the registries are left as they were.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import RegistryManager, engine
from reconciler.watch.controller import Controller, Event, EventKind
from reconciler.watch.desired import DesiredWorkspace
from tests.conftest import FIXTURE_MANIFESTS, FIXTURE_REGISTRIES, agent, copy_tree, write

TOOLS = ("fraud_rules", "similarity", "coverage_rules", "decision_rules", "schema_validator",
         "policy_snapshot", "ghost_tool")
AGENTS = ("fraud_agent", "intake_agent", "coverage_agent", "severity_agent")


@contextmanager
def mesh() -> Iterator[tuple[Path, Path]]:
    folder = Path(tempfile.mkdtemp(prefix="meshctl-incremental-"))
    try:
        yield (copy_tree(FIXTURE_MANIFESTS, folder / "manifests"),
               copy_tree(FIXTURE_REGISTRIES, folder / "registries"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def apply_step(manifests: Path, step: tuple[str, int, int], kept: dict[str, str]) -> Path:
    """Change the manifests as `step` says; the file changed."""
    action, a, b = step
    name = AGENTS[a % len(AGENTS)]
    path = manifests / "agents" / f"{name}.yaml"
    if action == "iterations":
        lines = path.read_text().splitlines(keepends=True) if path.exists() else []
        path.write_text("".join(f"  max_iterations: {1 + b % 50}\n"
                                if line.startswith("  max_iterations:") else line
                                for line in lines) or agent(name))
    elif action == "tools":
        tools = [TOOLS[(b + i) % len(TOOLS)] for i in range(1 + b % 3)]
        write(path, agent(name, "allowed_tools: [" + ", ".join(tools) + "]\nmax_iterations: 5"))
    elif action == "drop_tool":
        path = manifests / "tools" / f"{TOOLS[b % (len(TOOLS) - 1)]}.yaml"
        if path.exists():
            kept[str(path)] = path.read_text()
            path.unlink()
    elif action == "restore":
        if kept:
            key = sorted(kept)[b % len(kept)]
            path = Path(key)
            path.write_text(kept.pop(key))
    elif action == "new_agent":
        path = manifests / "agents" / f"extra_{b % 3}.yaml"
        write(path, agent(f"extra_{b % 3}", f"allowed_tools: [{TOOLS[b % len(TOOLS)]}]"))
    elif action == "drop_new":
        path = manifests / "agents" / f"extra_{b % 3}.yaml"
        path.unlink(missing_ok=True)
    elif action == "duplicate":
        path = manifests / "agents" / f"copy_{b % 2}.yaml"
        write(path, agent(name))
    elif action == "case":
        path = manifests / "agents" / f"case_{b % 2}.yaml"
        write(path, agent(name.upper() if b % 2 else name.capitalize()))
    elif action == "drop_duplicate":
        path = manifests / "agents" / f"copy_{b % 2}.yaml"
        path.unlink(missing_ok=True)
    elif action == "break":
        path.write_text(path.read_text() + "\n  broken: [\n" if path.exists() else "x: [")
    return path


STEPS = st.lists(st.tuples(
    st.sampled_from(["iterations", "tools", "drop_tool", "restore", "new_agent", "drop_new",
                     "duplicate", "drop_duplicate", "case", "break"]),
    st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=8)


def _state_of(desired: engine.DesiredState) -> dict[str, tuple[object, str | None]]:
    return {str(r.key): (r.entry, r.source.file if r.source else None) for r in desired.state}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_the_workspace_equals_a_fresh_read(steps: list[tuple[str, int, int]]) -> None:
    with mesh() as (manifests, _):
        workspace = DesiredWorkspace([str(manifests)])
        workspace.load()
        kept: dict[str, str] = {}
        for step in steps:
            path = apply_step(manifests, step, kept)
            workspace.update([str(path)])
            fresh = engine.load_desired([str(manifests)], use_cache=False, jobs=1,
                                        mesh_checks=False)
            mine = workspace.as_desired()
            assert _state_of(mine) == _state_of(fresh)
            assert [d.to_dict() for d in mine.diagnostics] == \
                [d.to_dict() for d in fresh.diagnostics]
            again = DesiredWorkspace([str(manifests)])
            again.load()
            assert again.fingerprint == workspace.fingerprint


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS, seed=st.integers(0, 1000))
def test_a_partial_sync_decides_as_the_full_plan(steps: list[tuple[str, int, int]],
                                                 seed: int) -> None:
    with mesh() as (manifests, registries):
        manager = RegistryManager(registries, watch=False, source="watch")
        controller = Controller([str(manifests)], registries, manager=manager,
                                interval=1e9, watch_files=False)
        controller._start()
        kept: dict[str, str] = {}
        for step in steps:
            path = apply_step(manifests, step, kept)
            full = engine.make_plan([str(manifests)], registries, use_cache=False, jobs=1)
            ok = full.plan is not None and not full.plan.refusals and (
                full.plan.summary.delete <= engine.DEFAULT_MAX_DELETES)
            before = (registries / "agent_registry.json").read_bytes()
            paths = [str(path)] if random.Random(seed).random() < 0.8 else []
            controller._handle([Event(EventKind.FILE, p) for p in paths]
                               + ([] if paths else [Event(EventKind.RESCAN)]))
            report = controller.last_report
            assert report is not None
            assert (report.result in ("synced", "in_sync")) == ok, (step, report.message,
                                                                   full.diagnostics)
            if ok:
                after = engine.make_plan([str(manifests)], registries, use_cache=False, jobs=1)
                assert after.plan is not None and not after.plan.summary.has_changes
            else:
                assert (registries / "agent_registry.json").read_bytes() == before
                if full.plan is None:  # invalid: the same rules found it
                    wanted = {(d.code, d.resource) for d in full.errors}
                    found = {(e.get("code"), e.get("resource")) for e in report.errors}
                    assert found <= wanted and found, (found, wanted)
        controller._finish()
