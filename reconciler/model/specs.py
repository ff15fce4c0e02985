"""Pydantic models of the registry entries, with AgentMesh's own field names and types.

They describe and check an entry; the engine itself keeps entries as plain dicts. Every model
keeps unknown keys (`extra="allow"`) so `_comment` and fields of newer runtimes survive, and is
strict about types: the registries are JSON read by another program, so `"5"` is not `5`.
Defaults are the runtime's documented defaults; an omitted field and its default mean the same.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.model.kinds import Kind

JsonObject = dict[str, Any]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)


class AgentMetadata(_Entry):
    agent_id: str
    name: str
    description: str
    capabilities: list[str] = Field(default_factory=list)
    allowed_tools: list[str] = Field(default_factory=list)
    allowed_agents: list[str] = Field(default_factory=list)
    model_profile_id: str
    max_iterations: int = Field(default=5, ge=1, le=50)
    iteration_timeout_seconds: int = Field(default=30, ge=10, le=300)
    input_schema: JsonObject | None = None
    output_schema: JsonObject | None = None
    context_requirements: JsonObject | None = None


class ToolMetadata(_Entry):
    tool_id: str
    name: str
    description: str
    endpoint: str
    input_schema: JsonObject
    output_schema: JsonObject | None = None
    lineage_tags: list[str] = Field(default_factory=list)


class ModelProfile(_Entry):
    profile_id: str
    name: str
    description: str = ""
    provider: str
    model_name: str
    intended_usage: str = ""
    parameters: JsonObject = Field(default_factory=dict)
    json_mode: bool = False
    constraints: JsonObject = Field(default_factory=dict)
    retry_policy: JsonObject = Field(default_factory=dict)
    timeout_seconds: int = Field(default=30, ge=5, le=300)


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
    workflow_id: str
    name: str
    description: str = ""
    version: str = "1.0.0"
    mode: Literal["advisory", "strict"] = "advisory"
    goal: str = ""
    steps: list[WorkflowStep] = Field(default_factory=list)
    suggested_sequence: list[str] = Field(default_factory=list)
    required_agents: list[str] = Field(default_factory=list)
    optional_agents: list[str] = Field(default_factory=list)
    completion_criteria: JsonObject = Field(default_factory=dict)
    constraints: JsonObject = Field(default_factory=dict)
    metadata: JsonObject = Field(default_factory=dict)
    hitl_checkpoints: list[JsonObject] = Field(default_factory=list)


class GovernancePolicy(_Entry):
    """One named policy: free-form rules beside a description and an enforcement level."""

    description: str = ""
    enforcement_level: str = "strict"


class GovernancePolicies(_Entry):
    """The whole governance document, as `governance_policies.json` holds it."""

    version: str = "1.0.0"
    policies: dict[str, GovernancePolicy] = Field(default_factory=dict)


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
