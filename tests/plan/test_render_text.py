"""`plan.render.text`: the Terraform-like plan a terminal shows."""

from __future__ import annotations

from pathlib import Path

from rich.style import Style
from rich.text import Text

from reconciler.errors import Diagnostic, Severity
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.plan.model import Action, Change, FieldChange, FieldOp, Location, Plan
from reconciler.plan.render import text
from tests.conftest import write
from tests.grants import TOOL_ACCESS, grant_in_manifests
from tests.plan.conftest import MANIFESTS, edit, the_plan, tool


def plain(plan: Plan) -> str:
    """The rendered plan as the terminal shows it, without colour."""
    return Text.from_markup(text.render(plan)).plain


def agent_key(name: str) -> ResourceKey:
    return ResourceKey(Kind.AGENT, name)


def test_no_changes(ws: Path) -> None:
    lines = plain(the_plan()).splitlines()
    assert lines[0] == "No changes. The live registries match the manifests."
    assert [line.split()[2] for line in lines[1:-1]] == ["H003:", "H003:"]  # the real data's
    assert lines[-1] == "Plan: 0 to create, 0 to update, 0 to delete, 0 refused."


def test_every_action_with_its_symbol_fields_and_summary(ws: Path) -> None:
    write(MANIFESTS / "new.yaml", tool("new_tool"))
    fraud = MANIFESTS / "agents" / "fraud_agent.yaml"
    edit(fraud, "max_iterations: 5", "max_iterations: 7")
    edit(fraud, "  - similarity\n", "  - similarity\n  - new_tool\n")
    edit(fraud, "  - anomaly_detection\n", "")
    grant_in_manifests(MANIFESTS, TOOL_ACCESS, "fraud_agent", "new_tool")  # as the runtime needs
    (MANIFESTS / "model-profiles" / "gpt4.yaml").unlink()
    (MANIFESTS / "tools" / "decision_rules.yaml").unlink()
    out = plain(the_plan())
    lines = out.splitlines()
    assert lines[0] == "meshctl will perform the following actions:"
    assert "  + tool/new_tool  manifests/new.yaml:1" in lines
    assert "  ~ agent/fraud_agent  manifests/agents/fraud_agent.yaml:1" in lines
    assert '      + allowed_tools[2]: "new_tool"' in lines
    assert '      - capabilities[3]: "anomaly_detection"' in lines
    assert "      ~ max_iterations: 5 -> 7" in lines
    impact = next(line for line in lines if "impact:" in line)
    assert impact.startswith("      impact: 8 dependents: agent/orchestrator_agent, "
                             "workflow/claims_triage, governance-policy/agent_invocation_access")
    assert "  ~ governance-policy/agent_tool_access  manifests/policies/agent_tool_access.yaml:1" \
        in lines
    assert "  - model-profile/gpt4  registries/model_profiles.json" in lines
    refusal = next(line for line in lines if line.startswith("  ! "))
    assert refusal.startswith("  ! tool/decision_rules Cannot delete tool 'decision_rules': "
                              "used by agents recommendation_agent (manifests/agents/"
                              "recommendation_agent.yaml:")
    assert lines[-1].startswith(
        "Plan: 1 to create, 2 to update, 2 to delete, 1 refused. Impact: ")
    # the order on screen is the plan's order: creates and updates, then deletes
    assert lines.index("  + tool/new_tool  manifests/new.yaml:1") < lines.index(
        "  - model-profile/gpt4  registries/model_profiles.json")
    assert "\x1b[" not in out


def test_the_markup_carries_colour_per_action() -> None:
    plan = Plan("fp", (
        Change(agent_key("a"), Action.CREATE, after={}),
        Change(agent_key("b"), Action.UPDATE, {}, {}, (FieldChange("x", FieldOp.CHANGE, 1, 2),)),
        Change(agent_key("c"), Action.DELETE, before={}),
        Change(agent_key("d"), Action.DELETE, before={}, refused="no"),
    ))
    markup = text.render(plan)
    assert "[green]+[/]" in markup and "[yellow]~[/]" in markup and "[red]-[/]" in markup
    assert "[bold red]![/]" in markup


