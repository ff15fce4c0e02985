"""The resource kinds and everything that differs between them, in one table.

Every other module asks this table (id field, registry file, plural names, export folder)
instead of spelling a kind's details itself, as gitops-engine's `common/types.go` does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    MODEL_PROFILE = "ModelProfile"
    TOOL = "Tool"
    AGENT = "Agent"
    WORKFLOW = "Workflow"
    GOVERNANCE_POLICY = "GovernancePolicy"
    SYSTEM_CONFIG = "SystemConfig"
    CONTEXT_STRATEGIES = "ContextStrategies"
    CONTEXT_PROCESSOR = "ContextProcessor"
    AUTH_PROFILE = "AuthProfile"
    SECURITY_POLICY = "SecurityPolicy"
    INTEGRATION_CONFIG = "IntegrationConfig"
    CONNECTOR = "Connector"
    INTEGRATION_WORKFLOW = "IntegrationWorkflow"


class Layout(enum.Enum):
    """How a kind's entries sit in the AgentMesh files: what the reader and writer follow."""

    LIST = "list"  # a list of entries under `collection_key`, each keyed by `id_field`
    PER_FILE = "per-file"  # one document per file in a folder, file name = id
    POLICY_MAP = "policy-map"  # an object of named entries under `collection_key`
    SINGLETON = "singleton"  # the whole document is the one entry, named SINGLETON_NAME


@dataclass(frozen=True, slots=True)
class KindInfo:
    kind: Kind
    label: str  # how messages name one resource of the kind: "model profile"
    plural: str  # CLI name and export folder: "model-profiles"
    id_field: str | None  # field of the registry entry holding the id; None for policies
    registry_file: str  # file (or folder, for workflows) under the registries directory
    collection_key: str | None  # key of the entry list (or policy map) inside that file
    aliases: tuple[str, ...]
    layout: Layout = Layout.LIST
    # Kinds added after the first five are managed only once a manifest of the kind exists:
    # a desired state that declares none leaves the live files alone (never pruned), so a
    # deployment whose manifests predate the kind plans exactly as before.
    opt_in: bool = False


API_VERSION = "agentmesh.io/v1"
ORCHESTRATOR_ID = "orchestrator_agent"
SINGLETON_NAME = "default"  # metadata.name of a one-document kind (system config, ...)

KINDS: dict[Kind, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo(
            Kind.MODEL_PROFILE,
            "model profile",
            "model-profiles",
            "profile_id",
            "model_profiles.json",
            "profiles",
            ("model-profile", "modelprofile", "modelprofiles", "profile", "profiles", "mp"),
        ),
        KindInfo(
            Kind.TOOL, "tool", "tools", "tool_id", "tool_registry.json", "tools", ("tool",)
        ),
        KindInfo(
            Kind.AGENT, "agent", "agents", "agent_id", "agent_registry.json", "agents",
            ("agent", "ag"),
        ),
        KindInfo(
            Kind.WORKFLOW, "workflow", "workflows", "workflow_id", "workflows", None,
            ("workflow", "wf"), Layout.PER_FILE,
        ),
        KindInfo(
            Kind.GOVERNANCE_POLICY,
            "governance policy",
            "policies",
            None,
            "governance_policies.json",
            "policies",
            ("policy", "governance", "governancepolicy", "governancepolicies", "pol"),
            Layout.POLICY_MAP,
        ),
        KindInfo(
            Kind.SYSTEM_CONFIG, "system config", "system-config", None, "system_config.json",
            None, ("systemconfig", "system", "system-settings", "settings"), Layout.SINGLETON,
            opt_in=True,
        ),
        KindInfo(
            Kind.CONTEXT_STRATEGIES, "context strategies", "context-strategies", None,
            "context_strategies.json", None,
            ("contextstrategies", "context-strategy", "strategies"), Layout.SINGLETON,
            opt_in=True,
        ),
        KindInfo(
            Kind.CONTEXT_PROCESSOR, "context processor", "context-processors", "processor_id",
            "context_processor_pipeline.json", "processors",
            ("contextprocessor", "contextprocessors", "context-processor", "processor",
             "processors", "pipeline"), opt_in=True,
        ),
        KindInfo(
            Kind.AUTH_PROFILE, "auth profile", "auth-profiles", "profile_id",
            "integration/auth_profiles.json", "profiles",
            ("authprofile", "authprofiles", "auth-profile", "auth"), opt_in=True,
        ),
        KindInfo(
            Kind.SECURITY_POLICY, "security policy", "security-policies", "policy_id",
            "integration/security_policies.json", "policies",
            ("securitypolicy", "securitypolicies", "security-policy", "secpol"), opt_in=True,
        ),
        KindInfo(
            Kind.INTEGRATION_CONFIG, "integration config", "integration-config", None,
            "integration/system_config.json", None,
            ("integrationconfig", "integration-system-config", "integration"),
            Layout.SINGLETON, opt_in=True,
        ),
        KindInfo(
            Kind.CONNECTOR, "connector", "connectors", "connector_id",
            "integration/connectors.json", "connectors", ("connector", "conn"), opt_in=True,
        ),
        KindInfo(
            Kind.INTEGRATION_WORKFLOW, "integration workflow", "integration-workflows",
            "workflow_id", "integration/workflows", None,
            ("integrationworkflow", "integrationworkflows", "integration-workflow", "iwf"),
            Layout.PER_FILE, opt_in=True,
        ),
    )
}

# Dependency order: what others refer to comes first (profiles and tools before the agents
# that use them, agents before workflows, policies after the kinds they may name; auth
# profiles, security policies and the integration config before the connectors and the
# integration workflows that name them).
KIND_ORDER: tuple[Kind, ...] = tuple(KINDS)


def info(kind: Kind) -> KindInfo:
    return KINDS[kind]


def is_singleton(kind: Kind) -> bool:
    return KINDS[kind].layout is Layout.SINGLETON


def file_of(kind: Kind, name: str) -> str:
    """The registry file (relative to the registries folder) that holds `kind`/`name`."""
    kind_info = KINDS[kind]
    if kind_info.layout is Layout.PER_FILE:
        return f"{kind_info.registry_file}/{name}.json"
    return kind_info.registry_file


def kind_by_name(name: str) -> Kind | None:
    """Resolve a kind from what a user may type: `Agent`, `agents`, `model-profiles`, `mp`."""
    wanted = name.strip().lower()
    for kind, kind_info in KINDS.items():
        if wanted in (kind.value.lower(), kind_info.plural, *kind_info.aliases):
            return kind
    return None


# Fields holding a JSON Schema (Draft 7), per kind. (Here, not beside the pydantic models:
# the plan reads it, and a plan must not pay for importing pydantic.)
SCHEMA_FIELDS: dict[Kind, tuple[str, ...]] = {
    Kind.AGENT: ("input_schema", "output_schema"),
    Kind.TOOL: ("input_schema", "output_schema"),
}
