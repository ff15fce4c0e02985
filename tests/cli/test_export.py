"""`meshctl export`: live registries -> manifests that re-read as exactly the live data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import engine
from reconciler.model.kinds import Kind
from tests.conftest import CliResult, beyond_fixture, load

Run = Callable[..., CliResult]


def ordered(value: Any) -> Any:
    """Mappings as (key, value) pair lists, so `==` checks key order at every depth."""
    if isinstance(value, dict):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return value


def test_export_writes_one_manifest_per_resource(meshctl: Run, registries: Path,
                                                 tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = meshctl("export", "--registries", registries, "--out", out)
    assert result.code == 0
    assert result.out.strip() == (f"Exported 29 resources to {out}/ (6 model-profiles, 6 tools, "
                                  "7 agents, 1 workflows, 9 policies)")
    assert len(list(out.rglob("*.yaml"))) == 29
    assert (out / "agents" / "orchestrator_agent.yaml").is_file()
    assert (out / "policies" / "iteration_limits.yaml").is_file()


def test_the_export_round_trips_exactly(meshctl: Run, registries: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert meshctl("export", "--registries", registries, "--out", out).code == 0
    live = engine.load_live(registries)
    desired = load(out)
    assert beyond_fixture(desired.diagnostics) == []
    assert sorted(r.key for r in desired.state) == sorted(r.key for r in live.state)
    for resource in live.state:
        mine = desired.state.get(resource.key)
        assert mine is not None
        assert mine.entry == resource.entry
        assert ordered(mine.entry) == ordered(resource.entry), resource.key
    # every key, `_comment` included, at entry and at rule level
    raw = json.loads((registries / "governance_policies.json").read_text())
    exported = desired.state.of_kind(Kind.GOVERNANCE_POLICY)
    assert sorted(exported) == sorted(raw["policies"])
    for name, body in raw["policies"].items():
        assert ordered(exported[name].entry) == ordered(body)
    agents = json.loads((registries / "agent_registry.json").read_text())["agents"]
    exported_agents = desired.state.of_kind(Kind.AGENT)
    for entry in agents:
        assert ordered(exported_agents[entry["agent_id"]].entry) == ordered(entry)
    result = meshctl("validate", out)
    assert result.code == 0
    assert "valid: 29 resources in 29 files, 0 errors, 2 warnings" in result.out


def test_export_as_json(meshctl: Run, registries: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = meshctl("export", "--registries", registries, "--out", out, "-o", "json")
    assert result.code == 0
    report = json.loads(result.out)
    assert report["out"] == str(out)
    assert report["counts"] == {"model-profiles": 6, "tools": 6, "agents": 7, "workflows": 1,
                                "policies": 9}
    assert len(report["files"]) == 29
    assert all(Path(f).is_file() for f in report["files"])


def test_environment_sets_registries_and_out(meshctl: Run, registries: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MESHCTL_REGISTRIES", str(registries))
    monkeypatch.setenv("MESHCTL_MANIFESTS", str(tmp_path / "from-env"))
    result = meshctl("export")
    assert result.code == 0
    assert len(list((tmp_path / "from-env").rglob("*.yaml"))) == 29


def test_defaults_are_registries_and_manifests_in_the_working_directory(
        meshctl: Run, registries: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHCTL_REGISTRIES", raising=False)
    monkeypatch.delenv("MESHCTL_MANIFESTS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert registries == tmp_path / "registries"
    assert meshctl("export").code == 0
    assert len(list((tmp_path / "manifests").rglob("*.yaml"))) == 29


def test_missing_registries_exit_1(meshctl: Run, tmp_path: Path) -> None:
    result = meshctl("export", "--registries", tmp_path / "nope", "--out", tmp_path / "out")
    assert result.code == 1
    assert "registries directory" in result.err and "not found" in result.err
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_damaged_registries_exit_1_and_write_nothing(meshctl: Run, registries: Path,
                                                     tmp_path: Path) -> None:
    (registries / "agent_registry.json").write_text('{"agents": [\n  {"agent_id": "a",}\n]}\n')
    result = meshctl("export", "--registries", registries, "--out", tmp_path / "out")
    assert result.code == 1
    assert f"{registries / 'agent_registry.json'}:2: error L001" in result.err
    assert "nothing was done" in result.err
    assert not (tmp_path / "out").exists()
    assert "Traceback" not in result.output


def test_an_unwritable_target_is_an_error_without_a_traceback(meshctl: Run, registries: Path,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "agents").write_text("a file where a folder must go\n")
    result = meshctl("export", "--registries", registries, "--out", out)
    assert result.code == 1
    assert "Traceback" not in result.output
    assert "Error" in result.err
    debug = meshctl("--debug", "export", "--registries", registries, "--out", out)
    assert debug.code == 1
    assert "Traceback (most recent call last)" in debug.err


def test_usage_errors_exit_1(meshctl: Run, registries: Path) -> None:
    assert meshctl("export", "--registries", registries, "-o", "yaml").code == 1
    assert meshctl("export", "--frobnicate").code == 1


def test_help_has_examples(meshctl: Run) -> None:
    result = meshctl("export", "--help")
    assert result.code == 0
    assert "Examples" in result.out


def test_an_unsafe_live_id_is_refused_and_nothing_is_written(meshctl: Run, registries: Path,
                                                             tmp_path: Path) -> None:
    path = registries / "tool_registry.json"
    data = json.loads(path.read_text())
    data["tools"].append({**data["tools"][0], "tool_id": "../../escaped"})
    path.write_text(json.dumps(data))
    out = tmp_path / "deep" / "out"
    result = meshctl("export", "--registries", registries, "--out", out)
    assert result.code == 1
    assert "not a safe file name" in result.err
    assert "error S004" in result.err
    assert not (tmp_path / "deep").exists()
    assert not list(tmp_path.rglob("escaped.yaml"))
    assert "Traceback" not in result.output


def test_live_findings_are_exported_as_they_are_with_a_note(meshctl: Run, registries: Path,
                                                            tmp_path: Path) -> None:
    path = registries / "agent_registry.json"
    data = json.loads(path.read_text())
    data["agents"][1]["max_iterations"] = 500
    path.write_text(json.dumps(data))
    out = tmp_path / "out"
    result = meshctl("export", "--registries", registries, "--out", out)
    assert result.code == 0
    assert "error S003" in result.err
    assert "note: the live registries have 1 error" in result.err
    exported = load(out)
    agent = exported.state.get(engine.load_live(registries).state.of_kind(Kind.AGENT)[
        data["agents"][1]["agent_id"]].key)
    assert agent is not None and agent.entry["max_iterations"] == 500
    assert [d.code for d in exported.errors] == ["S003"]
    assert meshctl("validate", out).code == 1
