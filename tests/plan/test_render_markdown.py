"""`plan.render.markdown`: the pull-request comment, kept under the code hosts' size cap."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.plan.model import Action, Change, FieldChange, FieldOp, Location, Plan
from reconciler.plan.render import markdown
from reconciler.plan.render.common import summary_line
from tests.conftest import write
from tests.grants import TOOL_ACCESS, grant_in_manifests
from tests.plan.conftest import MANIFESTS, edit, the_plan, tool


def test_no_changes(ws: Path) -> None:
    out = markdown.render(the_plan())
    assert out.startswith("### meshctl plan\n\n| create | update | delete | refused | impacted |")
    assert "| 0 | 0 | 0 | 0 | 0 |" in out
    assert "No changes: the live registries match the manifests." in out
    # Only the real data's two warnings follow (H003).
    assert "<details>" not in out and out.count("####") == 1 and "#### Warnings (2)" in out


def test_a_summary_table_then_refusals_deletes_and_collapsible_details(ws: Path) -> None:
    write(MANIFESTS / "new.yaml", tool("new_tool"))
    fraud = MANIFESTS / "agents" / "fraud_agent.yaml"
    edit(fraud, "max_iterations: 5", "max_iterations: 7")
    edit(fraud, "  - similarity\n", "  - similarity\n  - new_tool\n")
    edit(fraud, "  - anomaly_detection\n", "")
    grant_in_manifests(MANIFESTS, TOOL_ACCESS, "fraud_agent", "new_tool")  # as the runtime needs
    (MANIFESTS / "model-profiles" / "gpt4.yaml").unlink()
    (MANIFESTS / "tools" / "fraud_rules.yaml").unlink()
    plan = the_plan()
    out = markdown.render(plan)
    s = plan.summary
    assert (s.create, s.update, s.delete, s.refused) == (1, 2, 2, 1)
    assert f"| 1 | 2 | 2 | 1 | {s.impacted} |" in out
    assert summary_line(plan) in out
    assert "#### Refused (1)\n\n- `!` `tool/fraud_rules`: Cannot delete tool 'fraud_rules': " \
           "used by agents fraud_agent (manifests/agents/fraud_agent.yaml:" in out
    assert "#### Deletes (1)\n\n- `-` `model-profile/gpt4` — `registries/model_profiles.json`" \
           in out
    assert "<details><summary>Updates (2)</summary>\n\n" \
           "- `~` `agent/fraud_agent` — `manifests/agents/fraud_agent.yaml:1`\n" \
           "  - `+ allowed_tools[2]`: `\"new_tool\"`\n" \
           "  - `- capabilities[3]`: `\"anomaly_detection\"`\n" \
           "  - `~ max_iterations`: `5` → `7`\n" \
           "  - impact: 8 dependents\n" \
           "- `~` `governance-policy/agent_tool_access` — " \
           "`manifests/policies/agent_tool_access.yaml:1`\n" \
           "  - `+ rules[2].allowed_tools[2]`: `\"new_tool\"`\n\n</details>" in out
    assert "<details><summary>Creates (1)</summary>\n\n" \
           "- `+` `tool/new_tool` — `manifests/new.yaml:1`\n\n</details>" in out
    order = [out.index(h) for h in ("#### Refused", "#### Deletes", "Updates (2)", "Creates (1)")]
    assert order == sorted(order)
    assert "left out" not in out


def test_pipes_and_angle_brackets_cannot_break_the_markup() -> None:
    change = Change(ResourceKey(Kind.AGENT, "a"), Action.UPDATE, {}, {},
                    (FieldChange("description", FieldOp.CHANGE, "a|b", "</details><b>"),),
                    Location("m|x.yaml", 2))
    out = markdown.render(Plan("fp", (change,)))
    assert "`\"a\\|b\"` → `\"&lt;/details>&lt;b>\"`" in out
    assert "`m\\|x.yaml:2`" in out
    assert out.count("</details>") == 1  # only the section's own


def huge_plan(count: int) -> Plan:
    """`count` changes, a third each created, updated and deleted; every 30th delete refused."""
    changes = []
    for n in range(count):
        key = ResourceKey(Kind.AGENT, f"agent_{n:05d}")
        action = (Action.CREATE, Action.UPDATE, Action.DELETE)[n % 3]
        changes.append(Change(
            key, action,
            fields=((FieldChange("max_iterations", FieldOp.CHANGE, 1, 2),)
                    if action is Action.UPDATE else ()),
            source=Location(f"manifests/agents/agent_{n:05d}.yaml", 1),
            impact=((ResourceKey(Kind.WORKFLOW, f"flow_{n % 7}"),)
                    if action is Action.UPDATE else ()),
            refused=(f"Cannot delete agent 'agent_{n:05d}': used by workflows flow"
                     if n % 90 == 2 else None)))
    return Plan("fp", tuple(changes))


def shown(out: str) -> int:
    return len(re.findall(r"^- `[+~!-]` ", out, re.MULTILINE))


def left_out(out: str) -> int:
    found = re.search(r"^> (\d+) (change|changes) left out to stay under 60,000 characters; "
                      r"run `meshctl plan -o json` for the full plan\.$", out, re.MULTILINE)
    assert found, out[-500:]
    assert (found.group(2) == "change") == (found.group(1) == "1")  # "1 change", "2 changes"
    return int(found.group(1))


def test_a_huge_plan_stays_under_the_limit_keeping_the_summary() -> None:
    plan = huge_plan(20_000)
    out = markdown.render(plan)
    assert len(out) < 60_000
    s = plan.summary
    assert f"| {s.create} | {s.update} | {s.delete} | {s.refused} | 7 |" in out
    assert summary_line(plan) in out
    assert "#### Refused (223)" in out  # refusals come first and are kept
    assert shown(out) + left_out(out) == 20_000
    # a cut section says how many of its own are missing
    assert re.search(r"^- … and \d+ more$", out, re.MULTILINE)


@pytest.mark.parametrize("count", [300, 1_000, 3_000, 20_000])
def test_any_size_stays_under_the_limit_and_counts_what_is_left_out(count: int) -> None:
    plan = huge_plan(count)
    out = markdown.render(plan)
    assert len(out) < markdown.LIMIT
    if shown(out) < count:
        assert shown(out) + left_out(out) == count
    else:
        assert "left out" not in out


def test_a_smaller_limit_is_respected() -> None:
    out = markdown.render(huge_plan(2_000), limit=5_000)
    assert len(out) < 5_000
    assert "left out to stay under 5,000 characters" in out


def test_one_enormous_update_is_cut_whole() -> None:
    fields = tuple(FieldChange(f"f{n}", FieldOp.ADD, None, "x" * 50) for n in range(3_000))
    plan = Plan("fp", (Change(ResourceKey(Kind.AGENT, "big"), Action.UPDATE, {}, {}, fields),))
    out = markdown.render(plan)
    assert len(out) < markdown.LIMIT
    assert "- … and 1 more" in out
    assert left_out(out) == 1
    assert "> 1 change left out" in out


def test_warnings_reach_the_comment(ws: Path) -> None:
    edit(MANIFESTS / "agents" / "fraud_agent.yaml", "max_iterations: 5",
         "max_iterations: 5\n  allowed_tool: []")
    plan = the_plan()
    assert [w.code for w in plan.warnings] == ["S006", "H003", "H003"]
    out = markdown.render(plan)
    assert "#### Warnings (3)" in out  # with the real data's two H003
    assert "S006" in out and "allowed_tool" in out


def test_a_long_changed_value_is_a_word_diff_that_shows_the_change_whole() -> None:
    old = "Reads a claim and sets its priority from the policy of the line of business"
    plan = Plan("fp", (Change(ResourceKey(Kind.AGENT, "a"), Action.UPDATE, {}, {}, (
        FieldChange("description", FieldOp.CHANGE, old, old + " (v2)"),
        FieldChange("max_iterations", FieldOp.CHANGE, 5, 6),)),))
    lines = markdown.render(plan).splitlines()
    assert '  - `~ description`: `… line of business{+ (v2)+}"`' in lines
    assert "  - `~ max_iterations`: `5` → `6`" in lines
