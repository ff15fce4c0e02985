"""HITL checkpoints against the roles of `hitl_access_control` (H001-H003), on the example
mesh, through the full plan, the library and the REST API: one rule wherever a change comes
from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import ChangeRejected
from reconciler.library import RegistryManager
from reconciler.model.kinds import Kind
from tests.conftest import line_of
from tests.plan.conftest import MANIFESTS, REGISTRIES, change_of, edit, make_plan

WORKFLOW = MANIFESTS / "workflows" / "claims_triage.yaml"
POLICY = MANIFESTS / "policies" / "hitl_access_control.yaml"


def codes(diagnostics: list[Any], code: str) -> list[Any]:
    return [d for d in diagnostics if d.code == code]


def test_the_example_mesh_has_only_the_two_real_type_warnings(ws: Path) -> None:
    result = make_plan()
    assert result.plan is not None
    found = codes(result.diagnostics, "H003")
    assert [(d.line, d.path) for d in found] == [
        (line_of(WORKFLOW, "checkpoint_type: approval", 2), "hitl_checkpoints[1].checkpoint_type"),
        (line_of(WORKFLOW, "checkpoint_type: approval", 3), "hitl_checkpoints[2].checkpoint_type")]
    assert "role 'fraud_investigator' may not handle" in found[0].message
    assert codes(result.diagnostics, "H001") == codes(result.diagnostics, "H002") == []
    assert codes(result.diagnostics, "G001") == []  # policy <-> workflow is no agent loop


def test_an_unknown_role_is_h001_at_the_checkpoint(ws: Path) -> None:
    edit(WORKFLOW, "required_role: approver", "required_role: aprover")
    result = make_plan()
    assert result.plan is None
    [error] = codes(result.errors, "H001")
    assert (error.file, error.line) == (str(WORKFLOW), line_of(WORKFLOW, "required_role: aprover"))
    assert "requires role 'aprover'" in error.message and "did you mean 'approver'?" in \
        error.message


def test_renaming_a_role_in_use_is_refused_at_the_checkpoints_that_use_it(ws: Path) -> None:
    edit(POLICY, "role_id: fraud_investigator", "role_id: fraud_analyst")
    result = make_plan()
    assert result.plan is None
    found = codes(result.errors, "H001")
    assert [(d.file, d.path) for d in found] == [
        (str(WORKFLOW), "hitl_checkpoints[1].required_role"),
        (str(WORKFLOW), "hitl_checkpoints[2].required_role")]


def test_deleting_the_policy_while_its_roles_are_used_is_refused(ws: Path) -> None:
    POLICY.unlink()
    result = make_plan()
    assert result.plan is not None
    change = change_of(result.plan, "governance-policy/hitl_access_control")
    assert change.refused is not None and "workflows claims_triage" in change.refused
    assert f"{WORKFLOW}:" in change.refused


def test_a_checkpoint_after_an_agent_no_step_runs_is_h002(ws: Path) -> None:
    head, tail = WORKFLOW.read_text().split("hitl_checkpoints:", 1)
    WORKFLOW.write_text(head + "hitl_checkpoints:" + tail.replace(
        "agent_id: intake_agent", "agent_id: orchestrator_agent", 1))
    result = make_plan()
    [warning] = codes(result.diagnostics, "H002")
    assert warning.path == "hitl_checkpoints[1].agent_id"
    assert warning.line == line_of(WORKFLOW, "agent_id: orchestrator_agent")
    assert "follows agent 'orchestrator_agent', which no step" in warning.message


@pytest.fixture
def registry(ws: Path) -> Any:
    manager = RegistryManager(REGISTRIES, watch=False)
    manager.load_all()
    yield manager
    manager.close()


def test_a_library_write_that_drops_a_role_in_use_is_rejected(registry: Any) -> None:
    before = (REGISTRIES / "governance_policies.json").read_bytes()
    document = registry.get_governance_policies().model_dump(mode="json")
    roles = document["policies"]["hitl_access_control"]["roles"]
    document["policies"]["hitl_access_control"]["roles"] = [
        role for role in roles if role["role_id"] != "approver"]
    with pytest.raises(ChangeRejected) as caught:
        registry.update_governance_policies(document)
    assert "requires role 'approver'" in str(caught.value)
    assert [d.code for d in caught.value.diagnostics] == ["H001"]
    assert (REGISTRIES / "governance_policies.json").read_bytes() == before
    # A role nobody uses goes.
    document["policies"]["hitl_access_control"]["roles"] = [
        role for role in roles if role["role_id"] != "claims_adjuster"]
    registry.update_governance_policies(document)
    assert "claims_adjuster" not in (REGISTRIES / "governance_policies.json").read_text()


def test_a_library_workflow_write_with_an_unknown_role_is_rejected(registry: Any) -> None:
    entry = dict(registry.entry(Kind.WORKFLOW, "claims_triage"))
    entry["hitl_checkpoints"] = [dict(entry["hitl_checkpoints"][0], required_role="nobody")]
    with pytest.raises(ChangeRejected) as caught:
        registry.update_workflow("claims_triage", entry)
    assert [d.code for d in caught.value.diagnostics] == ["H001"]
