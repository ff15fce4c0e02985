"""Fixtures and helpers for the plan tests: a workspace holding writable copies of the
example `manifests/` and `registries/`, entered as the working directory so every path in a
message reads as a user would see it (`manifests/agents/fraud_agent.yaml:14`).

The CLI tests (tests/cli/test_plan.py and friends) import the helpers from here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import engine
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.plan.model import Change, Plan
from tests.conftest import (
    FIXTURE_MANIFESTS,
    FIXTURE_REGISTRIES,
    copy_tree,
    manifest,
    unless_given,
)

MANIFESTS = Path("manifests")
REGISTRIES = Path("registries")


def make_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copy the example mesh into `tmp_path` and make it the working directory."""
    copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    monkeypatch.chdir(tmp_path)
    for name in ("MESHCTL_MANIFESTS", "MESHCTL_REGISTRIES", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_workspace(tmp_path, monkeypatch)


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace `old` by `new` in a file; fails when `old` is not there."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def edit_registry(name: str, change: Callable[[Any], Any], root: Path = REGISTRIES) -> None:
    """Load a registry JSON file, let `change` edit (or replace) it, write it back."""
    path = root / name
    data = json.loads(path.read_text(encoding="utf-8"))
    result = change(data)
    path.write_text(json.dumps(data if result is None else result, indent=2), encoding="utf-8")


def live_entry(name: str, collection: str, entry_id: str, root: Path = REGISTRIES) -> Any:
    data = json.loads((root / name).read_text(encoding="utf-8"))
    id_field = {"agents": "agent_id", "tools": "tool_id", "profiles": "profile_id"}[collection]
    return next(e for e in data[collection] if e[id_field] == entry_id)


def tool(name: str, extra: str = "") -> str:
    return manifest("Tool", name, f"name: {name}\ndescription: test tool\n"
                    f"endpoint: /invoke/{name}\ninput_schema: {{type: object}}\n"
                    + unless_given(extra, output_schema="{type: object}") + extra)


def profile(name: str) -> str:
    return manifest("ModelProfile", name, f"name: {name}\ndescription: test profile\n"
                    "provider: openai\nmodel_name: gpt-4o\nintended_usage: testing\n")


def docs(*documents: str) -> str:
    return "---\n".join(documents)


def make_plan(*paths: str | Path, prune: bool = True) -> engine.PlanResult:
    """The engine's plan for the manifests (default ./manifests) against ./registries."""
    return engine.make_plan([str(p) for p in paths or (MANIFESTS,)], REGISTRIES, prune=prune,
                            use_cache=False, jobs=1)


def the_plan(*paths: str | Path, prune: bool = True) -> Plan:
    result = make_plan(*paths, prune=prune)
    assert result.plan is not None, [str(d) for d in result.errors]
    return result.plan


def key(text: str) -> ResourceKey:
    """`agent/fraud_agent` -> ResourceKey(Kind.AGENT, 'fraud_agent') (the form str() gives)."""
    kind_text, _, name = text.partition("/")
    kinds = {"agent": Kind.AGENT, "tool": Kind.TOOL, "model-profile": Kind.MODEL_PROFILE,
             "workflow": Kind.WORKFLOW, "governance-policy": Kind.GOVERNANCE_POLICY}
    return ResourceKey(kinds[kind_text], name)


def change_of(plan: Plan, text: str) -> Change:
    wanted = key(text)
    found = [c for c in plan.changes if c.key == wanted]
    assert len(found) == 1, f"{text}: {found!r}"
    return found[0]


def position(plan: Plan, text: str) -> int:
    wanted = key(text)
    return next(i for i, c in enumerate(plan.changes) if c.key == wanted)


def actions(plan: Plan) -> dict[str, str]:
    """Every change that is not a no-op, as {'agent/x': 'update', ...}."""
    return {str(c.key): c.action.value for c in plan.actionable}
