"""Pydantic models of the registry entries, with AgentMesh's own field names and types.

They describe and check an entry; the engine itself keeps entries as plain dicts. Every model
keeps unknown keys (`extra="allow"`) so `_comment` and fields of newer runtimes survive, and is
strict about types: the registries are JSON read by another program, so `"5"` is not `5`.
Which fields are required, their defaults and bounds come from `fields`, the one definition;
the classes add the Python types, so code written against upstream's models type-checks.
"""

from __future__ import annotations

import copy
import functools
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


# The providers the runtime has an LLM client for: its factory (upstream's
# `services/llm_client.create_llm_client`) lowers the profile's provider and raises for any
# other, so an agent on a profile of another provider loads but cannot run.
LLM_PROVIDERS = ("openai", "anthropic")


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


_SC, _CS, _CP = Kind.SYSTEM_CONFIG, Kind.CONTEXT_STRATEGIES, Kind.CONTEXT_PROCESSOR
_AP, _SP, _IC = Kind.AUTH_PROFILE, Kind.SECURITY_POLICY, Kind.INTEGRATION_CONFIG
_CO, _IW = Kind.CONNECTOR, Kind.INTEGRATION_WORKFLOW


class SystemConfig(_Entry):
    """`system_config.json`: the orchestrator's limits, timeouts and feature switches, one
    free-form section each (upstream models none of them field by field)."""

    version: str = _field(_SC, "version")
    orchestrator: JsonObject = _field(_SC, "orchestrator")
    workflow: JsonObject = _field(_SC, "workflow")
    agent: JsonObject = _field(_SC, "agent")
    llm: JsonObject = _field(_SC, "llm")
    governance: JsonObject = _field(_SC, "governance")
    safety: JsonObject = _field(_SC, "safety")
    schema_: JsonObject = Field(default_factory=dict, alias="schema")
    context_engineering: JsonObject = _field(_SC, "context_engineering")
    compaction: JsonObject = _field(_SC, "compaction")
    memory: JsonObject = _field(_SC, "memory")
    artifacts: JsonObject = _field(_SC, "artifacts")


class ContextStrategies(_Entry):
    """`context_strategies.json`: compilation budgets, compaction, memory, artifacts and
    prefix caching, one free-form section each."""

    version: str = _field(_CS, "version")
    context_compilation: JsonObject = _field(_CS, "context_compilation")
    compaction: JsonObject = _field(_CS, "compaction")
    memory_layer: JsonObject = _field(_CS, "memory_layer")
    artifact_management: JsonObject = _field(_CS, "artifact_management")
    prefix_caching: JsonObject = _field(_CS, "prefix_caching")


class ContextProcessor(_Entry):
    """One processor of `context_processor_pipeline.json`."""

    processor_id: str = _field(_CP, "processor_id")
    name: str = _field(_CP, "name")
    enabled: bool = _field(_CP, "enabled")
    order: int = _field(_CP, "order")
    config: JsonObject = _field(_CP, "config")


class TenantLimit(_Entry):
    tenant_id: str
    qps_limit: int | None = None
    burst_limit: int | None = None
    priority_override: str | None = None


class AuthProfile(_Entry):
    profile_id: str = _field(_AP, "profile_id")
    name: str = _field(_AP, "name")
    type: str = _field(_AP, "type")
    config: JsonObject = _field(_AP, "config")
    tenant_limits: list[TenantLimit] = _field(_AP, "tenant_limits")


class SecurityRule(_Entry):
    field: str
    action: str


class SecurityPolicy(_Entry):
    policy_id: str = _field(_SP, "policy_id")
    name: str = _field(_SP, "name")
    description: str = _field(_SP, "description")
    rules: list[SecurityRule] = _field(_SP, "rules")


class RetryPolicy(_Entry):
    policy_id: str
    max_attempts: int
    backoff_seconds: float = Field(strict=False)


