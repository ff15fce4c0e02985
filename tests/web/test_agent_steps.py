"""An agent workflow's steps as typed rows (issue 27, "choices as selects where the runtime
has a fixed set"): each step's agent a picker of the existing agents, its transitions a
select of the other steps and the terminal outcomes, rows added, removed and moved, and
nothing lost (keys of a step the form does not show are written back as they were). Debian's
Chromium against a real `meshctl serve` on a copy of the example registries; every write
checked on disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.servers import Server
from tests.web.conftest import SHOTS, commit_plan, open_tab, panel_page, serving, writes

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# Keys of a step no form shows: notes, and fields of a newer runtime.
UNKNOWN = {0: {"_comment": "checked by claims ops"}, 3: {"x_escalation": {"team": "siu"}}}


def workflow_path(registries: Path) -> Path:
    return registries / "workflows" / "claims_triage.json"


def on_disk(registries: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(workflow_path(registries).read_text(encoding="utf-8"))
    return found


@pytest.fixture
def steps_server(registries: Path) -> Iterator[Server]:
    """The example registries with keys the form does not know in two of claims_triage's
    steps, and an agent no resource uses (`spare_agent`, deleted by a test)."""
    document = on_disk(registries)
    for index, extra in UNKNOWN.items():
        document["steps"][index].update(extra)
    workflow_path(registries).write_text(json.dumps(document, indent=2) + "\n",
                                         encoding="utf-8")
    agents_path = registries / "agent_registry.json"
    agents = json.loads(agents_path.read_text(encoding="utf-8"))
    spare = next(a for a in agents["agents"] if a["agent_id"] == "intake_agent")
    agents["agents"].append({**spare, "agent_id": "spare_agent", "name": "Spare Agent"})
    agents_path.write_text(json.dumps(agents, indent=2) + "\n", encoding="utf-8")
    with serving(registries) as running:
        yield running


@pytest.fixture
def page(browser: Browser, steps_server: Server) -> Iterator[Page]:
    with panel_page(browser, f"{steps_server.url}/") as opened:
        yield opened


def open_steps(page: Page) -> Locator:
    open_tab(page, "workflows")
    page.click("#panel-workflows tr[data-id=claims_triage] button:has-text('Edit')")
    steps = page.locator("#field-steps")
    expect(steps.locator("tbody tr")).to_have_count(6)
    return steps


def test_the_steps_are_typed_rows(page: Page) -> None:
    steps = open_steps(page)
    expect(steps.get_by_label("Step 1 step_id")).to_have_value("intake")
    expect(steps.get_by_label("Step 2 step_name")).to_have_value("Coverage Determination")
    agent = steps.get_by_label("Step 3 agent_id")
    expect(agent).to_have_value("fraud_agent")
    assert "coverage_agent" in agent.locator("option").all_inner_texts()
    expect(steps.get_by_label("Step 3 sequence")).to_have_value("3")
    expect(steps.get_by_label("Step 3 timeout_seconds")).to_have_value("120")
    expect(steps.get_by_label("Step 3 allow_partial_failure")).to_be_checked()
    expect(steps.get_by_label("Step 1 allow_partial_failure")).not_to_be_checked()
    success = steps.get_by_label("Step 1 on_success")
    expect(success).to_have_value("coverage")
    # the other steps, never the step itself, then the terminal outcomes
    assert success.locator("option").all_inner_texts() == [
        "— next step", "coverage", "fraud", "severity", "recommendation", "explainability",
        "complete", "complete_with_warning", "terminate_with_error"]
    expect(steps.get_by_label("Step 1 on_failure")).to_have_value("terminate_with_error")
    retry = json.loads(steps.get_by_label("Step 1 retry_policy").input_value())
    assert retry == {"max_retries": 2, "retry_on_errors": ["timeout", "tool_failure"]}
    expect(steps.locator("tbody tr").nth(0)).to_contain_text("Also kept: _comment")
    expect(steps.locator("small.hint")).to_contain_text("steps run in sequence order")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        steps.scroll_into_view_if_needed()
        steps.locator(".scroll").evaluate("box => { box.scrollLeft = 0; }")
        page.screenshot(path=str(SHOTS / f"agent-steps-{width}.png"))
        # the table scrolls in its own box: the page is never wider than the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.add_script_tag(path=str(AXE))  # every control labelled, nothing serious
    found = page.evaluate("""() => axe.run("#editor", {resultTypes: ["violations"]})""")
    serious = [(violation["id"], [node["target"] for node in violation["nodes"]][:3])
               for violation in found["violations"]
               if violation["impact"] in ("serious", "critical")]
    assert serious == []


def test_an_untouched_save_writes_nothing(page: Page, registries: Path,
                                          steps_server: Server) -> None:
    before = workflow_path(registries).read_bytes()
    sent = writes(page)
    open_steps(page)
    page.click("#editor .save")
    expect(page.locator("#editor")).to_be_hidden()
    expect(page.locator("#status")).to_contain_text("No changes")
    assert sent == []
    assert workflow_path(registries).read_bytes() == before
    with steps_server.client() as api:
        assert api.get("/registries/history").json()["total_count"] == 0


def test_an_agent_changed_a_step_added_and_moved_are_written_alone(
        page: Page, registries: Path) -> None:
    before = on_disk(registries)
    steps = open_steps(page)
    steps.get_by_label("Step 2 agent_id").select_option("severity_agent")  # the picker
    steps.locator("button.add-step").click()
    new_id = steps.get_by_label("Step 7 step_id")
    expect(new_id).to_be_focused()
    expect(page.locator("#editor .save")).to_be_disabled()  # no id, no agent yet
    expect(steps.locator("p.problem")).to_contain_text("Step 7: an id is required")
    page.keyboard.type("notify")
    steps.get_by_label("Step 7 step_name").fill("Notify the adjuster")
    steps.get_by_label("Step 7 agent_id").select_option("explainability_agent")
    expect(steps.get_by_label("Step 7 sequence")).to_have_value("7")  # runs last
    expect(page.locator("#editor .save")).to_be_enabled()
    steps.get_by_label("Step 7 on_success").select_option("explainability")
    steps.get_by_label("Step 5 on_success").select_option("notify")  # offered once named
    steps.get_by_label("Move up step 7").click()  # before explainability: sequences swap
    expect(steps.get_by_label("Step 6 step_id")).to_have_value("notify")
    expect(steps.get_by_label("Step 6 sequence")).to_have_value("6")
    expect(steps.get_by_label("Step 7 step_id")).to_have_value("explainability")
    expect(steps.get_by_label("Step 7 sequence")).to_have_value("7")
    with page.expect_request(lambda request: request.method == "POST") as planned:
        page.click("#editor .save")
    [item] = json.loads(planned.value.post_data or "{}")["changes"]
    commit_plan(page)
    expect(page.locator("#editor")).to_be_hidden()
    expected = [dict(step) for step in before["steps"]]
    expected[1]["agent_id"] = "severity_agent"
    expected[4]["on_success"] = "notify"
    explainability = {**expected[5], "sequence": 7}
    notify = {"step_id": "notify", "step_name": "Notify the adjuster",
              "agent_id": "explainability_agent", "sequence": 6, "on_success": "explainability"}
    assert item["entry"]["steps"] == [*expected[:5], notify, explainability]
    after = on_disk(registries)
    assert after["steps"] == [*expected[:5], notify, explainability]
    assert after["steps"][0]["_comment"] == "checked by claims ops"  # unknown keys kept
    assert after["steps"][3]["x_escalation"] == {"team": "siu"}
    assert {key: value for key, value in after.items() if key != "steps"} == \
        {key: value for key, value in before.items() if key != "steps"}


def test_a_removed_step_is_gone_and_a_cleared_key_left_out(page: Page,
                                                           registries: Path) -> None:
    before = on_disk(registries)
    steps = open_steps(page)
    steps.get_by_label("Step 1 retry_policy").fill("")  # emptied: the key is left out
    steps.get_by_label("Remove step 6").click()
    steps.get_by_label("Step 5 on_success").select_option("complete")
    page.click("#editor .save")
    commit_plan(page)
    expect(page.locator("#editor")).to_be_hidden()
    expected = [dict(step) for step in before["steps"][:5]]
    del expected[0]["retry_policy"]
    expected[4]["on_success"] = "complete"
    assert on_disk(registries)["steps"] == expected


def test_a_server_error_on_a_steps_agent_marks_its_cell(page: Page, registries: Path,
                                                        steps_server: Server) -> None:
    before = workflow_path(registries).read_bytes()
    steps = open_steps(page)
    agent = steps.get_by_label("Step 3 agent_id")
    agent.select_option("spare_agent")
    with steps_server.client() as api:  # deleted by someone else while the form is open
        assert api.delete("/registries/agents/spare_agent").status_code in (200, 204)
    page.click("#editor .save")
    expect(agent).to_have_attribute("aria-invalid", "true")
    expect(agent).to_be_focused()
    message = page.locator("#field-steps-error")
    expect(message).to_contain_text(
        "steps.2.agent_id: workflow 'claims_triage' refers to unknown agent 'spare_agent'")
    assert "field-steps-error" in (agent.get_attribute("aria-describedby") or "").split()
    expect(page.locator("#editor .save")).to_be_enabled()
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        agent.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"agent-steps-error-{width}.png"))
    assert workflow_path(registries).read_bytes() == before
    agent.select_option("fraud_agent")  # as it was: the mark goes
    expect(agent).not_to_have_attribute("aria-invalid", "true")
    page.click("#editor .save")
    expect(page.locator("#status")).to_contain_text("No changes")