def test_values_are_compact_json_and_long_added_or_removed_ones_are_cut() -> None:
    long = "x" * 200
    plan = Plan("fp", (Change(agent_key("a"), Action.UPDATE, {}, {}, (
        FieldChange("description", FieldOp.CHANGE, "a" * 38, "short"),
        FieldChange("output_schema", FieldOp.ADD, None, {"type": "object", "items": [1, 2]}),
        FieldChange("notes", FieldOp.REMOVE, long, None),
    )),))
    lines = plain(plan).splitlines()
    assert f'      ~ description: "{"a" * 38}" -> "short"' in lines  # 40 a side: whole
    assert '      + output_schema: {"type":"object","items":[1,2]}' in lines
    assert f'      - notes: "{"x" * 76}...' in lines


def test_a_long_changed_value_is_a_word_diff_that_shows_the_change_whole() -> None:
    old = "Reads a claim and sets its priority from the policy of the line of business"
    plan = Plan("fp", (Change(agent_key("a"), Action.UPDATE, {}, {}, (
        FieldChange("description", FieldOp.CHANGE, old, old + " (v2)"),
        FieldChange("notes", FieldOp.CHANGE, "x" * 200, "short"),
    )),))
    lines = plain(plan).splitlines()
    assert '      ~ description: … line of business{+ (v2)+}"' in lines
    assert f'      ~ notes: "[-{"x" * 200}-]{{+short+}}"' in lines


def test_in_colour_a_word_diff_is_red_and_green_without_markers() -> None:
    old = "Reads a claim and sets its priority from the policy of the line of business."
    plan = Plan("fp", (Change(agent_key("a"), Action.UPDATE, {}, {}, (
        FieldChange("description", FieldOp.CHANGE, old, old[:-1] + " (v2)"),)),))
    shown = Text.from_markup(text.render(plan, colour=True))
    line = next(line for line in shown.split("\n") if "description" in line.plain)
    assert line.plain == '      ~ description: … line of business. (v2)"'
    styled = {line.plain[span.start:span.end]: Style.parse(str(span.style))
              for span in line.spans if str(span.style) not in ("none", "yellow")}
    assert styled == {"…": Style.parse("dim"), ".": Style.parse("red strike"),
                      " (v2)": Style.parse("green underline")}


def test_markup_in_names_and_values_is_printed_literally() -> None:
    plan = Plan("fp", (Change(agent_key("a"), Action.UPDATE, {}, {}, (
        FieldChange("description", FieldOp.CHANGE, "[bold]old[/]", "[red]new"),),
        Location("[dim]odd.yaml", 3)),))
    out = plain(plan)
    assert '      ~ description: "[bold]old[/]" -> "[red]new"' in out.splitlines()
    assert "  ~ agent/a  [dim]odd.yaml:3" in out.splitlines()


def test_a_long_impact_names_eight_then_counts() -> None:
    impact = tuple(agent_key(f"user_{n:02d}") for n in range(11))
    plan = Plan("fp", (Change(ResourceKey(Kind.TOOL, "t"), Action.UPDATE, {}, {},
                              (FieldChange("x", FieldOp.CHANGE, 1, 2),), impact=impact),))
    impact_line = next(line for line in plain(plan).splitlines() if "impact" in line)
    named = ", ".join(f"agent/user_{n:02d}" for n in range(8))
    assert impact_line == f"      impact: 11 dependents: {named} and 3 more"
    assert plain(plan).splitlines()[-1] == (
        "Plan: 0 to create, 1 to update, 0 to delete, 0 refused. "
        "Impact: 11 dependents (11 agents).")


def test_noops_are_not_shown_and_warnings_are() -> None:
    warning = Diagnostic("S006", Severity.WARNING, "unknown field 'x'", "m.yaml", 4, "agent/a")
    plan = Plan("fp", (Change(agent_key("a"), Action.NOOP, source=Location("m.yaml", 1)),),
                warnings=(warning,))
    assert plain(plan).splitlines() == [
        "No changes. The live registries match the manifests.",
        "warning m.yaml:4 S006: unknown field 'x'",
        "Plan: 0 to create, 0 to update, 0 to delete, 0 refused.",
    ]
