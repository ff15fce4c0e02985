"""Plan before save (issue 27): every save of the panel (a form, a delete, a governance
section, the processor pipeline) first shows the plan it would commit, with the changed
fields as a coloured diff and the dependents it touches; Save commits exactly that plan (its
token), so a change made in between is a 412 that keeps the input and offers a new plan; a
plan without changes says so and offers no Save; the plan's warnings are shown with it (its
access changes: test_panel.py, the orchestrator's save). Debian's Chromium against a real
`meshctl serve` on copies of the example and the full registries; every write checked on
disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import FULL_REGISTRIES, copy_tree
from tests.servers import Server
from tests.web.conftest import (
    SHOTS,
    add_spare_tool,
    commit_plan,
    open_tab,
    panel_page,
    served_panel,
)

RED, GREEN = "rgb(255, 235, 233)", "rgb(218, 251, 225)"  # the diff's line backgrounds


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    with panel_page(browser, f"{server.url}/config") as opened:
        yield opened


@pytest.fixture
def full(tmp_path: Path) -> Path:
    return copy_tree(FULL_REGISTRIES, tmp_path / "full")


@pytest.fixture
def full_page(browser: Browser, full: Path) -> Iterator[Page]:
    with served_panel(browser, full, "/config") as opened:
        yield opened


def revisions(registries: Path) -> int:
    return len(list((registries / ".meshctl" / "history").glob("*.json")))


def agent_on_disk(registries: Path, agent_id: str) -> dict[str, Any]:
    document = json.loads((registries / "agent_registry.json").read_text(encoding="utf-8"))
    found: dict[str, Any] = next(a for a in document["agents"] if a["agent_id"] == agent_id)
    return found


def edit_agent(page: Page, name: str, max_iterations: str) -> None:
    open_tab(page, "agents")
    page.click(f"#panel-agents tr[data-id={name}] button:has-text('Edit')")
    expect(page.locator("#editor")).to_be_visible()
    page.fill("#field-max_iterations", max_iterations)
    page.click("#editor .save")


def test_an_agent_edit_shows_its_diff_and_commits_only_after_save(
        page: Page, registries: Path) -> None:
    before = (registries / "agent_registry.json").read_bytes()
    edit_agent(page, "intake_agent", "4")
    dialog = page.locator("#plan-dialog")
    expect(dialog.locator("h2")).to_have_text("Save agent 'intake_agent'")
    expect(dialog.locator(".summary")).to_have_text(
        "Plan: 0 to create, 1 to update, 0 to delete.")
    diff = dialog.locator("section.diff")
    expect(diff.locator("h3")).to_have_text("update Agent intake_agent")
    expect(diff.locator(".fields")).to_have_text("Fields: max_iterations")
    expect(diff.locator(".dependents")).to_contain_text("Workflow/claims_triage")
    expect(diff.locator("pre .line.del")).to_contain_text(['"max_iterations": 3'])
    expect(diff.locator("pre .line.add")).to_contain_text(['"max_iterations": 4'])
    assert diff.locator("pre .line.del").first.evaluate(
        "e => getComputedStyle(e).backgroundColor") == RED
    assert diff.locator("pre .line.add").first.evaluate(
        "e => getComputedStyle(e).backgroundColor") == GREEN
    expect(dialog.locator("button.save")).to_be_focused()
    page.screenshot(path=str(SHOTS / "plan-before-save-1280.png"))
    page.set_viewport_size({"width": 390, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    expect(dialog.locator("button.save")).to_be_in_viewport()
    page.screenshot(path=str(SHOTS / "plan-before-save-390.png"))
    page.set_viewport_size({"width": 1280, "height": 900})
    assert (registries / "agent_registry.json").read_bytes() == before  # nothing yet
    assert revisions(registries) == 0
    commit_plan(page)
    expect(page.locator("#editor")).to_be_hidden()
    expect(page.locator("#status")).to_have_text("Saved agent 'intake_agent'.")
    assert agent_on_disk(registries, "intake_agent")["max_iterations"] == 4
    assert revisions(registries) == 1


def test_cancel_on_the_plan_writes_nothing_and_keeps_the_form(page: Page,
                                                              registries: Path) -> None:
    before = (registries / "agent_registry.json").read_bytes()
    edit_agent(page, "intake_agent", "4")
    page.locator("#plan-dialog button.cancel").click()
    expect(page.locator("#plan-dialog")).to_be_hidden()
    expect(page.locator("#editor")).to_be_visible()
    expect(page.locator("#field-max_iterations")).to_have_value("4")
    assert (registries / "agent_registry.json").read_bytes() == before


def test_the_plan_shows_its_warnings(page: Page, registries: Path) -> None:
    before = (registries / "workflows" / "claims_triage.json").read_bytes()
    open_tab(page, "workflows")
    page.click("#panel-workflows tr[data-id=claims_triage] button:has-text('Edit')")
    page.fill("#field-name", "Claims Triage, renamed")
    page.click("#editor .save")
    dialog = page.locator("#plan-dialog")
    expect(dialog.locator("section.diff .fields")).to_have_text("Fields: name")
    expect(dialog.locator("ul.warnings li").first).to_contain_text(
        "H003: workflow 'claims_triage': checkpoint 'fraud_review' is of type 'approval'")
    expect(dialog.locator("button.save")).to_be_enabled()  # a warning does not refuse
    page.locator("#plan-dialog button.cancel").click()
    assert (registries / "workflows" / "claims_triage.json").read_bytes() == before


def test_a_delete_shows_the_plan(page: Page, server: Server, registries: Path) -> None:
    add_spare_tool(server)
    open_tab(page, "tools")
    page.click("#panel-tools tr[data-id=spare_tool] button.danger")
    dialog = page.locator("#plan-dialog")
    expect(dialog.locator("h2")).to_have_text("Delete tool 'spare_tool'?")
    expect(dialog.locator(".intro")).to_contain_text("History")
    expect(dialog.locator(".summary")).to_have_text(
        "Plan: 0 to create, 0 to update, 1 to delete.")
    expect(dialog.locator("section.diff h3")).to_have_text("delete Tool spare_tool")
    expect(dialog.locator("section.diff pre .line.del").first).to_be_visible()
    expect(dialog.locator("button.save")).to_have_text("Delete")
    assert "spare_tool" in (registries / "tool_registry.json").read_text()
    commit_plan(page)
    expect(page.locator("#panel-tools tr[data-id=spare_tool]")).to_have_count(0)
    expect(page.locator("#status")).to_have_text("Deleted tool 'spare_tool'.")
    assert "spare_tool" not in (registries / "tool_registry.json").read_text()


def test_a_governance_section_save_shows_the_plan(full_page: Page, full: Path) -> None:
    page = full_page
    path = full / "governance_policies.json"
    before = path.read_bytes()
    open_tab(page, "governance")
    page.click("details[data-policy=execution_constraints] summary")
    page.fill("#gov-execution_constraints-max_llm_calls_per_session", "40")
    page.get_by_label("Save policy execution_constraints").click()
    dialog = page.locator("#plan-dialog")
    expect(dialog.locator("h2")).to_have_text("Save governance policy 'execution_constraints'")
    expect(dialog.locator("section.diff")).to_have_count(1)  # the other policies: no change
    expect(dialog.locator("section.diff h3")).to_have_text(
        "update GovernancePolicy execution_constraints")
    expect(dialog.locator("section.diff .fields")).to_have_text(
        "Fields: max_llm_calls_per_session")
    expect(dialog.locator("section.diff pre .line.add")).to_contain_text(
        ['"max_llm_calls_per_session": 40'])
    assert path.read_bytes() == before
    page.screenshot(path=str(SHOTS / "plan-governance-1280.png"))
    commit_plan(page)
    expect(page.locator("#status")).to_have_text(
        "Saved governance policy 'execution_constraints'.")
    saved = json.loads(path.read_text())["policies"]["execution_constraints"]
    assert saved["max_llm_calls_per_session"] == 40


def test_the_pipeline_reorder_shows_the_plan(full_page: Page, full: Path) -> None:
    page = full_page
    path = full / "context_processor_pipeline.json"
    before = path.read_bytes()
    open_tab(page, "context")
    page.get_by_label("Move memory_retriever up").click()
    dialog = page.locator("#plan-dialog")
    expect(dialog.locator("h2")).to_have_text("Move 'memory_retriever' up")
    expect(dialog.locator(".summary")).to_have_text(
        "Plan: 0 to create, 2 to update, 0 to delete.")
    expect(dialog.locator("section.diff h3 code")).to_have_text(
        ["compaction_checker", "memory_retriever"], ignore_case=False)
    expect(dialog.locator("section.diff .fields").first).to_have_text("Fields: order")
    assert path.read_bytes() == before
    page.set_viewport_size({"width": 390, "height": 800})
    page.screenshot(path=str(SHOTS / "plan-pipeline-390.png"))
    page.set_viewport_size({"width": 1280, "height": 900})
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Moved 'memory_retriever' up.")
    rows = page.locator("table.pipeline tbody tr")
    expect(rows.nth(1)).to_have_attribute("data-id", "memory_retriever")
    assert revisions(full) == 1  # a swap: one plan, one revision


def test_a_change_between_plan_and_save_is_a_412_that_keeps_input_and_replans(
        page: Page, server: Server, registries: Path) -> None:
    edit_agent(page, "intake_agent", "4")
    dialog = page.locator("#plan-dialog")
    expect(dialog.locator("section.diff")).to_have_count(1)
    with server.client() as api:  # someone else saves another agent meanwhile
        other = api.get("/registries/agents/severity_agent").json()
        assert api.put("/registries/agents/severity_agent",
                       json={**other, "max_iterations": 6}).status_code == 200
    dialog.locator("button.save").click()
    expect(dialog.locator("[role=alert]")).to_contain_text(
        "The registries changed since this plan was shown; nothing was written")
    assert agent_on_disk(registries, "intake_agent")["max_iterations"] == 3
    page.screenshot(path=str(SHOTS / "plan-stale-412-1280.png"))
    dialog.locator("button.replan", has_text="Plan again").click()
    expect(dialog.locator("section.diff h3")).to_have_text("update Agent intake_agent")
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Saved agent 'intake_agent'.")
    assert agent_on_disk(registries, "intake_agent")["max_iterations"] == 4
    assert agent_on_disk(registries, "severity_agent")["max_iterations"] == 6


def test_a_change_of_the_same_entry_meanwhile_keeps_the_form_and_offers_theirs(
        page: Page, server: Server, registries: Path) -> None:
    edit_agent(page, "intake_agent", "4")
    dialog = page.locator("#plan-dialog")
    expect(dialog.locator("section.diff")).to_have_count(1)
    with server.client() as api:  # someone else saves this very agent meanwhile
        theirs = api.get("/registries/agents/intake_agent").json()
        assert api.put("/registries/agents/intake_agent",
                       json={**theirs, "description": "theirs"}).status_code == 200
    dialog.locator("button.save").click()
    dialog.locator("button.replan").click()  # the new plan: the form was read before theirs
    expect(dialog).to_be_hidden()
    form = page.locator("#editor")
    expect(form.locator(".changed-text")).to_contain_text("Someone else changed agent")
    expect(page.locator("#field-max_iterations")).to_have_value("4")  # the input is kept
    form.locator(".reapply").click()
    expect(page.locator("#field-description")).to_have_value("theirs")
    expect(page.locator("#field-max_iterations")).to_have_value("4")
    form.locator(".save").click()
    commit_plan(page)
    saved = agent_on_disk(registries, "intake_agent")
    assert (saved["max_iterations"], saved["description"]) == (4, "theirs")


def test_no_changes_for_an_untouched_form(page: Page, registries: Path) -> None:
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.method)
            if request.method != "GET" else None)
    open_tab(page, "agents")
    page.click("#panel-agents tr[data-id=intake_agent] button:has-text('Edit')")
    page.click("#editor .save")
    expect(page.locator("#status")).to_contain_text("No changes")
    assert sent == [] and revisions(registries) == 0  # not even a plan: nothing to send


def test_a_plan_without_changes_says_so_and_offers_no_save(full_page: Page,
                                                            full: Path) -> None:
    page = full_page
    open_tab(page, "governance")
    page.click("details[data-policy=execution_constraints] summary")
    page.get_by_label("Save policy execution_constraints").click()
    dialog = page.locator("#plan-dialog")
    expect(dialog.locator(".nothing")).to_have_text("No changes: nothing would be written.")
    expect(dialog.locator("button.save")).to_be_hidden()
    dialog.locator("button", has_text="Close").click()
    expect(dialog).to_be_hidden()
    assert revisions(full) == 0
