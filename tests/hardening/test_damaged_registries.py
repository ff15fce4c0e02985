"""Damaged live registries: each damage is reported with its file, `meshctl apply` writes
nothing, and a library write elsewhere drops nothing of what is damaged."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import RegistryManager, engine
from reconciler.errors import StoreError
from reconciler.model.kinds import Kind
from tests.conftest import FIXTURE_MANIFESTS, copy_tree

SCRIPT = Path(sys.executable).parent / "meshctl"


def edit_agents(edit: Callable[[dict[str, Any]], object]) -> Callable[[Path], str]:
    def damage(root: Path) -> str:
        path = root / "agent_registry.json"
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data, indent=2))
        return "agent_registry.json"
    return damage


def raw(relative: str, change: Callable[[bytes], bytes]) -> Callable[[Path], str]:
    def damage(root: Path) -> str:
        path = root / relative
        path.write_bytes(change(path.read_bytes()))
        return relative
    return damage


def renamed_workflow(root: Path) -> str:
    (root / "workflows" / "claims_triage.json").rename(root / "workflows" / "other_name.json")
    return "workflows/other_name.json"


def directory_instead(root: Path) -> str:
    path = root / "tool_registry.json"
    path.unlink()
    path.mkdir()
    return "tool_registry.json"


DAMAGE: dict[str, tuple[Callable[[Path], str], str]] = {
    "truncated JSON": (raw("agent_registry.json", lambda b: b[: len(b) // 2]), "L001"),
    "not UTF-8": (raw("tool_registry.json", lambda b: b.replace(b"Fraud", b"Fr\xffud", 1)),
                  "L001"),
    "top level is a list": (raw("model_profiles.json", lambda b: b"[1, 2]"), "L002"),
    "entries are not a list": (edit_agents(lambda d: d.update(agents={"a": 1})), "L002"),
    "an entry without its id": (edit_agents(lambda d: d["agents"].append({"name": "x"})),
                                "L003"),
    "an id twice": (edit_agents(lambda d: d["agents"].append(dict(d["agents"][1]))), "L004"),
    "a workflow file named unlike its id": (renamed_workflow, "L005"),
    "a file replaced by a directory": (directory_instead, "L006"),
}


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_apply_reports_the_file_and_writes_nothing(name: str, registries: Path,
                                                   manifests: Path) -> None:
    damage, code = DAMAGE[name]
    relative = damage(registries)
    before = {p: p.read_bytes() for p in registries.rglob("*") if p.is_file()}
    edited = manifests / "agents" / "severity_agent.yaml"
    edited.write_text(edited.read_text().replace("max_iterations: 3", "max_iterations: 4"))
    done = subprocess.run([str(SCRIPT), "apply", "--auto-approve", "--registries",
                           str(registries), str(manifests)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert f"{registries / relative}" in done.stderr and code in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "Internal error" not in done.stderr
    after = {p: p.read_bytes() for p in registries.rglob("*")
             if p.is_file() and ".meshctl" not in p.parts}
    assert after == {p: b for p, b in before.items() if ".meshctl" not in p.parts}


@pytest.mark.parametrize("name", ["an entry without its id", "an id twice",
                                  "a workflow file named unlike its id"])
def test_a_library_write_elsewhere_drops_nothing(name: str, registries: Path) -> None:
    damage, _ = DAMAGE[name]
    relative = damage(registries)
    kept = (registries / relative).read_bytes()
    manager = RegistryManager(registries, watch=False)
    manager.load_all()
    profile = manager.entry(Kind.MODEL_PROFILE, "gpt4")
    assert profile is not None
    manager.update_model_profile("gpt4", {**profile, "timeout_seconds": 99})
    if relative == "agent_registry.json":
        agents = json.loads((registries / relative).read_text())["agents"]
        assert len(agents) == len(json.loads(kept)["agents"])  # damaged entries kept
    assert (registries / relative).read_bytes() == kept  # not rewritten at all
    assert engine.load_live(registries).state.of_kind(Kind.MODEL_PROFILE)["gpt4"].entry[
        "timeout_seconds"] == 99


@pytest.mark.parametrize("name", ["truncated JSON", "top level is a list",
                                  "a file replaced by a directory"])
def test_the_library_refuses_what_it_cannot_read_and_keeps_serving(name: str,
                                                                   registries: Path) -> None:
    manager = RegistryManager(registries, watch=False)
    manager.load_all()
    served = manager.list_agents()
    damage, _ = DAMAGE[name]
    relative = damage(registries)
    with pytest.raises(StoreError, match=relative.split("/")[-1]):
        manager.load_all()
    assert manager.list_agents() == served
    assert manager.stats()["last_error"] is not None


def test_the_example_manifests_still_plan_against_repaired_registries(tmp_path: Path) -> None:
    """The damage tests start from the fixture; undamaged it plans cleanly."""
    from tests.conftest import FIXTURE_REGISTRIES

    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "r")
    result = engine.make_plan([str(FIXTURE_MANIFESTS)], registries, use_cache=False)
    assert result.plan is not None and not result.plan.summary.has_changes
