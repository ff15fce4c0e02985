"""Grants for tests that add to a governed mesh.

AgentMesh's governance denies by default: once a governance document exists, an agent's
`allowed_tools` need a rule of `agent_tool_access` for that agent (A003), and the
orchestrator's `allowed_agents` a rule of `agent_invocation_access` for it (A001, and A002
for the agents a workflow runs). A test that adds an agent, a tool it uses or a workflow step
to the example mesh grants that access in the same change, with these helpers, on a policy's
body, on a manifest file or on a live registries folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

TOOL_ACCESS = "agent_tool_access"
INVOCATION_ACCESS = "agent_invocation_access"
ORCHESTRATOR = "orchestrator_agent"
_LISTS = {TOOL_ACCESS: ("allowed_tools", "denied_tools"),
          INVOCATION_ACCESS: ("allowed_agents", "denied_agents")}


def grant(body: dict[str, Any], policy: str, subject: str, *names: str) -> dict[str, Any]:
    """Let `subject` have `names` in the policy `body` (its `rules`): added to the allowed
    list of `subject`'s first rule (a rule is appended when it has none) and taken out of
    that rule's denied list. Returns `body`, changed in place."""
    allowed_list, denied_list = _LISTS[policy]
    rules: list[dict[str, Any]] = body.setdefault("rules", [])
    rule = next((r for r in rules if r.get("agent_id") == subject), None)
    if rule is None:
        rule = {"agent_id": subject, allowed_list: []}
        rules.append(rule)
    allowed: list[str] = rule.setdefault(allowed_list, [])
    allowed += [name for name in names if name not in allowed]
    if isinstance(rule.get(denied_list), list):
        rule[denied_list] = [name for name in rule[denied_list] if name not in names]
    return body


def grant_in_manifest(path: Path, policy: str, subject: str, *names: str) -> None:
    """`grant` in a file holding the GovernancePolicy manifest `policy` (among others)."""
    documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    found = [d for d in documents if isinstance(d, dict) and d.get("kind") ==
             "GovernancePolicy" and d.get("metadata", {}).get("name") == policy]
    assert len(found) == 1, f"no GovernancePolicy {policy} in {path}"
    grant(found[0]["spec"], policy, subject, *names)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True),
                    encoding="utf-8")


def grant_in_manifests(manifests: Path, policy: str, subject: str, *names: str) -> None:
    """`grant` in the example mesh's manifests (manifests/policies/<policy>.yaml)."""
    grant_in_manifest(manifests / "policies" / f"{policy}.yaml", policy, subject, *names)


def grant_live(registries: Path, policy: str, subject: str, *names: str) -> None:
    """`grant` in a registries folder's governance_policies.json."""
    path = registries / "governance_policies.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    grant(document["policies"][policy], policy, subject, *names)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


# What the small mesh of tests.conftest.BASE_MESH asks for, granted: its orchestrator invokes
# fraud_agent and intake_agent, fraud_agent uses fraud_rules and similarity. BASE_MESH has no
# policy; a test that adds one makes the mesh governed, and writes these beside it.
BASE_MESH_ACCESS = f"""\
apiVersion: agentmesh.io/v1
kind: GovernancePolicy
metadata:
  name: {TOOL_ACCESS}
spec:
  description: Which tools each agent may use
  rules:
  - agent_id: fraud_agent
    allowed_tools: [fraud_rules, similarity]
---
apiVersion: agentmesh.io/v1
kind: GovernancePolicy
metadata:
  name: {INVOCATION_ACCESS}
spec:
  description: Which agents the orchestrator may invoke
  rules:
  - agent_id: {ORCHESTRATOR}
    allowed_agents: [fraud_agent, intake_agent]
"""


def grant_base_mesh(mesh: Path) -> Path:
    """Write BASE_MESH_ACCESS as `access.yaml` in the folder of the base mesh."""
    path = mesh / "access.yaml"
    path.write_text(BASE_MESH_ACCESS, encoding="utf-8")
    return path