class IntegrationConfig(_Entry):
    """`integration/system_config.json`: the integration fabric's retry policies, limits,
    circuit-breaker defaults, event channels, observability and idempotency."""

    version: str = _field(_IC, "version")
    retry_policies: list[RetryPolicy] = _field(_IC, "retry_policies")
    features: JsonObject = _field(_IC, "features")
    throughput_limits: JsonObject | None = _field(_IC, "throughput_limits")
    circuit_breaker_defaults: JsonObject | None = _field(_IC, "circuit_breaker_defaults")
    event_channel_policies: JsonObject = _field(_IC, "event_channel_policies")
    observability: JsonObject | None = _field(_IC, "observability")
    idempotency: JsonObject | None = _field(_IC, "idempotency")


class ConnectorMetadata(_Entry):
    connector_id: str = _field(_CO, "connector_id")
    name: str = _field(_CO, "name")
    description: str = _field(_CO, "description")
    type: str = _field(_CO, "type")
    base_url: str = _field(_CO, "base_url")
    auth_profile: str | None = _field(_CO, "auth_profile")
    timeout_ms: int = _field(_CO, "timeout_ms")
    supports_idempotency: bool = _field(_CO, "supports_idempotency")
    simulator_profile: str | None = _field(_CO, "simulator_profile")
    tags: list[str] = _field(_CO, "tags")
    scaling: JsonObject | None = _field(_CO, "scaling")
    retry_policy_id: str | None = _field(_CO, "retry_policy_id")
    circuit_breaker: JsonObject | None = _field(_CO, "circuit_breaker")
    region_affinity: JsonObject | None = _field(_CO, "region_affinity")


class IntegrationStep(_Entry):
    id: str
    type: str
    connector: str | None = None
    operation: str | None = None
    policy: str | None = None
    idempotency: bool = False
    retry_policy: str | None = None
    failure_policy: str | None = None
    metadata: JsonObject = Field(default_factory=dict)


class IntegrationWorkflow(_Entry):
    workflow_id: str = _field(_IW, "workflow_id")
    name: str = _field(_IW, "name")
    description: str = _field(_IW, "description")
    version: str = _field(_IW, "version")
    trigger: str = _field(_IW, "trigger")
    priority: str | None = _field(_IW, "priority")
    sla: JsonObject | None = _field(_IW, "sla")
    throughput: JsonObject | None = _field(_IW, "throughput")
    steps: list[IntegrationStep] = _field(_IW, "steps")
    metadata: JsonObject = _field(_IW, "metadata")


SPEC_MODELS: dict[Kind, type[_Entry]] = {
    Kind.AGENT: AgentMetadata,
    Kind.TOOL: ToolMetadata,
    Kind.MODEL_PROFILE: ModelProfile,
    Kind.WORKFLOW: WorkflowDefinition,
    Kind.GOVERNANCE_POLICY: GovernancePolicy,
    Kind.SYSTEM_CONFIG: SystemConfig,
    Kind.CONTEXT_STRATEGIES: ContextStrategies,
    Kind.CONTEXT_PROCESSOR: ContextProcessor,
    Kind.AUTH_PROFILE: AuthProfile,
    Kind.SECURITY_POLICY: SecurityPolicy,
    Kind.INTEGRATION_CONFIG: IntegrationConfig,
    Kind.CONNECTOR: ConnectorMetadata,
    Kind.INTEGRATION_WORKFLOW: IntegrationWorkflow,
}

# Nested lists of models whose unknown keys are worth a warning too.
NESTED_MODELS: dict[Kind, dict[str, type[_Entry]]] = {
    Kind.WORKFLOW: {"steps": WorkflowStep},
    Kind.INTEGRATION_WORKFLOW: {"steps": IntegrationStep},
    Kind.SECURITY_POLICY: {"rules": SecurityRule},
    Kind.AUTH_PROFILE: {"tenant_limits": TenantLimit},
    Kind.INTEGRATION_CONFIG: {"retry_policies": RetryPolicy},
}



@functools.cache
def known_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The JSON names of a model's fields (`schema`, not its Python name `schema_`); asked
    for every resource checked, so answered once per model."""
    return tuple(info.alias or name for name, info in model.model_fields.items())
