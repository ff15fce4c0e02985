"""The five resource kinds and everything that differs between them, in one table.

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


@dataclass(frozen=True, slots=True)
class KindInfo:
    kind: Kind
    label: str  # how messages name one resource of the kind: "model profile"
    plural: str  # CLI name and export folder: "model-profiles"
    id_field: str | None  # field of the registry entry holding the id; None for policies
    registry_file: str  # file (or folder, for workflows) under the registries directory
    collection_key: str | None  # key of the entry list (or policy map) inside that file
    aliases: tuple[str, ...]


API_VERSION = "agentmesh.io/v1"
ORCHESTRATOR_ID = "orchestrator_agent"

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
            ("workflow", "wf"),
        ),
        KindInfo(
            Kind.GOVERNANCE_POLICY,
            "governance policy",
            "policies",
            None,
            "governance_policies.json",
            "policies",
            ("policy", "governance", "governancepolicy", "governancepolicies", "pol"),
        ),
    )
}

# Dependency order: what others refer to comes first (profiles and tools before the agents
# that use them, agents before workflows, policies last since they may name anything).
KIND_ORDER: tuple[Kind, ...] = tuple(KINDS)


def info(kind: Kind) -> KindInfo:
    return KINDS[kind]


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
