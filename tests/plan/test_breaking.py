"""Breaking changes: each rule of `validate.compat` in both directions, and the plan's
warnings (B001, B002) that name the users, refused with --deny-breaking."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler import engine
from reconciler.validate.compat import schema_breaks
from tests.servers import SCRIPT

BASE: dict[str, Any] = {
    "type": "object",
    "required": ["claim_id"],
    "additionalProperties": True,
    "properties": {
        "claim_id": {"type": "string", "minLength": 3, "maxLength": 40},
        "amount": {"type": "number", "minimum": 0, "maximum": 100000},
        "channel": {"type": "string", "enum": ["web", "phone"]},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
    },
}


def changed(edit: Any) -> dict[str, Any]:
    schema = copy.deepcopy(BASE)
    edit(schema)
    return schema


INPUT_BREAKS = [
    (lambda s: s["required"].append("amount"), "property 'amount' made required"),
    (lambda s: s["properties"].pop("channel"), "property 'channel' removed"),
    (lambda s: s["properties"]["amount"].update(type="integer"),
     "type narrowed at amount: number -> integer"),
    (lambda s: s["properties"]["channel"]["enum"].remove("phone"),
     "enum value removed at channel: 'phone'"),
    (lambda s: s.update(additionalProperties=False), "additionalProperties closed"),
    (lambda s: s["properties"]["claim_id"].update(minLength=5),
     "minLength tightened at claim_id: 3 -> 5"),
    (lambda s: s["properties"]["amount"].update(maximum=500),
     "maximum tightened at amount: 100000 -> 500"),
    (lambda s: s["properties"]["tags"]["items"].update(type="integer"),
     "type narrowed at tags[]: string -> integer"),
    (lambda s: s["properties"]["claim_id"].update(pattern="^C"),
     "pattern added at claim_id"),
]
INPUT_COMPATIBLE = [
    lambda s: s["properties"].update(note={"type": "string"}),
    lambda s: s["required"].clear(),
    lambda s: s["properties"]["amount"].update(type=["number", "string"]),
    lambda s: s["properties"]["channel"]["enum"].append("email"),
    lambda s: s["properties"]["claim_id"].update(maxLength=80, description="the id"),
    lambda s: s["properties"]["tags"].pop("maxItems"),
]
OUTPUT_BREAKS = [
    (lambda s: s["properties"].pop("amount"), "property 'amount' removed"),
    (lambda s: s["required"].clear(), "property 'claim_id' no longer required"),
    (lambda s: s["properties"]["amount"].update(type=["number", "null"]),
     "type widened at amount: number -> null|number"),
    (lambda s: s["properties"]["channel"]["enum"].append("email"),
     "enum value added at channel: 'email'"),
    (lambda s: s["properties"]["amount"].pop("maximum"),
     "maximum loosened at amount: 100000 -> None"),
]
OUTPUT_COMPATIBLE = [
    lambda s: s["properties"].update(note={"type": "string"}),
    lambda s: s["required"].append("amount"),
    lambda s: s["properties"]["channel"]["enum"].remove("phone"),
    lambda s: s["properties"]["amount"].update(type="integer"),
]


CASES = ([("input", edit, [reason]) for edit, reason in INPUT_BREAKS]
         + [("input", edit, []) for edit in INPUT_COMPATIBLE]
         + [("output", edit, [reason]) for edit, reason in OUTPUT_BREAKS]
         + [("output", edit, []) for edit in OUTPUT_COMPATIBLE])


@pytest.mark.parametrize(("direction", "edit", "reasons"), CASES)
def test_each_change_is_judged_for_its_direction(direction: str, edit: Any,
                                                 reasons: list[str]) -> None:
    assert schema_breaks(BASE, changed(edit), direction) == reasons  # type: ignore[arg-type]


SCHEMAS = st.recursive(
    st.fixed_dictionaries({}, optional={
        "type": st.sampled_from(["string", "number", "integer", "object", "array"]),
        "minimum": st.integers(-5, 5), "maxLength": st.integers(0, 9),
        "enum": st.lists(st.integers(0, 4), max_size=3)}),
    lambda inner: st.fixed_dictionaries({"type": st.just("object")}, optional={
        "properties": st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
        "required": st.lists(st.sampled_from("abc"), max_size=3, unique=True),
        "additionalProperties": st.booleans(), "items": inner}),
    max_leaves=6)


@given(SCHEMAS, st.sampled_from(["input", "output"]))
def test_a_schema_never_breaks_itself(schema: dict[str, Any], direction: str) -> None:
    assert schema_breaks(schema, copy.deepcopy(schema), direction) == []  # type: ignore[arg-type]


def _set_input_required(path: Path, field: str) -> None:
    text = path.read_text()
    assert "    required:\n    - claim_data\n" in text
    path.write_text(text.replace("    required:\n    - claim_data\n",
                                 f"    required:\n    - claim_data\n    - {field}\n"))


def test_the_plan_warns_naming_the_users_and_deny_refuses(manifests: Path,
                                                          registries: Path) -> None:
    tool = manifests / "tools" / "fraud_rules.yaml"
    _set_input_required(tool, "rule_version")
    result = engine.make_plan([str(manifests)], registries, use_cache=False)
    assert result.plan is not None
    [warning] = [d for d in result.plan.warnings if d.code == "B001"]
    assert warning.message.startswith("tool 'fraud_rules' input_schema: property "
                                      "'rule_version' made required (breaking for its "
                                      "callers: agents fraud_agent")
    assert "workflows claims_triage" in warning.message
    assert warning.file == str(tool) and warning.line is not None
    [change] = result.plan.actionable
    assert change.breaking == ("input_schema: property 'rule_version' made required",)
    assert change.refused is None  # a warning by default
    denied = engine.make_plan([str(manifests)], registries, use_cache=False,
                              deny_breaking=True)
    assert denied.plan is not None
    [refused] = denied.plan.refusals
    assert refused.refused is not None and "--deny-breaking" in refused.refused
    done = subprocess.run([str(SCRIPT), "apply", "--auto-approve", "--deny-breaking",
                           "--registries", str(registries), str(manifests)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "breaking: input_schema" in done.stdout + done.stderr
    shown = subprocess.run([str(SCRIPT), "plan", "--registries", str(registries),
                            str(manifests)], capture_output=True, text=True, timeout=120)
    assert "breaking: input_schema: property 'rule_version' made required" in shown.stdout


def test_a_workflow_step_left_without_its_input_is_reported(manifests: Path,
                                                            registries: Path) -> None:
    coverage = manifests / "agents" / "coverage_agent.yaml"
    coverage.write_text(coverage.read_text() + "  input_schema:\n    type: object\n"
                        "    required:\n    - normalized_claim\n")
    first = engine.make_plan([str(manifests)], registries, use_cache=False)
    assert first.plan is not None and not [d for d in first.plan.warnings if d.code == "B002"]
    engine.apply_plan(first.plan, registries)
    intake = manifests / "agents" / "intake_agent.yaml"
    text = intake.read_text()
    assert "    - normalized_claim\n" in text and "      normalized_claim:\n" in text
    start = text.index("      normalized_claim:\n")
    end = start + len("      normalized_claim:\n")
    while text[end:].startswith("        "):
        end = text.index("\n", end) + 1
    intake.write_text(text[:start].replace("    - normalized_claim\n", "") + text[end:])
    result = engine.make_plan([str(manifests)], registries, use_cache=False)
    assert result.plan is not None, result.errors
    codes = sorted(d.code for d in result.plan.warnings if d.code.startswith("B"))
    assert codes == ["B001", "B002"]  # the output property removed; the step left without it
    [gap] = [d for d in result.plan.warnings if d.code == "B002"]
    assert gap.message == ("step 'coverage' of workflow 'claims_triage' needs "
                           "'normalized_claim', which no earlier step's agent outputs any more")
