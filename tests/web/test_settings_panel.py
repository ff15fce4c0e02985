"""The panel's settings tabs in a real browser (Debian's Chromium, driven by Playwright)
against a real `meshctl serve` on a copy of a whole AgentMesh checkout's registries
(tests/fixtures/full-registries): System settings, Context engineering, Accountability,
Integrations, and Governance as one section per policy. Each tab renders the real data; each
edit is checked in the registry file on disk (exactly what changed, nothing else); each rule
the server enforces shows its message and leaves the file as it was. Screenshots of every
tab at 1280 and 390 px go to tests/output/screenshots/ (not committed)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import FULL_REGISTRIES, copy_tree
from tests.servers import Server
from tests.web.conftest import SHOTS, commit_plan, open_tab, panel_page, served_panel, serving

NEW_TABS = ["accountability", "governance", "system", "context", "integrations"]
PROCESSORS = ["content_selector", "compaction_checker", "memory_retriever", "artifact_resolver",
              "transformer", "token_budget_enforcer", "injector"]
ROLES = ["reviewer", "fraud_investigator", "claims_adjuster", "approver", "admin"]
STEP_AGENTS = ["intake_agent", "coverage_agent", "fraud_agent", "severity_agent",
               "recommendation_agent", "explainability_agent"]
UNLABELLED = """() => [...document.querySelectorAll(
    '[role=tabpanel]:not([hidden]) input, [role=tabpanel]:not([hidden]) select,'
    + ' [role=tabpanel]:not([hidden]) textarea, dialog[open] input, dialog[open] select,'
    + ' dialog[open] textarea')]
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
    .map(el => el.id || el.outerHTML)"""
OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture
def full(tmp_path: Path) -> Path:
    """A writable copy of the full registries (the settings kinds included)."""
    return copy_tree(FULL_REGISTRIES, tmp_path / "registries")


@pytest.fixture
def full_server(full: Path) -> Iterator[Server]:
    with serving(full) as running:
        yield running


@pytest.fixture
def page(browser: Browser, full_server: Server) -> Iterator[Page]:
    with panel_page(browser, f"{full_server.url}/config") as opened:
        yield opened


def read(registries: Path, relative: str) -> Any:
    return json.loads((registries / relative).read_text())


def unstamped(document: dict[str, Any]) -> dict[str, Any]:
    """The document without `last_updated`, which the server stamps on every write."""
    return {key: value for key, value in document.items() if key != "last_updated"}


def api_put(server: Server, path: str, change: Any) -> None:
    """Change a document as another client would: GET it, `change` it, PUT it back."""
    with server.client() as client:
        document = client.get(path).json()
        version = document.pop("resource_version")
        change(document)
        answer = client.put(path, json=document, headers={"If-Match": f'"{version}"'})
        assert answer.status_code == 200, answer.text


def test_each_new_tab_renders_the_real_registries_at_1280_and_390_px(
        browser: Browser, full_server: Server) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))  # noqa: B023
        for tab in NEW_TABS:
            page.goto(f"{full_server.url}/config#{tab}")
            expect(page.locator(f"#tab-{tab}")).to_have_attribute("aria-selected", "true")
            panel = page.locator(f"#panel-{tab}")
            if tab == "system":
                expect(page.locator("#system-workflow-max_agent_invocations")).to_have_value("20")
                expect(page.locator("#system-orchestrator-help")).to_contain_text(
                    "Meta-agent ReAct loop limits")
                expect(page.locator("#system-schema-strict_validation")).to_be_checked()
                expect(page.locator("#system-version")).to_have_value("1.0.0")
            elif tab == "context":
                expect(page.locator(
                    "#strategies-context_compilation-default_budget_allocation-total")
                ).to_have_text("Total: 100%")
                expect(panel.locator("table.pipeline tbody tr")).to_have_count(7)
                assert panel.locator("table.pipeline tbody tr").evaluate_all(
                    "rows => rows.map(row => row.dataset.id)") == PROCESSORS
                expect(page.locator("#enable-memory_retriever")).not_to_be_checked()
            elif tab == "accountability":
                expect(panel.locator("tbody tr")).to_have_count(3)
                expect(panel.locator("tr[data-id=final_approval]")).to_contain_text("approver")
            elif tab == "integrations":
                for part, count in (("connectors", 4), ("auth-profiles", 4),
                                    ("security-policies", 2), ("integration-workflows", 4)):
                    expect(panel.locator(f"[data-part={part}] tbody tr")).to_have_count(count)
                expect(panel.locator("[data-part=security-policies] tr[data-id=claims_pii_masking]")
                       ).to_contain_text("ssn → mask")
                expect(page.get_by_label("max attempts of standard")).to_have_value("3")
            else:
                expect(panel.locator("details.policy")).to_have_count(9)
                panel.locator("details[data-policy=hitl_access_control] summary").click()
                expect(page.get_by_label("role id of approver")).to_have_value("approver")
            if width == 1280:
                assert page.evaluate(UNLABELLED) == [], tab
            name = "governance-policies" if tab == "governance" else tab
            page.screenshot(path=str(SHOTS / f"{name}-{width}.png"))
            assert page.evaluate(OVERFLOW) <= 0, f"{tab} overflows at {width} px"
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            assert page.evaluate(OVERFLOW) <= 0, f"{tab}, details open, at {width} px"
        context.close()
        assert errors == []


def test_the_tabs_say_when_the_registries_have_no_settings(browser: Browser,
                                                          server: Server) -> None:
    page = browser.new_page()
    page.goto(f"{server.url}/config#system")
    expect(page.locator("#panel-system")).to_contain_text(
        "There is no system config yet; PUT one to create it.")
    page.goto(f"{server.url}/config#context")
    expect(page.locator("#panel-context")).to_contain_text("0 processors, 0 enabled")
    page.goto(f"{server.url}/config#integrations")
    expect(page.locator("[data-part=connectors] .count")).to_have_text("0 connectors")
    expect(page.locator("[data-part=integration-config]")).to_contain_text(
        "There is no integration config yet")
    page.close()


def test_system_settings_save_typed_values_and_keep_every_other_key(
        page: Page, full: Path, full_server: Server) -> None:
    def newer_runtime(document: dict[str, Any]) -> None:  # keys this panel has never heard of
        document["llm"]["provider_hint"] = "openai"
        document["rollout"] = {"canary_percent": 5, "_description": "From a newer runtime"}

    api_put(full_server, "/registries/system-config", newer_runtime)
    before = read(full, "system_config.json")
    open_tab(page, "system")
    expect(page.locator("#system-rollout-canary_percent")).to_have_value("5")
    expect(page.locator("#system-rollout-help")).to_have_text("From a newer runtime")
    expect(page.locator("#system-llm-provider_hint")).to_have_value("openai")
    page.fill("#system-workflow-max_agent_invocations", "25")
    page.uncheck("#system-schema-strict_validation")
    page.check("#system-compaction-enabled")  # not in the file: added, alone, when changed
    page.fill("#system-version", "1.0.1")
    expect(page.locator("[data-form=system] .unsaved")).to_be_visible()
    page.click("[data-form=system] button.save")
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Saved the system settings.")
    expected = copy.deepcopy(before)
    expected["version"] = "1.0.1"
    expected["workflow"]["max_agent_invocations"] = 25
    expected["schema"]["strict_validation"] = False
    expected["compaction"] = {"enabled": True}
    after = read(full, "system_config.json")
    assert unstamped(after) == unstamped(expected)
    assert list(after) == list(expected)  # the keys in their order, unknown ones included
    expect(page.locator("[data-form=system] .unsaved")).to_be_hidden()
    expect(page.locator("#system-compaction-enabled")).to_be_checked()


def test_system_settings_show_the_servers_refusal_and_leave_the_file(
        page: Page, full: Path, full_server: Server) -> None:
    path = full / "system_config.json"
    before = path.read_bytes()
    open_tab(page, "system")
    page.fill("#system-workflow-max_agent_invocations", "0")
    page.click("[data-form=system] button.save")
    message = ("workflow.max_agent_invocations is 0; a limit or timeout of zero or less stops "
               "the work it bounds")
    expect(page.locator("#status")).to_contain_text(message)
    expect(page.locator("#status")).to_have_class("error")
    expect(page.locator("[data-form=system] p.error")).to_contain_text(message)
    assert path.read_bytes() == before
    expect(page.locator("#system-workflow-max_agent_invocations")).to_have_value("0")  # kept
    # someone else saves meanwhile: the edit is not thrown away, and not saved blindly
    api_put(full_server, "/registries/system-config",
            lambda document: document["llm"].update(max_retries=4))
    expect(page.locator("[data-form=system] p.changed")).to_be_visible(timeout=15000)
    page.fill("#system-workflow-max_agent_invocations", "30")
    page.click("[data-form=system] button.save")
    expect(page.locator("#status")).to_contain_text(
        "Someone else changed the system settings meanwhile")
    on_disk = read(full, "system_config.json")
    assert on_disk["llm"]["max_retries"] == 4
    assert on_disk["workflow"]["max_agent_invocations"] == 20
    page.click("[data-form=system] p.changed button")
    expect(page.locator("#system-llm-max_retries")).to_have_value("4")
    expect(page.locator("#system-workflow-max_agent_invocations")).to_have_value("20")


def test_context_strategies_show_the_budget_total_and_save(page: Page, full: Path) -> None:
    path = full / "context_strategies.json"
    before = read(full, "context_strategies.json")
    raw = path.read_bytes()
    open_tab(page, "context")
    budget = "#strategies-context_compilation-default_budget_allocation"
    page.fill(f"{budget}-observations_percentage", "10")
    expect(page.locator(f"{budget}-total")).to_have_text("Total: 90% (must be 100)")
    page.click("[data-form=strategies] button.save")
    expect(page.locator("#status")).to_contain_text(
        "the token budget shares add up to 90, not 100")
    assert path.read_bytes() == raw
    page.fill(f"{budget}-prior_outputs_percentage", "60")
    expect(page.locator(f"{budget}-total")).to_have_text("Total: 100%")
    page.uncheck("#strategies-prefix_caching-enabled")
    page.fill("#strategies-prefix_caching-variable_suffix_components",
              "recent_observations\ncurrent_task")
    page.select_option("#strategies-compaction-llm_summarization-quality_level", "high")
    page.fill("#strategies-memory_layer-retention_days", "30")
    page.click("[data-form=strategies] button.save")
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Saved the context strategies.")
    expected = copy.deepcopy(before)
    allocation = expected["context_compilation"]["default_budget_allocation"]
    allocation.update(observations_percentage=10, prior_outputs_percentage=60)
    expected["prefix_caching"]["enabled"] = False
    expected["prefix_caching"]["variable_suffix_components"] = ["recent_observations",
                                                                "current_task"]
    expected["compaction"]["llm_summarization"]["quality_level"] = "high"
    expected["memory_layer"]["retention_days"] = 30
    assert unstamped(read(full, "context_strategies.json")) == unstamped(expected)


def test_the_processor_pipeline_enables_and_moves_processors(page: Page, full: Path) -> None:
    before = read(full, "context_processor_pipeline.json")
    open_tab(page, "context")
    rows = page.locator("table.pipeline tbody tr")
    expect(rows).to_have_count(7)
    page.check("#enable-memory_retriever")
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Enabled 'memory_retriever'.")
    page.get_by_label("Move memory_retriever up").click()
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Moved 'memory_retriever' up.")
    expect(rows.nth(1)).to_have_attribute("data-id", "memory_retriever")
    expect(page.get_by_label("Move memory_retriever up")).to_be_focused()  # still there
    expected = copy.deepcopy(before)
    by_id = {processor["processor_id"]: processor for processor in expected["processors"]}
    by_id["memory_retriever"].update(enabled=True, order=2)
    by_id["compaction_checker"]["order"] = 3
    assert read(full, "context_processor_pipeline.json") == expected
    # the enable and the move: one revision each (a swap is one plan of both processors)
    assert len(list((full / ".meshctl" / "history").glob("*.json"))) == 2
    assert rows.evaluate_all("rows => rows.map(row => row.dataset.id)") == [
        "content_selector", "memory_retriever", "compaction_checker", "artifact_resolver",
        "transformer", "token_budget_enforcer", "injector"]


def test_a_duplicate_processor_order_is_refused(page: Page, full: Path) -> None:
    path = full / "context_processor_pipeline.json"
    before = path.read_bytes()
    open_tab(page, "context")
    order = page.get_by_label("Order of injector")
    order.fill("6")
    order.press("Tab")
    expect(page.locator("#status")).to_contain_text(
        "context processor 'injector' has order 6, as does 'token_budget_enforcer'")
    assert path.read_bytes() == before
    expect(page.get_by_label("Order of injector")).to_have_value("7")
    order = page.get_by_label("Order of injector")
    order.fill("8")
    order.press("Tab")
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Moved 'injector' to order 8.")
    assert read(full, "context_processor_pipeline.json")["processors"][6]["order"] == 8


def test_accountability_adds_edits_and_deletes_a_checkpoint(page: Page, full: Path) -> None:
    path = "workflows/claims_triage.json"
    before = read(full, path)
    open_tab(page, "accountability")
    expect(page.locator("#hitl-workflow")).to_have_value("claims_triage")
    page.click("#panel-accountability button.add")
    dialog = page.locator("#checkpoint-editor")
    expect(dialog).to_be_visible()
    assert page.locator("#cp-role option").evaluate_all(
        "options => options.map(option => option.value)") == ["", *ROLES]
    assert page.locator("#cp-agent option").evaluate_all(
        "options => options.map(option => option.value)") == ["", *STEP_AGENTS]
    assert page.evaluate(UNLABELLED) == []
    page.fill("#cp-id", "severity_gate")
    page.fill("#cp-name", "Severity gate")
    page.fill("#cp-description", "A person confirms the severity")
    page.select_option("#cp-trigger", "after_agent")
    page.select_option("#cp-agent", "severity_agent")
    page.select_option("#cp-role", "claims_adjuster")
    page.select_option("#cp-type", "input")
    page.check("#cp-timeout-enabled")
    page.fill("#cp-timeout-seconds", "600")
    page.select_option("#cp-on-timeout", "auto_reject")
    dialog.locator("button.save").click()
    commit_plan(page)
    expect(page.locator("#status")).to_have_text(
        "Saved checkpoint 'severity_gate' of workflow 'claims_triage'.")
    expect(dialog).to_be_hidden()
    added = {"checkpoint_id": "severity_gate", "checkpoint_name": "Severity gate",
             "description": "A person confirms the severity", "trigger_point": "after_agent",
             "agent_id": "severity_agent", "required_role": "claims_adjuster",
             "checkpoint_type": "input",
             "timeout_config": {"enabled": True, "timeout_seconds": 600,
                                "on_timeout": "auto_reject"},
             "notification_config": {"enabled": True, "channels": ["dashboard"],
                                     "urgency": "normal"},
             "ui_schema": {}}
    expected = copy.deepcopy(before)
    expected["hitl_checkpoints"].append(added)
    assert read(full, path) == expected
    row = page.locator("#panel-accountability tr[data-id=severity_gate]")
    expect(row).to_contain_text("600 s, then auto_reject")
    page.get_by_label("Edit checkpoint severity_gate").click()
    expect(page.locator("#cp-name")).to_have_value("Severity gate")
    expect(page.locator("#cp-id")).not_to_be_editable()
    expect(page.locator("#cp-role")).to_have_value("claims_adjuster")
    page.fill("#cp-name", "Severity sign-off")
    dialog.locator("button.save").click()
    commit_plan(page)
    expect(dialog).to_be_hidden()
    expected["hitl_checkpoints"][-1]["checkpoint_name"] = "Severity sign-off"
    assert read(full, path) == expected
    page.get_by_label("Delete checkpoint severity_gate").click()
    expect(page.locator("#plan-dialog h2")).to_have_text(
        "Delete checkpoint 'severity_gate' of workflow 'claims_triage'?")
    commit_plan(page)
    expect(row).to_have_count(0)
    assert read(full, path) == before


def test_a_checkpoint_the_rules_refuse_is_not_saved(page: Page, full: Path,
                                                    full_server: Server) -> None:
    path = full / "workflows" / "claims_triage.json"
    before = path.read_bytes()
    open_tab(page, "accountability")
    page.click("#panel-accountability button.add")
    page.fill("#cp-id", "fraud_review")  # taken
    page.fill("#cp-name", "Another")
    page.fill("#cp-description", "Another")
    page.select_option("#cp-role", "claims_adjuster")
    page.select_option("#cp-agent", "fraud_agent")
    page.click("#checkpoint-editor button.save")
    error = page.locator("#checkpoint-editor p.error")
    expect(error).to_have_text("There is already a checkpoint 'fraud_review'")
    page.fill("#cp-id", "adjuster_check")
    page.select_option("#cp-type", "decision")  # not a type the adjuster handles: a warning
    expect(page.locator("#checkpoint-editor .warning")).to_contain_text(
        "Role 'claims_adjuster' handles input, approval, not decision")

    def drop_the_role(document: dict[str, Any]) -> None:  # the role goes while the form is open
        roles = document["policies"]["hitl_access_control"]["roles"]
        roles[:] = [role for role in roles if role["role_id"] != "claims_adjuster"]

    api_put(full_server, "/registries/governance", drop_the_role)
    page.click("#checkpoint-editor button.save")
    expect(error).to_contain_text(
        "checkpoint 'adjuster_check' requires role 'claims_adjuster', which governance "
        "policy 'hitl_access_control' does not define")
    expect(page.locator("#checkpoint-editor")).to_be_visible()
    assert path.read_bytes() == before


def test_integrations_create_edit_and_refuse_to_delete_what_is_in_use(page: Page,
                                                                      full: Path) -> None:
    profiles_before = read(full, "integration/auth_profiles.json")
    connectors_before = read(full, "integration/connectors.json")
    open_tab(page, "integrations")
    page.click("[data-part=auth-profiles] button.add")
    expect(page.locator("#editor")).to_be_visible()
    page.fill("#field-profile_id", "panel_token")
    page.fill("#field-name", "Panel Token")
    page.fill("#field-type", "token")
    page.fill("#field-config", '{"token_type": "Bearer"}')
    page.click("#editor .save")
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Saved auth profile 'panel_token'.")
    expect(page.locator("[data-part=auth-profiles] tr[data-id=panel_token]")).to_be_visible()
    profiles = read(full, "integration/auth_profiles.json")["profiles"]
    assert profiles[:-1] == profiles_before["profiles"]
    assert profiles[-1] == {"profile_id": "panel_token", "name": "Panel Token", "type": "token",
                            "config": {"token_type": "Bearer"}}  # nothing not entered
    # the connector's auth profile is a picker of the auth profiles
    page.click("[data-part=connectors] tr[data-id=guidewire_claims] button:has-text('Edit')")
    expect(page.locator("#field-auth_profile")).to_have_value("gw_oauth")
    assert "panel_token" in page.locator("#field-auth_profile option").all_inner_texts()
    page.select_option("#field-auth_profile", "panel_token")
    page.click("#editor .save")
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Saved connector 'guidewire_claims'.")
    expected = copy.deepcopy(connectors_before)
    expected["connectors"][0]["auth_profile"] = "panel_token"
    assert read(full, "integration/connectors.json") == expected
    expect(page.locator("[data-part=connectors] tr[data-id=guidewire_claims]")).to_contain_text(
        "REST · panel_token")
    # an auth profile a connector uses cannot be deleted: the server says by whom
    raw = (full / "integration" / "auth_profiles.json").read_bytes()
    page.click("[data-part=auth-profiles] tr[data-id=panel_token] button.danger")
    expect(page.locator("#confirm-text")).to_contain_text(  # asked before any delete is offered
        "Cannot delete auth profile 'panel_token': used by connectors guidewire_claims")
    expect(page.locator("#confirm button.danger")).to_be_hidden()
    page.click("#confirm button.cancel")
    expect(page.locator("#status")).to_contain_text(
        "Cannot delete auth profile 'panel_token': used by connectors guidewire_claims")
    assert (full / "integration" / "auth_profiles.json").read_bytes() == raw
    page.click("[data-part=auth-profiles] tr[data-id=gw_oauth] button.danger")
    commit_plan(page)  # the delete's plan: it is no longer in use
    expect(page.locator("[data-part=auth-profiles] tr[data-id=gw_oauth]")).to_have_count(0)
    assert "gw_oauth" not in [profile["profile_id"] for profile in
                              read(full, "integration/auth_profiles.json")["profiles"]]


def test_the_integration_config_edits_its_retry_policies(page: Page, full: Path) -> None:
    path = full / "integration" / "system_config.json"
    before = read(full, "integration/system_config.json")
    open_tab(page, "integrations")
    page.get_by_label("max attempts of standard").fill("4")
    page.select_option("#integration-throughput_limits-backpressure_mode", "shed_load")
    page.fill("#integration-observability-alert_thresholds-error_rate_pct", "3.5")
    page.click("[data-form=integration] button.save")
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Saved the integration config.")
    expected = copy.deepcopy(before)
    expected["retry_policies"][0]["max_attempts"] = 4
    expected["throughput_limits"]["backpressure_mode"] = "shed_load"
    expected["observability"]["alert_thresholds"]["error_rate_pct"] = 3.5
    assert read(full, "integration/system_config.json") == expected
    raw = path.read_bytes()
    page.get_by_label("Remove aggressive from retry policies").click()  # still in use
    page.click("[data-form=integration] button.save")
    expect(page.locator("#status")).to_contain_text(
        "connector 'mainframe_legacy' names retry policy 'aggressive' in retry_policy_id, but "
        "the integration config does not define it")
    assert path.read_bytes() == raw
    page.get_by_label("Add row to retry policies").click()
    page.get_by_label("policy id of row 3").fill("standard")
    page.get_by_label("max attempts of row 3").fill("2")
    page.get_by_label("backoff seconds of row 3").fill("1")
    page.click("[data-form=integration] button.save")
    expect(page.locator("#status")).to_contain_text("retry policy 'standard' is defined twice")
    assert path.read_bytes() == raw


def test_governance_policies_are_sections_saved_one_by_one(page: Page, full: Path) -> None:
    before = read(full, "governance_policies.json")
    open_tab(page, "governance")
    panel = page.locator("#panel-governance")
    expect(panel.locator("details.policy summary .name")).to_have_text(
        list(before["policies"]))
    page.click("details[data-policy=execution_constraints] summary")
    expect(page.locator("#gov-execution_constraints-description")).to_have_value(
        "Global execution limits")
    page.fill("#gov-execution_constraints-max_llm_calls_per_session", "40")
    page.select_option("#gov-execution_constraints-enforcement_level", "permissive")
    # an edit left unsaved in another section survives the save of this one
    page.click("details[data-policy=iteration_limits] summary")
    page.fill("#gov-iteration_limits-global_max_iterations", "6")
    page.get_by_label("Save policy execution_constraints").click()
    commit_plan(page)
    expect(page.locator("#status")).to_have_text(
        "Saved governance policy 'execution_constraints'.")
    expected = copy.deepcopy(before)
    expected["policies"]["execution_constraints"].update(max_llm_calls_per_session=40,
                                                         enforcement_level="permissive")
    assert unstamped(read(full, "governance_policies.json")) == unstamped(expected)
    expect(page.locator("details[data-policy=execution_constraints] .badge.level")).to_have_text(
        "permissive")
    expect(page.locator("#gov-iteration_limits-global_max_iterations")).to_have_value("6")
    page.get_by_label("Save policy iteration_limits").click()
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Saved governance policy 'iteration_limits'.")
    expected["policies"]["iteration_limits"]["global_max_iterations"] = 6
    # a rule table: one row per rule, lists as comma lists
    page.click("details[data-policy=agent_tool_access] summary")
    expect(page.get_by_label("denied tools of fraud_agent")).to_have_value(
        "policy_snapshot, decision_rules, coverage_rules")
    # every value of a rule's list in view: its box grows and wraps, nothing cut off
    cut = page.eval_on_selector_all(
        "details[data-policy=agent_tool_access] [data-shape=list]",
        "boxes => boxes.filter(b => b.scrollWidth > b.clientWidth + 1 ||"
        " b.scrollHeight > b.clientHeight + 2).map(b => b.value)")
    assert cut == []
    page.get_by_label("allowed tools of severity_agent").fill("similarity, fraud_rules")
    page.get_by_label("Save policy agent_tool_access").click()
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Saved governance policy 'agent_tool_access'.")
    expected["policies"]["agent_tool_access"]["rules"][3]["allowed_tools"] = ["similarity",
                                                                             "fraud_rules"]
    assert unstamped(read(full, "governance_policies.json")) == unstamped(expected)
    # one policy as JSON
    page.click("details[data-policy=model_usage] summary")
    page.get_by_label("Edit policy model_usage as JSON").click()
    editor = page.locator("#gov-model_usage-json")
    policy = json.loads(editor.input_value())
    assert policy == before["policies"]["model_usage"]
    policy["description"] = "Edited as JSON"
    editor.fill(json.dumps(policy, indent=2))
    page.get_by_label("Save policy model_usage").click()
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Saved governance policy 'model_usage'.")
    expected["policies"]["model_usage"]["description"] = "Edited as JSON"
    assert unstamped(read(full, "governance_policies.json")) == unstamped(expected)


def test_a_governance_policy_the_rules_refuse_is_not_saved(page: Page, full: Path) -> None:
    path = full / "governance_policies.json"
    before = path.read_bytes()
    open_tab(page, "governance")
    page.click("details[data-policy=hitl_access_control] summary")
    page.get_by_label("Remove approver from roles").click()  # final_approval needs it
    page.get_by_label("Save policy hitl_access_control").click()
    error = page.locator("details[data-policy=hitl_access_control] p.error")
    expect(error).to_contain_text("checkpoint 'final_approval' requires role 'approver'")
    expect(page.locator("#status")).to_contain_text("requires role 'approver'")
    assert path.read_bytes() == before
    page.click("details[data-policy=agent_tool_access] summary")
    page.get_by_label("allowed tools of severity_agent").fill("similarityz")
    page.get_by_label("Save policy agent_tool_access").click()
    expect(page.locator("#status")).to_contain_text(
        "governance policy 'agent_tool_access' refers to unknown tool 'similarityz'")
    assert path.read_bytes() == before


def test_the_new_tabs_work_from_the_keyboard(page: Page) -> None:
    page.focus("#tab-workflows")
    for tab in ("accountability", "governance", "system", "context", "integrations"):
        page.keyboard.press("ArrowRight")
        expect(page.locator(f"#tab-{tab}")).to_have_attribute("aria-selected", "true")
        expect(page.locator(f"#tab-{tab}")).to_be_focused()
        expect(page.locator(f"#panel-{tab} .content > *").first).to_be_visible()
    page.keyboard.press("ArrowRight")  # around to the first
    expect(page.locator("#tab-orchestrator")).to_have_attribute("aria-selected", "true")
    page.goto(page.url.split("#")[0] + "#context")
    toggle = page.locator("#enable-content_selector")
    toggle.focus()
    page.keyboard.press("Space")
    expect(page.locator("#plan-dialog button.save")).to_be_focused()  # the plan, then Enter
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_have_text("Disabled 'content_selector'.")
    expect(page.locator("#enable-content_selector")).to_be_focused()


def test_the_api_the_tabs_use_answers_as_they_expect(full_server: Server) -> None:
    """The shapes the JavaScript relies on (a guard against an API change breaking it)."""
    answer = httpx.get(f"{full_server.url}/registries/integration/system-config")
    assert set(answer.json()) == {"config", "resource_version"}
    assert answer.headers["ETag"].strip('"') == answer.json()["resource_version"]
    processors = httpx.get(f"{full_server.url}/registries/context/processors").json()
    assert [p["processor_id"] for p in processors["processors"]] == PROCESSORS


def test_a_long_rule_list_is_shown_a_page_at_a_time(browser: Browser, full: Path) -> None:
    """A policy with a rule per agent (here 130; 10,000 in a large mesh) draws 50 rows and
    a filter: a rule found by the filter is edited and saved, and the rules never drawn are
    written back as they were."""
    path = full / "governance_policies.json"
    document = json.loads(path.read_text())
    rules = document["policies"]["agent_tool_access"]["rules"]
    bulk = [f"bulk_agent_{number:03d}" for number in range(130 - len(rules))]
    rules += [{"agent_id": name, "allowed_tools": ["similarity"], "denied_tools": []}
              for name in bulk]
    path.write_text(json.dumps(document, indent=2))
    agents = json.loads((full / "agent_registry.json").read_text())
    worker = next(a for a in agents["agents"] if a["agent_id"] == "intake_agent")
    agents["agents"] += [{**worker, "agent_id": name, "name": name, "allowed_tools": []}
                         for name in bulk]
    (full / "agent_registry.json").write_text(json.dumps(agents, indent=2))
    before = read(full, "governance_policies.json")
    with served_panel(browser, full, "/config") as page:
        open_tab(page, "governance")
        page.click("details[data-policy=agent_tool_access] summary")
        section = page.locator("details[data-policy=agent_tool_access]")
        expect(section.locator("table.records tbody tr")).to_have_count(50)
        expect(section.locator("p.count")).to_have_text("50 of 130 shown")
        section.get_by_role("button", name="Show 50 more").click()
        expect(section.locator("table.records tbody tr")).to_have_count(100)
        section.get_by_label("Filter rules").fill("bulk_agent_120")
        expect(section.locator("table.records tbody tr")).to_have_count(1)
        expect(section.locator("p.count")).to_have_text("1 of 1 matching (130 in all) shown")
        page.get_by_label("allowed tools of bulk_agent_120").fill("similarity, fraud_rules")
        page.get_by_label("Save policy agent_tool_access").click()
        commit_plan(page)
        expect(page.locator("#status")).to_have_text(
            "Saved governance policy 'agent_tool_access'.")
    expected = copy.deepcopy(before)
    edited = next(rule for rule in expected["policies"]["agent_tool_access"]["rules"]
                  if rule["agent_id"] == "bulk_agent_120")
    edited["allowed_tools"] = ["similarity", "fraud_rules"]
    assert unstamped(read(full, "governance_policies.json")) == unstamped(expected)
