"""`meshctl get`: what the live registries hold, as a table, JSON or manifests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.manifests.loader import parse_manifest
from tests.conftest import FIXTURE_REGISTRIES, CliResult

Run = Callable[..., CliResult]
REG = ("--registries", str(FIXTURE_REGISTRIES))


def raw(name: str) -> Any:
    return json.loads((FIXTURE_REGISTRIES / name).read_text())


def test_get_agents_prints_a_table(meshctl: Run) -> None:
    result = meshctl("get", "agents", *REG)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].strip() == "agents"
    assert lines[1].split() == ["NAME", "MODEL", "TOOLS", "AGENTS", "MAX_ITER"]
    names = [line.split()[0] for line in lines[2:] if line.strip()]
    assert names == [a["agent_id"] for a in raw("agent_registry.json")["agents"]]
    fraud = next(line for line in lines if line.split()[0:1] == ["fraud_agent"])
    assert fraud.split() == ["fraud_agent", "default_gpt35", "2", "-", "5"]


@pytest.mark.parametrize(("kind", "title"), [
    ("agent", "agents"), ("ag", "agents"), ("Agent", "agents"),
    ("tools", "tools"), ("mp", "model-profiles"), ("model-profiles", "model-profiles"),
    ("wf", "workflows"), ("policies", "policies"), ("pol", "policies"),
    ("GovernancePolicy", "policies"),
])
def test_kind_names_and_aliases(meshctl: Run, kind: str, title: str) -> None:
    result = meshctl("get", kind, *REG)
    assert result.code == 0
    assert result.out.splitlines()[0].strip() == title


def test_get_all_lists_every_kind(meshctl: Run) -> None:
    result = meshctl("get", "all", *REG)
    assert result.code == 0
    titles = [line.strip() for line in result.out.splitlines()
              if line.strip() in ("model-profiles", "tools", "agents", "workflows", "policies")]
    assert titles == ["model-profiles", "tools", "agents", "workflows", "policies"]


def test_one_resource_as_json_is_its_registry_entry(meshctl: Run) -> None:
    result = meshctl("get", "agent", "fraud_agent", "-o", "json", *REG)
    assert result.code == 0
    entry = json.loads(result.out)
    expected = next(a for a in raw("agent_registry.json")["agents"]
                    if a["agent_id"] == "fraud_agent")
    assert entry == expected
    assert list(entry) == list(expected)


def test_all_as_json_is_every_entry(meshctl: Run) -> None:
    result = meshctl("get", "all", "-o", "json", *REG)
    assert result.code == 0
    entries = json.loads(result.out)
    assert len(entries) == 29
    policies = raw("governance_policies.json")["policies"]
    assert entries[-len(policies):] == list(policies.values())


def test_yaml_output_is_manifests_that_read_back(meshctl: Run) -> None:
    result = meshctl("get", "policies", "-o", "yaml", *REG)
    assert result.code == 0
    parsed = parse_manifest(result.out.encode(), file="out.yaml")
    assert parsed.diagnostics == []
    policies = raw("governance_policies.json")["policies"]
    assert {r.name: r.entry for r in parsed.resources} == policies


def test_an_unknown_kind_exits_1_with_a_suggestion(meshctl: Run) -> None:
    result = meshctl("get", "agnets", *REG)
    assert result.code == 1
    assert "unknown kind 'agnets'; did you mean 'agents'?" in result.err
    assert "Traceback" not in result.output


def test_an_unknown_name_exits_1_with_a_suggestion(meshctl: Run) -> None:
    result = meshctl("get", "agent", "fraud_agnt", *REG)
    assert result.code == 1
    assert "agent 'fraud_agnt' not found" in result.err
    assert "did you mean 'fraud_agent'?" in result.err
    assert "Traceback" not in result.output


def test_a_name_with_kind_all_exits_1(meshctl: Run) -> None:
    result = meshctl("get", "all", "fraud_agent", *REG)
    assert result.code == 1
    assert "NAME needs a single KIND" in result.err


def test_meshctl_registries_sets_the_default(meshctl: Run, registries: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    path = registries / "tool_registry.json"
    data = json.loads(path.read_text())
    data["tools"] = data["tools"][:1]
    path.write_text(json.dumps(data))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MESHCTL_REGISTRIES", str(registries))
    result = meshctl("get", "tools", "-o", "json")
    assert result.code == 0
    assert [t["tool_id"] for t in json.loads(result.out)] == [data["tools"][0]["tool_id"]]


def test_damaged_registries_exit_1_and_are_reported(meshctl: Run, registries: Path) -> None:
    (registries / "tool_registry.json").write_text("{\n")
    result = meshctl("get", "agents", "--registries", registries)
    assert result.code == 1
    assert f"{registries / 'tool_registry.json'}:2: error L001" in result.err
    assert "Traceback" not in result.output


def test_missing_registries_exit_1(meshctl: Run, tmp_path: Path) -> None:
    result = meshctl("get", "agents", "--registries", tmp_path / "nope")
    assert result.code == 1
    assert "registries directory" in result.err and "not found" in result.err
    assert "Traceback" not in result.output


def test_usage_errors_exit_1(meshctl: Run) -> None:
    assert meshctl("get").code == 1
    assert meshctl("get", "agents", "-o", "csv", *REG).code == 1


def test_help_has_examples(meshctl: Run) -> None:
    for args in (("get", "--help"), ("--help",), ("-h",)):
        result = meshctl(*args)
        assert result.code == 0
        assert "Examples" in result.out
