"""Where the API serves each kind listed by id: its path under /registries, the key its
list answers under (upstream's names), and the model its bodies are checked against.

One table: `create_app()` makes each kind's five routes from it, and hands it to the panel,
which calls those routes, so the two cannot name a path or a list key differently. (The
id field and the label of each kind are the kinds table's, `model.kinds`.)
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from reconciler.model import specs
from reconciler.model.kinds import Kind


@dataclass(frozen=True, slots=True)
class KindPath:
    kind: Kind
    path: str  # under /registries
    list_key: str  # of a GET of the path: {"agents": [...], "total_count": 7, ...}
    model: type[BaseModel]


LISTED: tuple[KindPath, ...] = (
    KindPath(Kind.AGENT, "agents", "agents", specs.AgentMetadata),
    KindPath(Kind.TOOL, "tools", "tools", specs.ToolMetadata),
    KindPath(Kind.MODEL_PROFILE, "model-profiles", "profiles", specs.ModelProfile),
    KindPath(Kind.WORKFLOW, "workflows", "workflows", specs.WorkflowDefinition),
    KindPath(Kind.CONTEXT_PROCESSOR, "context/processors", "processors",
             specs.ContextProcessor),
    KindPath(Kind.CONNECTOR, "integration/connectors", "connectors", specs.ConnectorMetadata),
    KindPath(Kind.AUTH_PROFILE, "integration/auth-profiles", "profiles", specs.AuthProfile),
    KindPath(Kind.SECURITY_POLICY, "integration/security-policies", "policies",
             specs.SecurityPolicy),
    KindPath(Kind.INTEGRATION_WORKFLOW, "integration/workflows", "workflows",
             specs.IntegrationWorkflow),
)


def routes() -> dict[Kind, tuple[str, str]]:
    """(path, list key) of each listed kind: what the panel is given."""
    return {listed.kind: (listed.path, listed.list_key) for listed in LISTED}
