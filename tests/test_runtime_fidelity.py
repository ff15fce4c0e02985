"""What meshctl writes, the AgentMesh runtime loads.

The runtime validates each registry entry with its own pydantic models and silently skips
one that does not fit. `RuntimeAgent` and its siblings below are written from the runtime's
facts (issue 15: which fields each model requires, their types), independently of meshctl's
own `model.fields` and `model.specs`, and in pydantic's default lax mode, as the runtime
runs them. Every path that writes (apply, the init scaffold, REST creates, rollback) is
loaded with them, and each missing required field is refused before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from tests.conftest import CliResult, line_of, manifest, write
from tests.servers import Server


class _Runtime(BaseModel):
    model_config = ConfigDict(extra="allow")


class RuntimeAgent(_Runtime):
    agent_id: str
    name: str
    description: str
    capabilities: list[str]
    allowed_tools: list[str] = []
    allowed_agents: list[str] = []
    model_profile_id: str
    max_iterations: int
    iteration_timeout_seconds: int
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any]
    context_requirements: dict[str, Any]


class RuntimeTool(_Runtime):
    tool_id: str
    name: str
    description: str
    endpoint: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    lineage_tags: list[str]


class RuntimeModelProfile(_Runtime):
    profile_id: str
    name: str
    description: str
    provider: str
    model_name: str
    intended_usage: str
    parameters: dict[str, Any]
    json_mode: bool
    constraints: dict[str, Any]
    retry_policy: dict[str, Any]
    timeout_seconds: int


class RuntimeWorkflow(_Runtime):
    workflow_id: str
    name: str
    description: str
    version: str
    mode: str
    goal: str | None = None
    steps: list[dict[str, Any]]
    suggested_sequence: list[str] = []
    required_agents: list[str] = []
    optional_agents: list[str] = []
    completion_criteria: dict[str, Any] = {}
    constraints: dict[str, Any] = {}
    metadata: dict[str, Any]
    hitl_checkpoints: list[dict[str, Any]] = []


class RuntimeGovernance(_Runtime):
    version: str
    policies: dict[str, Any]


REGISTRY_FILES: dict[str, tuple[str, type[_Runtime]]] = {
    "agent_registry.json": ("agents", RuntimeAgent),
    "tool_registry.json": ("tools", RuntimeTool),
    "model_profiles.json": ("profiles", RuntimeModelProfile),
}


def runtime_load(registries: Path) -> tuple[dict[str, int], list[str]]:
    """What the runtime would load from `registries`: counts per file, and every entry it
    would skip (with pydantic's reason)."""
    loaded: dict[str, int] = {}
    skipped: list[str] = []
    for file, (key, model) in REGISTRY_FILES.items():
        path = registries / file
        if not path.exists():
            continue
        for entry in json.loads(path.read_text(encoding="utf-8"))[key]:
            try:
                model.model_validate(entry)
                loaded[file] = loaded.get(file, 0) + 1
            except ValidationError as error:
                skipped.append(f"{file}: {entry.get('agent_id') or entry}: {error}")
    for path in sorted((registries / "workflows").glob("*.json")):
        try:
            RuntimeWorkflow.model_validate(json.loads(path.read_text(encoding="utf-8")))
            loaded["workflows"] = loaded.get("workflows", 0) + 1
        except ValidationError as error:
            skipped.append(f"{path.name}: {error}")
    governance = registries / "governance_policies.json"
    if governance.exists():
        try:
            document = RuntimeGovernance.model_validate(json.loads(governance.read_text()))
            loaded["policies"] = len(document.policies)
        except ValidationError as error:
            skipped.append(f"governance_policies.json: {error}")
    return loaded, skipped


# Manifests that give only what has no default: the rest is meshctl's to write out.
MINIMAL = [
    manifest("ModelProfile", "p1", "name: P1\ndescription: a profile\nprovider: openai\n"
             "model_name: gpt-4o\nintended_usage: testing\n"),
    manifest("Tool", "t1", "name: T1\ndescription: a tool\nendpoint: /invoke/t1\n"
             "input_schema: {type: object}\noutput_schema: {type: object}\n"),
    manifest("Agent", "orchestrator_agent", "name: O\ndescription: routes\n"
             "capabilities: [routing]\nmodel_profile_id: p1\nallowed_agents: [a1]\n"
             "output_schema: {type: object}\n"),
    manifest("Agent", "a1", "name: A1\ndescription: an agent\ncapabilities: [work]\n"
             "model_profile_id: p1\nallowed_tools: [t1]\noutput_schema: {type: object}\n"),
    manifest("Workflow", "w1", "name: W1\ndescription: a workflow\nsteps:\n"
             "  - step_id: s1\n    agent_id: a1\n"),
    # Governance denies by default: the two access policies grant what a1 and the
    # orchestrator ask for (A001-A003).
    manifest("GovernancePolicy", "agent_tool_access", "description: who may use what\n"
             "rules:\n  - agent_id: a1\n    allowed_tools: [t1]\n"),
    manifest("GovernancePolicy", "agent_invocation_access", "description: who may invoke whom\n"
             "rules:\n  - agent_id: orchestrator_agent\n    allowed_agents: [a1]\n"),
]
EXPECTED = {"model_profiles.json": 1, "tool_registry.json": 1, "agent_registry.json": 2,
            "workflows": 1, "policies": 2}


def minimal_mesh(folder: Path) -> Path:
    write(folder / "mesh.yaml", "---\n".join(MINIMAL))
    return folder


def test_apply_of_minimal_manifests_writes_entries_the_runtime_loads(
        tmp_path: Path, meshctl: Any) -> None:
    manifests, registries = minimal_mesh(tmp_path / "m"), tmp_path / "r"
    registries.mkdir()
    result: CliResult = meshctl("apply", "--auto-approve", "--registries", registries,
                                manifests)
    assert result.code == 0, result.err
    loaded, skipped = runtime_load(registries)
    assert skipped == []
    assert loaded == EXPECTED
    agent = json.loads((registries / "agent_registry.json").read_text())["agents"][1]
    assert (agent["max_iterations"], agent["iteration_timeout_seconds"],
            agent["context_requirements"]) == (10, 60, {})
    # Omitted-and-default is no change: a second plan has nothing to do.
    again = meshctl("plan", "--detailed-exitcode", "--registries", registries, manifests)
    assert again.code == 0, again.out + again.err


def test_the_init_scaffold_is_loaded_whole(tmp_path: Path, meshctl: Any) -> None:
    assert meshctl("init", tmp_path / "mesh").code == 0
    result = meshctl("apply", "--auto-approve", "--registries", tmp_path / "mesh/registries",
                     tmp_path / "mesh/manifests")
    assert result.code == 0, result.err
    loaded, skipped = runtime_load(tmp_path / "mesh/registries")
    assert skipped == []
    # The scaffold ships both access policies its orchestrator and agent need.
    assert loaded == {"model_profiles.json": 1, "tool_registry.json": 1,
                      "agent_registry.json": 2, "workflows": 1, "policies": 2}


def test_rollback_writes_complete_entries(tmp_path: Path, meshctl: Any) -> None:
    manifests, registries = minimal_mesh(tmp_path / "m"), tmp_path / "r"
    registries.mkdir()
    assert meshctl("apply", "--auto-approve", "--registries", registries, manifests).code == 0
    text = (manifests / "mesh.yaml").read_text().replace("description: an agent",
                                                         "description: changed")
    write(manifests / "mesh.yaml", text)
    assert meshctl("apply", "--auto-approve", "--registries", registries, manifests).code == 0
    result = meshctl("rollback", "1", "--auto-approve", "--registries", registries)
    assert result.code == 0, result.err
    loaded, skipped = runtime_load(registries)
    assert skipped == [] and loaded == EXPECTED


def test_rest_creates_are_complete_and_a_missing_field_is_a_422(
        tmp_path: Path, meshctl: Any) -> None:
    manifests, registries = minimal_mesh(tmp_path / "m"), tmp_path / "r"
    registries.mkdir()
    assert meshctl("apply", "--auto-approve", "--registries", registries, manifests).code == 0
    server = Server(registries)
    try:
        with server.client() as api:
            created = [
                api.post("/registries/model-profiles", json={
                    "profile_id": "p2", "name": "P2", "description": "d", "provider": "openai",
                    "model_name": "gpt-4o", "intended_usage": "testing"}),
                api.post("/registries/tools", json={
                    "tool_id": "t2", "name": "T2", "description": "d", "endpoint": "/t2",
                    "input_schema": {"type": "object"}, "output_schema": {"type": "object"}}),
                api.post("/registries/agents", json={
                    "agent_id": "a2", "name": "A2", "description": "d",
                    "capabilities": ["work"], "model_profile_id": "p2",
                    "output_schema": {"type": "object"}}),
                # a1: the agent the orchestrator lists and may invoke (A002)
                api.post("/registries/workflows", json={
                    "workflow_id": "w2", "name": "W2", "description": "d",
                    "steps": [{"step_id": "s1", "agent_id": "a1"}]}),
            ]
            assert [r.status_code for r in created] == [201] * 4, [r.text for r in created]
            before = {p.name: p.read_bytes() for p in registries.glob("*.json")}
            missing = api.post("/registries/agents", json={
                "agent_id": "a3", "name": "A3", "description": "d", "model_profile_id": "p1",
                "output_schema": {"type": "object"}})
            assert missing.status_code == 422
            assert "capabilities" in missing.text
            assert {p.name: p.read_bytes() for p in registries.glob("*.json")} == before
            reload = api.post("/registries/reload").json()
            assert reload["success"] is True and reload["message"] and reload["timestamp"]
    finally:
        server.stop()
    loaded, skipped = runtime_load(registries)
    assert skipped == []
    assert loaded == {"model_profiles.json": 2, "tool_registry.json": 2,
                      "agent_registry.json": 3, "workflows": 2, "policies": 2}


def kind_label(kind: str, space: str = "-") -> str:
    return {"ModelProfile": f"model{space}profile"}.get(kind, kind.lower())


# Every field the runtime requires that has no default, per kind (the facts).
REQUIRED_WITHOUT_DEFAULT = [
    ("ModelProfile", "p1", field) for field in
    ("name", "description", "provider", "model_name", "intended_usage")
] + [
    ("Tool", "t1", field) for field in
    ("name", "description", "endpoint", "input_schema", "output_schema")
] + [
    ("Agent", "a1", field) for field in
    ("name", "description", "capabilities", "model_profile_id", "output_schema")
] + [
    ("Workflow", "w1", field) for field in ("name", "description")
]


@pytest.mark.parametrize(("kind", "name", "field"), REQUIRED_WITHOUT_DEFAULT)
def test_a_missing_required_field_is_refused_with_file_and_line(
        tmp_path: Path, meshctl: Any, kind: str, name: str, field: str) -> None:
    manifests, registries = tmp_path / "m", tmp_path / "r"
    registries.mkdir()
    documents = []
    for document in MINIMAL:
        if f"kind: {kind}\nmetadata:\n  name: {name}\n" in document:
            head, spec = document.split("spec:\n")
            kept = [*head.splitlines(), "spec:", *(line for line in spec.splitlines()
                                                  if not line.startswith(f"  {field}:"))]
            assert len(kept) < len(document.splitlines()) + 1, f"{field} not in {kind} {name}"
            document = "\n".join(kept) + "\n"
        documents.append(document)
    path = write(manifests / "mesh.yaml", "---\n".join(documents))
    result = meshctl("apply", "--auto-approve", "--registries", registries, manifests)
    assert result.code == 1
    document_line = line_of(path, f"  name: {name}") - 3  # its apiVersion line
    assert [text for text in result.err.splitlines() if "S001" in text] == [
        f"{path}:{document_line}: error S001 {kind_label(kind)}/{name}: {kind_label(kind, ' ')} "
        f"'{name}' is missing required field '{field}'"]
    assert [p.name for p in registries.iterdir() if p.name != ".meshctl"] == []  # the audit log
