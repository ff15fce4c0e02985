"""Forms that cannot lose data (issue 27, findings 2, 4, 5, 6, 7 and the delete prompt of 8):
reference lists as checkbox lists, server errors on their field, nothing written that the
user did not set, no server paths in the browser, an unsaved-changes guard, and a delete
prompt that checks usage first. Debian's Chromium against a real `meshctl serve` on a copy
of the example registries; every write checked on disk."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.servers import Server
from tests.web.conftest import (
    SHOTS,
    add_spare_tool,
    chosen,
    commit_plan,
    open_tab,
    panel_page,
    served_panel,
    writes,
)


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    with panel_page(browser, f"{server.url}/") as opened:
        yield opened


def agent_on_disk(registries: Path, agent_id: str) -> dict[str, Any]:
    document = json.loads((registries / "agent_registry.json").read_text(encoding="utf-8"))
    found: dict[str, Any] = next(a for a in document["agents"] if a["agent_id"] == agent_id)
    return found


def revisions(server: Server) -> int:
    with server.client() as api:
        count: int = api.get("/registries/history").json()["total_count"]
        return count


def edit(page: Page, tab: str, name: str) -> None:
    open_tab(page, tab)
    page.click(f"#panel-{tab} tr[data-id={name}] button:has-text('Edit')")
    expect(page.locator("#editor")).to_be_visible()


# -- finding 5: nothing written that the user did not set ------------------------------------

def test_an_untouched_save_writes_nothing_and_says_no_changes(page: Page, registries: Path,
                                                              server: Server) -> None:
    before = (registries / "agent_registry.json").read_bytes()
    sent = writes(page)
    edit(page, "agents", "intake_agent")
    page.click("#editor .save")
    expect(page.locator("#editor")).to_be_hidden()
    expect(page.locator("#status")).to_contain_text("No changes")
    assert [request.url for request in sent] == []
    assert (registries / "agent_registry.json").read_bytes() == before
    assert revisions(server) == 0


def test_a_save_writes_only_the_field_changed(page: Page, registries: Path,
                                              server: Server) -> None:
    stored = agent_on_disk(registries, "intake_agent")
    assert "allowed_agents" not in stored and "input_schema" not in stored
    edit(page, "agents", "intake_agent")
    page.fill("#field-max_iterations", "4")
    with page.expect_request(lambda request: request.method == "POST") as planned:
        page.click("#editor .save")  # the plan first: a dry run of the one change
    [item] = json.loads(planned.value.post_data or "{}")["changes"]
    assert item["entry"] == {**stored, "max_iterations": 4}  # no "allowed_agents": [], no null
    commit_plan(page)
    expect(page.locator("#status")).to_contain_text("Saved agent 'intake_agent'")
    assert agent_on_disk(registries, "intake_agent") == {**stored, "max_iterations": 4}
    assert revisions(server) == 1


def test_a_worker_form_offers_no_allowed_agents_and_never_the_agent_itself(page: Page) -> None:
    edit(page, "agents", "fraud_agent")
    expect(page.locator("#editor [data-field=allowed_tools]")).to_be_visible()
    expect(page.locator("#editor [data-field=allowed_agents]")).to_have_count(0)
    expect(page.locator("#editor")).not_to_contain_text("Allowed Agents")
    page.click("#editor .cancel")
    open_tab(page, "agents")
    page.click("#panel-agents button.add")  # a new agent's form neither
    expect(page.locator("#editor [data-field=allowed_agents]")).to_have_count(0)


def test_the_orchestrator_tab_saves_nothing_untouched(page: Page, registries: Path,
                                                      server: Server) -> None:
    sent = writes(page)
    page.click("#panel-orchestrator button.save")
    expect(page.locator("#status")).to_contain_text("No changes")
    assert sent == []
    assert revisions(server) == 0


# -- finding 6: no server file paths in the browser -------------------------------------------

def test_a_refused_delete_names_resources_not_server_paths(page: Page, registries: Path,
                                                           server: Server) -> None:
    with server.client() as api:
        refused = api.delete("/registries/model-profiles/default_gpt35")
    assert refused.status_code == 400
    assert str(registries) not in refused.text and ".json" not in refused.text
    assert refused.json()["detail"].startswith(
        "Cannot delete model profile 'default_gpt35': used by agents coverage_agent, "
        "explainability_agent, fraud_agent, intake_agent")
    assert {"kind": "Agent", "name": "intake_agent", "field": "model_profile_id"} in \
        refused.json()["used_by"]
    open_tab(page, "profiles")
    page.click("#panel-profiles tr[data-id=default_gpt35] button.danger")
    if page.locator("#confirm button.danger").is_visible():  # a prompt that does not check
        page.click("#confirm button.danger")
    shown = page.locator("#status, #confirm-text")
    expect(shown.filter(has_text="used by")).to_contain_text(
        "used by agents coverage_agent, explainability_agent")
    expect(shown.filter(has_text="used by")).to_contain_text("policies model_usage")
    text = page.locator("body").inner_text()
    assert str(registries) not in text and "agent_registry.json" not in text
    assert (registries / "model_profiles.json").read_text().count("default_gpt35") >= 1


# -- finding 2: reference lists are checklists, never a bare multi-select ---------------------

def test_one_click_on_a_tool_adds_it_and_keeps_the_others(page: Page, registries: Path) -> None:
    edit(page, "agents", "fraud_agent")
    tools = page.locator("#field-allowed_tools")
    assert page.locator("#editor select[multiple]").count() == 0
    chips = tools.locator("ul.chips li.chip")
    expect(chips).to_have_count(2)
    expect(chips).to_contain_text(["fraud_rules", "similarity"])
    page.click("#field-allowed_tools label:has-text('policy_snapshot')")  # a plain click
    assert sorted(chosen(page, "#field-allowed_tools")) == ["fraud_rules", "policy_snapshot",
                                                            "similarity"]
    expect(chips).to_have_count(3)
    # The keyboard: Tab reaches each box, Space toggles only that one (ArrowDown changes none).
    page.focus("#field-allowed_tools-similarity")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Space")
    assert sorted(chosen(page, "#field-allowed_tools")) == ["fraud_rules", "policy_snapshot"]
    page.keyboard.press("Space")
    assert sorted(chosen(page, "#field-allowed_tools")) == ["fraud_rules", "policy_snapshot",
                                                            "similarity"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    tools.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "reference-checklist-1280.png"))
    # A chip's button takes its value out, and only it.
    page.click("#field-allowed_tools button[aria-label='Remove policy_snapshot']")
    assert sorted(chosen(page, "#field-allowed_tools")) == ["fraud_rules", "similarity"]
    page.click("#field-allowed_tools label:has-text('schema_validator')")
    with page.expect_request(lambda request: request.method in ("PUT", "POST")) as sent:
        page.click("#editor .save")
        if page.locator("#editor button.grant").is_visible():  # governance denies it: grant
            page.click("#editor button.grant")
            page.click("#editor button.commit")
    assert sent.value is not None
    expect(page.locator("#editor")).to_be_hidden()
    assert agent_on_disk(registries, "fraud_agent")["allowed_tools"] == [
        "fraud_rules", "similarity", "schema_validator"]  # none lost, none reordered


def test_a_long_reference_list_has_a_filter_and_keeps_the_chosen_in_view(
        page: Page, server: Server) -> None:
    with server.client() as api:  # 30 more tools: a list long enough to scroll
        tool = api.get("/registries/tools/fraud_rules").json()
        del tool["resource_version"]
        for number in range(30):
            done = api.post("/registries/tools", json={**tool, "tool_id": f"extra_{number:02}"})
            assert done.status_code == 201, done.text
    edit(page, "agents", "fraud_agent")
    page.fill("#field-allowed_tools .option-filter", "extra_2")
    expect(page.locator("#field-allowed_tools .option:visible")).to_have_count(10)
    page.click("#field-allowed_tools label:has-text('extra_25')")
    page.fill("#field-allowed_tools .option-filter", "")
    # Every chosen value is shown, whatever the list shows or where it is scrolled.
    expect(page.locator("#field-allowed_tools ul.chips li.chip")).to_contain_text(
        ["fraud_rules", "similarity", "extra_25"])
    page.fill("#field-allowed_tools .option-filter", "extra_03")
    page.keyboard.press("Enter")  # the one left is picked; the form is not sent
    expect(page.locator("#editor")).to_be_visible()
    expect(page.locator("#field-allowed_tools ul.chips li.chip")).to_have_count(4)


def test_the_orchestrator_and_a_workflow_use_checklists_too(page: Page) -> None:
    expect(page.locator("#panel-orchestrator fieldset.allowed ul.chips li.chip")).to_have_count(6)
    assert page.locator("select[multiple]").count() == 0
    edit(page, "workflows", "claims_triage")
    for name in ("required_agents", "optional_agents", "suggested_sequence"):
        expect(page.locator(f"#field-{name}.checklist")).to_be_visible()
    assert page.locator("#editor select[multiple]").count() == 0


# -- finding 4: server errors on their field; bounds before saving ----------------------------

def test_a_server_error_marks_its_field_and_takes_focus(page: Page, registries: Path) -> None:
    edit(page, "agents", "intake_agent")
    page.fill("#field-max_iterations", "0")
    page.click("#editor .save")
    field = page.locator("#field-max_iterations")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    message = page.locator("#field-max_iterations-error")
    expect(message).to_contain_text("greater than or equal to 1")
    described = field.get_attribute("aria-describedby") or ""
    assert "field-max_iterations-error" in described.split()
    expect(page.locator("#editor .save")).to_be_enabled()  # Save stays usable
    expect(page.locator("#editor p.error")).to_have_text("Not saved: 1 field to fix, marked above.")
    assert agent_on_disk(registries, "intake_agent")["max_iterations"] == 3
    page.fill("#field-max_iterations", "2")  # editing the field clears its mark
    expect(field).not_to_have_attribute("aria-invalid", "true")
    expect(message).to_have_count(0)
    page.click("#editor .save")
    commit_plan(page)
    expect(page.locator("#editor")).to_be_hidden()
    assert agent_on_disk(registries, "intake_agent")["max_iterations"] == 2


def test_an_engine_refusal_marks_the_field_it_names(page: Page, registries: Path) -> None:
    edit(page, "workflows", "claims_triage")
    field = page.get_by_label("Step 1 context_compilation")  # a cell of the steps table
    field.fill(json.dumps({"include_prior_outputs": ["fraud"]}))
    page.click("#editor .save")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    expect(page.locator("#field-steps-error")).to_contain_text(
        "steps.0.context_compilation.include_prior_outputs.0: workflow 'claims_triage': "
        "step 'intake' includes the output of 'fraud', which does not run before it")


def test_bounds_defaults_and_examples_show_before_saving(page: Page) -> None:
    open_tab(page, "agents")
    page.click("#panel-agents button.add")
    timeout = page.locator("#field-iteration_timeout_seconds")
    expect(timeout).to_have_attribute("min", "10")
    expect(timeout).to_have_attribute("max", "300")
    hint = page.locator("#field-iteration_timeout_seconds-hint")
    expect(hint).to_have_text("10 to 300; default 60")
    assert "field-iteration_timeout_seconds-hint" in (
        timeout.get_attribute("aria-describedby") or "").split()
    expect(page.locator("#field-max_iterations-hint")).to_have_text("1 to 50; default 10")
    page.click("#editor .cancel")
    if page.locator("#editor").is_visible():  # an unsaved-changes guard may ask
        page.click("#editor .cancel")
    open_tab(page, "profiles")
    page.click("#panel-profiles button.add")
    # The providers the runtime has a client for, as a select (rule S007 says the same).
    assert page.eval_on_selector_all("#field-provider option", "os => os.map(o => o.value)") \
        == ["openai", "anthropic"]
    expect(page.locator("#field-timeout_seconds-hint")).to_have_text("5 to 300; default 30")


def test_a_provider_outside_the_runtime_set_is_kept_as_written(browser: Browser,
                                                               registries: Path) -> None:
    """The provider select holds the runtime's providers; a profile written with another
    spelling ("OpenAI": the runtime lowers it) shows it as written, and an untouched save
    leaves it so."""
    path = registries / "model_profiles.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    next(p for p in document["profiles"] if p["profile_id"] == "gpt4")["provider"] = "OpenAI"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    before = path.read_bytes()
    with served_panel(browser, registries) as page:
        edit(page, "profiles", "gpt4")
        expect(page.locator("#field-provider")).to_have_value("OpenAI")
        expect(page.locator("#field-provider option:checked")).to_have_text(
            "OpenAI (as written)")
        page.click("#editor .save")
        expect(page.locator("#status")).to_contain_text("No changes")
    assert path.read_bytes() == before


def test_save_stays_reachable_beside_a_long_error(browser: Browser, server: Server) -> None:
    for width in (1280, 390):
        with panel_page(browser, f"{server.url}/") as page:
            page.set_viewport_size({"width": width, "height": 700})
            edit(page, "workflows", "claims_triage")
            for number in range(1, 7):  # each step names outputs that do not exist
                page.get_by_label(f"Step {number} context_compilation").fill(json.dumps(
                    {"include_prior_outputs": [f"missing_step_{number}_with_a_long_name"]}))
            page.fill("#field-name", "")
            page.fill("#field-name", "Claims Triage")
            page.click("#editor .save")
            expect(page.get_by_label("Step 1 context_compilation")).to_have_attribute(
                "aria-invalid", "true")
            save = page.locator("#editor .save")
            box = save.bounding_box()
            assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 700
            on_top = page.evaluate("""() => { const r = document.querySelector('#editor .save')
                .getBoundingClientRect(); return document.elementFromPoint(r.x + r.width / 2,
                r.y + r.height / 2)?.className; }""")
            assert on_top == "save"
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"form-error-{width}.png"))


# -- finding 7: an unsaved-changes guard; a 412 keeps the input --------------------------------

def test_escape_or_cancel_on_a_changed_form_asks_first(page: Page, registries: Path) -> None:
    edit(page, "agents", "intake_agent")
    page.keyboard.press("Escape")  # nothing changed: closes at once
    expect(page.locator("#editor")).to_be_hidden()
    edit(page, "agents", "intake_agent")
    page.fill("#field-name", "Typed, not saved")
    page.keyboard.press("Escape")
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-text")).to_have_text(
        "Discard your unsaved changes to Name?")
    page.click("#confirm button:has-text('Keep editing')")
    expect(page.locator("#editor")).to_be_visible()
    expect(page.locator("#field-name")).to_have_value("Typed, not saved")
    page.click("#editor .cancel")
    expect(page.locator("#confirm")).to_be_visible()
    page.keyboard.press("Escape")  # Escape on the question keeps editing too
    expect(page.locator("#editor")).to_be_visible()
    expect(page.locator("#field-name")).to_have_value("Typed, not saved")
    page.click("#editor .cancel")
    page.click("#confirm button:has-text('Discard changes')")
    expect(page.locator("#editor")).to_be_hidden()
    assert agent_on_disk(registries, "intake_agent")["name"] == "Intake & Normalization Agent"


def test_after_a_412_the_input_stays_and_their_version_is_loaded_under_it(
        page: Page, registries: Path, server: Server) -> None:
    edit(page, "agents", "intake_agent")
    page.fill("#field-name", "My name")
    page.fill("#field-description", "My description")
    with server.client() as api:  # someone else changes it meanwhile
        theirs = api.get("/registries/agents/intake_agent").json()
        version = theirs.pop("resource_version")
        done = api.put("/registries/agents/intake_agent", headers={"If-Match": f'"{version}"'},
                       json={**theirs, "max_iterations": 7, "description": "Their description"})
        assert done.status_code == 200, done.text
    page.click("#editor .save")
    changed = page.locator("#editor .changed")
    expect(changed).to_be_visible()
    expect(changed).to_contain_text(re.compile("your edits are kept", re.I))  # feed or 412
    expect(page.locator("#field-name")).to_have_value("My name")  # nothing to retype
    expect(page.locator("#field-description")).to_have_value("My description")
    assert agent_on_disk(registries, "intake_agent")["name"] == "Intake & Normalization Agent"
    page.click("#editor .reapply")
    expect(changed).to_contain_text("They changed 2 fields, 1 of which you changed too")
    expect(changed.locator("ul.compare li[data-changed=max_iterations]")).to_have_text(
        "Max Iterations: theirs 3 → 7")
    expect(changed.locator("ul.compare li[data-changed=description]")).to_contain_text(
        'yours kept: "My description"')
    expect(page.locator("#field-max_iterations")).to_have_value("7")  # theirs, loaded
    expect(page.locator("#field-name")).to_have_value("My name")  # mine, re-applied
    SHOTS.mkdir(parents=True, exist_ok=True)
    changed.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "reapply-after-412-1280.png"))
    page.click("#editor .save")
    commit_plan(page)
    expect(page.locator("#editor")).to_be_hidden()
    stored = agent_on_disk(registries, "intake_agent")
    assert (stored["name"], stored["description"], stored["max_iterations"]) == (
        "My name", "My description", 7)


def test_the_orchestrator_tab_keeps_its_edits_through_a_change_elsewhere(
        page: Page, registries: Path, server: Server) -> None:
    page.fill("#orch-max_iterations", "12")
    with server.client() as api:  # someone else changes the orchestrator meanwhile
        theirs = api.get("/registries/orchestrator").json()
        version = theirs.pop("resource_version")
        done = api.put("/registries/orchestrator", headers={"If-Match": f'"{version}"'},
                       json={**theirs, "description": "Changed elsewhere"})
        assert done.status_code == 200, done.text
    notice = page.locator("#panel-orchestrator .changed")
    expect(notice).to_be_visible(timeout=15000)  # the change feed, or the 412 of a save
    expect(page.locator("#orch-max_iterations")).to_have_value("12")  # not redrawn away
    page.click("#panel-orchestrator button.save")
    expect(page.locator("#status")).to_contain_text("Not saved")
    expect(page.locator("#orch-max_iterations")).to_have_value("12")
    page.click("#panel-orchestrator .reapply")
    expect(page.locator("#orch-description")).to_have_value("Changed elsewhere")
    expect(page.locator("#orch-max_iterations")).to_have_value("12")
    page.click("#panel-orchestrator button.save")
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Saved the orchestrator.")
    stored = agent_on_disk(registries, "orchestrator_agent")
    assert (stored["description"], stored["max_iterations"]) == ("Changed elsewhere", 12)


# -- finding 8 (part): a delete prompt that checks usage first; no stale "Saved" --------------

def test_the_delete_prompt_checks_usage_first_and_offers_no_delete_in_use(
        page: Page, registries: Path) -> None:
    sent = writes(page)
    open_tab(page, "tools")
    page.click("#panel-tools tr[data-id=fraud_rules] button.danger")
    prompt = page.locator("#confirm-text")
    expect(prompt).to_contain_text("Cannot delete tool 'fraud_rules': used by agents fraud_agent")
    expect(page.locator("#confirm button.danger")).to_be_hidden()  # nothing to confirm
    page.click("#confirm button:has-text('Close')")
    assert [request.method for request in sent] == ["POST"]  # the dry run alone
    assert json.loads(sent[0].post_data or "{}")["dry_run"] is True
    assert "fraud_rules" in (registries / "tool_registry.json").read_text()


def test_the_delete_prompt_points_to_history_not_the_command_line(page: Page,
                                                                   server: Server) -> None:
    add_spare_tool(server)
    open_tab(page, "tools")
    page.click("#panel-tools tr[data-id=spare_tool] button.danger")
    prompt = page.locator("#plan-dialog")  # the delete's plan
    expect(prompt.locator("h2")).to_have_text("Delete tool 'spare_tool'?")
    expect(prompt.locator(".intro")).to_contain_text("History")
    expect(prompt.locator(".intro")).not_to_contain_text("meshctl")
    commit_plan(page)
    expect(page.locator("#panel-tools tr[data-id=spare_tool]")).to_have_count(0)
    expect(page.locator("#status")).to_have_text("Deleted tool 'spare_tool'.")


def test_a_green_saved_does_not_stay_beside_a_red_error(page: Page) -> None:
    edit(page, "agents", "intake_agent")
    page.fill("#field-max_iterations", "4")
    page.click("#editor .save")
    commit_plan(page)
    expect(page.locator("#status.ok")).to_have_text("Saved agent 'intake_agent'.")
    edit(page, "agents", "intake_agent")
    page.fill("#field-max_iterations", "0")
    page.click("#editor .save")
    expect(page.locator("#editor p.error")).to_be_visible()  # refused: red in the form
    expect(page.locator("#status")).not_to_contain_text("Saved")


# -- finding 4: choices as selects where the runtime has a set (step types) --------------------

@pytest.fixture
def full_page(browser: Browser, tmp_path: Path) -> Iterator[tuple[Page, Path]]:
    from tests.conftest import FULL_REGISTRIES, copy_tree

    full = copy_tree(FULL_REGISTRIES, tmp_path / "full")
    running = Server(full)
    try:
        with panel_page(browser, f"{running.url}/config") as opened:
            open_tab(opened, "integrations")
            yield opened, full
    finally:
        running.stop()


def test_integration_steps_are_typed_rows_with_the_runners_step_types(
        full_page: tuple[Page, Path]) -> None:
    page, full = full_page
    path = full / "integration" / "workflows" / "billing_sync.json"
    before = json.loads(path.read_text())
    edit_button = ("[data-part=integration-workflows] tr[data-id=billing_sync] "
                   "button:has-text('Edit')")
    page.click(edit_button)
    steps = page.locator("#field-steps")
    expect(steps.locator("tbody tr")).to_have_count(len(before["steps"]))
    kind = steps.get_by_label("Step 1 type")
    expect(kind).to_have_value("rest_call")
    assert kind.locator("option").all_inner_texts() == [
        "rest_call", "security_transform", "audit_event", "failure_simulation"]
    expect(steps.get_by_label("Step 1 connector")).to_have_value("socotra_billing")
    expect(steps.get_by_label("Step 2 policy")).to_have_value("billing_pci_guard")
    expect(steps.get_by_label("Step 1 failure_policy")).to_have_value("dead_letter")
    SHOTS.mkdir(parents=True, exist_ok=True)
    steps.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "integration-steps-1280.png"))
    page.click("#editor .save")  # untouched: nothing to write
    expect(page.locator("#status")).to_contain_text("No changes")
    page.click(edit_button)
    page.click("#field-steps button.add-step")
    expect(page.get_by_label(f"Step {len(before['steps']) + 1} id")).to_be_focused()
    page.keyboard.type("drill")
    page.get_by_label(f"Step {len(before['steps']) + 1} type").select_option("failure_simulation")
    page.get_by_label("Step 1 failure_policy").select_option("skip")
    page.click("#editor .save")
    commit_plan(page)
    expect(page.locator("#editor")).to_be_hidden()
    after = json.loads(path.read_text())
    expected = [dict(step) for step in before["steps"]]
    expected[0]["failure_policy"] = "skip"
    assert after["steps"] == [*expected, {"id": "drill", "type": "failure_simulation"}]
    assert list(after["steps"][0]) == list(before["steps"][0])  # no key reordered


def test_the_orchestrator_tab_marks_a_refused_field_with_save_in_view(page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 700})
    page.fill("#orch-iteration_timeout_seconds", "5")
    page.click("#panel-orchestrator button.save")
    field = page.locator("#orch-iteration_timeout_seconds")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    expect(page.locator("#orch-iteration_timeout_seconds-error")).to_contain_text(
        "greater than or equal to 10")
    box = page.locator("#panel-orchestrator button.save").bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 700
