"""The runtime's defaults for omitted top-level fields, per kind, as plain data.

The plan fills them in before comparing a manifest's entry with the live one, so that an
omitted field and its default are no change. It needs them without importing pydantic
(60 ms, paid by every plan with a real update otherwise). The pydantic models in `specs`
declare the same defaults, as the validators see them; a test checks that both agree.
"""

from __future__ import annotations

from typing import Any

from reconciler.model.kinds import Kind

DEFAULTS: dict[Kind, dict[str, Any]] = {
    Kind.MODEL_PROFILE: {"description": "", "intended_usage": "", "parameters": {},
                         "json_mode": False, "constraints": {}, "retry_policy": {},
                         "timeout_seconds": 30},
    Kind.TOOL: {"output_schema": None, "lineage_tags": []},
    Kind.AGENT: {"capabilities": [], "allowed_tools": [], "allowed_agents": [],
                 "max_iterations": 5, "iteration_timeout_seconds": 30, "input_schema": None,
                 "output_schema": None, "context_requirements": None},
    Kind.WORKFLOW: {"description": "", "version": "1.0.0", "mode": "advisory", "goal": "",
                    "steps": [], "suggested_sequence": [], "required_agents": [],
                    "optional_agents": [], "completion_criteria": {}, "constraints": {},
                    "metadata": {}, "hitl_checkpoints": []},
    Kind.GOVERNANCE_POLICY: {"description": "", "enforcement_level": "strict"},
}
