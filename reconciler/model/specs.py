"""Pydantic models of the registry entries, with AgentMesh's own field names and types.

They describe and check an entry; the engine itself keeps entries as plain dicts. Every model
keeps unknown keys (`extra="allow"`) so `_comment` and fields of newer runtimes survive, and is
strict about types: the registries are JSON read by another program, so `"5"` is not `5`.
Which fields are required, their defaults and bounds come from `fields`, the one definition;
the classes add the Python types, so code written against upstream's models type-checks.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.model import fields
from reconciler.model.fields import Need
from reconciler.model.kinds import Kind

JsonObject = dict[str, Any]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)


def _field(kind: Kind, name: str) -> Any:
    """The pydantic field of `name`, required or defaulted, and bounded, as `fields` says:
    the models carry the table's definition, never their own."""
    rule = fields.rule(kind, name)
    assert rule is not None, f"{kind.value}.{name} is not in model.fields"
    default = rule.missing_means if rule.need is Need.OPTIONAL else rule.default
    if default is fields.NO_DEFAULT:
        return Field(ge=rule.minimum, le=rule.maximum)
    if isinstance(default, dict | list):
        return Field(default_factory=lambda: copy.deepcopy(default), ge=rule.minimum,
                     le=rule.maximum)
    return Field(default=default, ge=rule.minimum, le=rule.maximum)


_A, _T, _P, _W = Kind.AGENT, Kind.TOOL, Kind.MODEL_PROFILE, Kind.WORKFLOW


class AgentMetadata(_Entry):
    agent_id: str = _field(_A, "agent_id")
    name: str = _field(_A, "name")
    description: str = _field(_A, "description")
    capabilities: list[str] = _field(_A, "capabilities")
    allowed_tools: list[str] = _field(_A, "allowed_tools")
    allowed_agents: list[str] = _field(_A, "allowed_agents")
    model_profile_id: str = _field(_A, "model_profile_id")
    max_iterations: int = _field(_A, "max_iterations")
    iteration_timeout_seconds: int = _field(_A, "iteration_timeout_seconds")
    input_schema: JsonObject | None = _field(_A, "input_schema")
    output_schema: JsonObject = _field(_A, "output_schema")
    context_requirements: JsonObject = _field(_A, "context_requirements")


class ToolMetadata(_Entry):
    tool_id: str = _field(_T, "tool_id")
    name: str = _field(_T, "name")
    description: str = _field(_T, "description")
    endpoint: str = _field(_T, "endpoint")
    input_schema: JsonObject = _field(_T, "input_schema")
    output_schema: JsonObject = _field(_T, "output_schema")
    lineage_tags: list[str] = _field(_T, "lineage_tags")


class ModelProfile(_Entry):
    profile_id: str = _field(_P, "profile_id")
    name: str = _field(_P, "name")
    description: str = _field(_P, "description")
    provider: str = _field(_P, "provider")
    model_name: str = _field(_P, "model_name")
    intended_usage: str = _field(_P, "intended_usage")
    parameters: JsonObject = _field(_P, "parameters")
    json_mode: bool = _field(_P, "json_mode")
    constraints: JsonObject = _field(_P, "constraints")
    retry_policy: JsonObject = _field(_P, "retry_policy")
    timeout_seconds: int = _field(_P, "timeout_seconds")


class WorkflowStep(_Entry):
    step_id: str
    step_name: str | None = None
    agent_id: str
    sequence: int | None = None
    timeout_seconds: int | None = None
    retry_policy: JsonObject | None = None
    on_success: str | None = None
    on_failure: str | None = None
    context_compilation: JsonObject | None = None
    allow_partial_failure: bool = False


class WorkflowDefinition(_Entry):
    workflow_id: str = _field(_W, "workflow_id")
    name: str = _field(_W, "name")
    description: str = _field(_W, "description")
    version: str = _field(_W, "version")
    mode: Literal["advisory", "strict"] = _field(_W, "mode")
    goal: str = _field(_W, "goal")
    steps: list[WorkflowStep] = _field(_W, "steps")
    suggested_sequence: list[str] = _field(_W, "suggested_sequence")
    required_agents: list[str] = _field(_W, "required_agents")
    optional_agents: list[str] = _field(_W, "optional_agents")
    completion_criteria: JsonObject = _field(_W, "completion_criteria")
    constraints: JsonObject = _field(_W, "constraints")
    metadata: JsonObject = _field(_W, "metadata")
    hitl_checkpoints: list[JsonObject] = _field(_W, "hitl_checkpoints")


class GovernancePolicy(_Entry):
    """One named policy: free-form rules beside a description and an enforcement level."""

    description: str = _field(Kind.GOVERNANCE_POLICY, "description")
    enforcement_level: str = _field(Kind.GOVERNANCE_POLICY, "enforcement_level")


class GovernancePolicies(_Entry):
    """The whole governance document, as `governance_policies.json` holds it (the runtime
    requires both fields)."""

    version: str
    policies: dict[str, GovernancePolicy]


SPEC_MODELS: dict[Kind, type[_Entry]] = {
    Kind.AGENT: AgentMetadata,
    Kind.TOOL: ToolMetadata,
    Kind.MODEL_PROFILE: ModelProfile,
    Kind.WORKFLOW: WorkflowDefinition,
    Kind.GOVERNANCE_POLICY: GovernancePolicy,
}

# Nested lists of models whose unknown keys are worth a warning too.
NESTED_MODELS: dict[Kind, dict[str, type[_Entry]]] = {Kind.WORKFLOW: {"steps": WorkflowStep}}



def known_fields(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(model.model_fields)
