"""The panel's forms, derived from the registry models: one field per model field, with
its control (text, number, checkbox, list, picker of existing ids, JSON editor), whether it
is required, and its bounds. Which fields name other resources is the graph module's table
(`graph.FIELD_REFERENCES`), so a form's pickers are the references validation checks.

Each field also gets the hint shown beside it before anything is saved: its bounds and
the default written when it is left out (the field table, `model.fields`, the one the
API's validation uses), an example, and the values the runtime knows where it has a set."""

from __future__ import annotations

import json
from typing import Any

from reconciler import graph
from reconciler.model import fields as field_table
from reconciler.model import specs
from reconciler.model.kinds import Kind
from reconciler.validate import settings as settings_rules
from reconciler.validate import workflows as workflow_rules

# Fields holding ids of other resources: (kind of the target, many?)
PICKERS: dict[Kind, dict[str, tuple[Kind, bool]]] = {
    kind: {ref.field: (ref.target, ref.many) for ref in refs}
    for kind, refs in graph.FIELD_REFERENCES.items()
}
LONG_TEXT = ("description", "intended_usage", "goal")
# Fields only the orchestrator's entry uses (the runtime reads a worker's allowed_agents
# nowhere): the panel edits them on the orchestrator's tab, never in a worker's form.
ORCHESTRATOR_ONLY = {(Kind.AGENT, "allowed_agents")}
# Text fields whose values the runtime knows as a fixed set: a select (the model takes any
# string, but the runtime's LLM client factory only these; validation rule S007).
CHOICES: dict[tuple[Kind, str], tuple[str, ...]] = {
    (Kind.MODEL_PROFILE, "provider"): specs.LLM_PROVIDERS}
# An example of what a field holds, shown as its placeholder and in its hint.
EXAMPLES: dict[tuple[Kind, str], str] = {
    (Kind.MODEL_PROFILE, "model_name"): "gpt-4o-mini",
    (Kind.MODEL_PROFILE, "intended_usage"): "general_reasoning",
    (Kind.TOOL, "endpoint"): "/invoke/fraud_rules",
    (Kind.AGENT, "capabilities"): "fraud_detection",
    (Kind.TOOL, "lineage_tags"): "pii",
}

# What a step of an integration workflow names, by the key the runner reads for its type
# (`validate.settings.STEP_NEEDS`): the kind the step's form picks it from.
STEP_REFERENCES = {"connector": Kind.CONNECTOR, "policy": Kind.SECURITY_POLICY}


def _steps_control() -> dict[str, Any]:
    """The integration workflow's steps as a table: each step's type and failure policy a
    select of the values the runner knows, what the type needs a picker."""
    return {"control": "steps", "step_types": list(settings_rules.STEP_TYPES),
            "failure_policies": list(settings_rules.FAILURE_POLICIES),
            "step_needs": {step: {"key": key, "of": STEP_REFERENCES[key].value}
                           for step, key in settings_rules.STEP_NEEDS.items()}}


# The kind an agent workflow's step names in `agent_id` (the graph follows
# `steps[i].agent_id` to an agent: tests/api/test_panel_tables.py checks it is this one).
STEP_AGENT = Kind.AGENT


def _agent_steps_control() -> dict[str, Any]:
    """An agent workflow's steps as a table (static/steps.js): each step's agent a picker,
    its `on_success` / `on_failure` a select of the other steps and the terminal outcomes
    validation knows (`validate.workflows`)."""
    return {"control": "agent_steps", "agent_of": STEP_AGENT.value,
            "outcomes": list(workflow_rules.TERMINAL_OUTCOMES)}


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def hint(kind: Kind, name: str) -> str | None:
    """What the form says beside a field before saving: its bounds, the default written
    when it is left out (or that it may be left out), an example, the runtime's values."""
    parts: list[str] = []
    rule = field_table.rule(kind, name)
    if rule is not None:
        if rule.minimum is not None and rule.maximum is not None:
            parts.append(f"{rule.minimum} to {rule.maximum}")
        elif rule.minimum is not None:
            parts.append(f"at least {rule.minimum}")
        elif rule.maximum is not None:
            parts.append(f"at most {rule.maximum}")
        if rule.need is field_table.Need.DEFAULTED and rule.has_default:
            parts.append(f"default {_shown(rule.default)}")
        elif rule.need is field_table.Need.OPTIONAL:
            parts.append("optional")
    example = EXAMPLES.get((kind, name))
    if example is not None:
        parts.append(f"e.g. {example}")
    if (kind, name) == (Kind.INTEGRATION_WORKFLOW, "steps"):
        parts.append("a step's type is one the runner knows; " + ", ".join(
            f"{step} needs a {settings_rules.STEP_NEEDS[step]}"
            for step in settings_rules.STEP_TYPES if step in settings_rules.STEP_NEEDS))
    if (kind, name) == (Kind.WORKFLOW, "steps"):
        parts.append("steps run in sequence order (moving a row swaps its sequence with its "
                     "neighbour's); without on success a step goes on to the next, without "
                     "on failure it ends with terminate_with_error")
    if not parts:
        return None
    text = "; ".join(parts)
    return text[0].upper() + text[1:]


def form_fields(kind: Kind) -> list[dict[str, Any]]:
    schema = specs.SPEC_MODELS[kind].model_json_schema()
    required = set(schema.get("required", []))
    fields = []
    for name, prop in schema["properties"].items():
        picker = PICKERS.get(kind, {}).get(name)
        types = {option.get("type") for option in prop.get("anyOf", [prop])}
        field: dict[str, Any] = {"name": name, "label": prop.get("title", name),
                                 "required": name in required}
        if (kind, name) in ORCHESTRATOR_ONLY:
            field["orchestrator_only"] = True
        said = hint(kind, name)
        if said is not None:
            field["hint"] = said
        if (kind, name) in EXAMPLES:
            field["example"] = EXAMPLES[(kind, name)]
        if picker is not None:
            field.update(control="multi" if picker[1] else "picker", of=picker[0].value)
        elif (kind, name) == (Kind.INTEGRATION_WORKFLOW, "steps"):
            field.update(_steps_control())
        elif (kind, name) == (Kind.WORKFLOW, "steps"):
            field.update(_agent_steps_control())
        elif "object" in types or (prop.get("type") == "array" and
                                   prop.get("items", {}).get("type") != "string"):
            field.update(control="json", nullable="null" in types,
                         empty=[] if prop.get("type") == "array" else {})
        elif prop.get("type") == "array":
            field.update(control="list")
        elif "integer" in types:
            field.update(control="number", minimum=prop.get("minimum"),
                         maximum=prop.get("maximum"), default=prop.get("default"))
        elif "boolean" in types:
            field.update(control="bool", default=prop.get("default", False))
        elif "enum" in prop or (kind, name) in CHOICES:
            field.update(control="choice", default=prop.get("default"),
                         choices=list(CHOICES.get((kind, name), prop.get("enum", []))))
        else:
            field.update(control="textarea" if name in LONG_TEXT else "text")
        fields.append(field)
    return fields
