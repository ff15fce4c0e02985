"""The configuration panel in a real browser: Debian's Chromium, driven by Playwright,
against a real `meshctl serve` on a copy of the example registries. The upstream plan's
frontend checklist, each step checked in the page and, for writes, on disk. Screenshots of
every tab at 1280 and 390 px go to tests/output/screenshots/ (not committed)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from reconciler import RegistryManager
from reconciler.store.registry_files import read_live_state
from tests.servers import Server
from tests.test_runtime_fidelity import runtime_load
from tests.web.conftest import SHOTS, choose, commit_plan, open_tab, panel_page

TABS = ["orchestrator", "agents", "tools", "profiles", "workflows", "governance"]


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    with panel_page(browser, f"{server.url}/") as opened:
        yield opened


def on_disk(registries: Path, kind: str, name: str) -> dict[str, Any] | None:
    for resource in read_live_state(registries).state:
        if resource.kind.value == kind and resource.name == name:
            return resource.entry
    return None


def test_the_page_loads_every_tab_renders_and_the_nav_marks_it(page: Page,
                                                               browser: Browser,
                                                               server: Server) -> None:
    assert page.url.endswith("/config#orchestrator")
    expect(page.locator("nav a.active")).to_have_text("Configuration")
    expect(page.locator("nav a")).to_have_text(
        ["Configuration", "Plan", "History", "Graph", "API docs"])
    for tab in TABS:
        open_tab(page, tab)
        expect(page.locator(f"#tab-{tab}")).to_have_attribute("aria-selected", "true")
        expect(page.locator(f"#panel-{tab} .content > *").first).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        shot = context.new_page()
        for tab in TABS:
            shot.goto(f"{server.url}/config#{tab}")
            expect(shot.locator(f"#panel-{tab} .content > *").first).to_be_visible()
            shot.screenshot(path=str(SHOTS / f"{tab}-{width}.png"))
        context.close()
    assert len(list(SHOTS.glob("*.png"))) >= 12


def test_agents_are_listed_and_filtered(page: Page, registries: Path) -> None:
    open_tab(page, "agents")
    rows = page.locator("#panel-agents tbody tr")
    expect(rows).to_have_count(7)
    page.fill("#panel-agents .filter", "fraud")
    expect(page.locator("#panel-agents tbody tr:visible")).to_have_count(1)


def test_create_edit_and_delete_an_agent(page: Page, registries: Path, server: Server) -> None:
    open_tab(page, "agents")
    page.click("#panel-agents button.add")
    expect(page.locator("#editor")).to_be_visible()
    page.fill("#field-agent_id", "panel_agent")
    page.fill("#field-name", "Panel Agent")
    page.fill("#field-description", "Made in the browser")
    page.fill("#field-capabilities", "triage\nrouting")
    page.select_option("#field-model_profile_id", "gpt4")
    choose(page, "#field-allowed_tools", ["fraud_rules", "similarity"])
    # Governance denies a new agent every tool, and its rule cannot name an agent that does
    # not exist yet: the tools are granted in the same save (test_access_panel.py has more).
    expect(page.locator("#editor li[data-tool=similarity].denied")).to_be_visible()
    page.click("#editor button.grant")
    page.click("#editor button.commit")
    expect(page.locator("#panel-agents tr[data-id=panel_agent]")).to_be_visible()
    expect(page.locator("#status")).to_have_text(
        "Saved agent 'panel_agent' and policy 'agent_tool_access' in one revision (revision 1).")
    stored = on_disk(registries, "Agent", "panel_agent")
    assert stored is not None and stored["capabilities"] == ["triage", "routing"]
    assert stored["allowed_tools"] == ["fraud_rules", "similarity"]
    page.click("#panel-agents tr[data-id=panel_agent] button:has-text('Edit')")
    expect(page.locator("#field-name")).to_have_value("Panel Agent")  # pre-filled
    expect(page.locator("#field-agent_id")).not_to_be_editable()  # an id is not renamed
    page.fill("#field-max_iterations", "9")
    page.click("#editor .save")
    with page.expect_response(lambda response: response.request.method == "POST"):
        commit_plan(page)
    expect(page.locator("#editor")).to_be_hidden()
    assert on_disk(registries, "Agent", "panel_agent")["max_iterations"] == 9  # type: ignore
    page.click("#panel-agents tr[data-id=panel_agent] button.danger")
    plan = page.locator("#plan-dialog")  # the delete's plan, with the rule that goes with it
    expect(plan.locator("h2")).to_have_text("Delete agent 'panel_agent'?")
    expect(plan.locator(".intro")).to_contain_text(  # a policy naming it would keep it
        "its rules in agent_tool_access go with it, in the same revision")
    expect(plan.locator("section.diff h3")).to_have_text(
        ["update GovernancePolicy agent_tool_access", "delete Agent panel_agent"])
    commit_plan(page)
    expect(page.locator("#panel-agents tr[data-id=panel_agent]")).to_have_count(0)
    assert on_disk(registries, "Agent", "panel_agent") is None
    assert "panel_agent" not in (registries / "governance_policies.json").read_text()


def test_deleting_an_agent_in_use_shows_the_servers_message(page: Page,
                                                            registries: Path) -> None:
    open_tab(page, "agents")
    page.click("#panel-agents tr[data-id=fraud_agent] button.danger")
    # Usage is checked before asking: the question says who uses it and offers no delete.
    expect(page.locator("#confirm-text")).to_contain_text(
        "Cannot delete agent 'fraud_agent': used by agents orchestrator_agent")
    expect(page.locator("#confirm button.danger")).to_be_hidden()
    page.click("#confirm button.cancel")
    expect(page.locator("#status")).to_contain_text(
        "Cannot delete agent 'fraud_agent': used by agents orchestrator_agent")
    assert on_disk(registries, "Agent", "fraud_agent") is not None


def test_required_fields_are_enforced(page: Page, registries: Path) -> None:
    open_tab(page, "agents")
    page.click("#panel-agents button.add")
    page.fill("#field-agent_id", "incomplete")
    page.click("#editor .save")
    expect(page.locator("#editor .error")).to_contain_text("Required: Name, Description")
    expect(page.locator("#editor")).to_be_visible()
    assert on_disk(registries, "Agent", "incomplete") is None


def test_the_json_editor_rejects_invalid_json(page: Page) -> None:
    open_tab(page, "tools")
    page.click("#panel-tools button.add")
    editor = page.locator("#field-input_schema")
    editor.fill('{"type": "object",\n  "properties": {')
    expect(page.locator("#field-input_schema-problem")).to_contain_text("line")
    expect(page.locator("#editor .save")).to_be_disabled()
    editor.fill('{"type":"object"}')
    expect(page.locator("#field-input_schema-problem")).to_have_text("")
    page.click("#editor [data-field=input_schema] button.format")
    expect(editor).to_have_value('{\n  "type": "object"\n}')
    expect(page.locator("#editor .save")).to_be_enabled()


def list_a_spare_agent(server: Server) -> None:
    """An agent the orchestrator lists (and governance lets it invoke) that no workflow runs,
    so that the orchestrator may stop listing it (A002 refuses to unlist an agent a workflow
    runs, and every example agent is run by claims_triage). One change, through the API."""
    with server.client() as api:
        agent = api.get("/registries/agents/explainability_agent").json()
        del agent["resource_version"]
        orchestrator = api.get("/registries/orchestrator").json()
        del orchestrator["resource_version"]
        orchestrator["allowed_agents"].append("spare_agent")
        policy = api.get("/registries/access/policy", params={"verb": "invoke"}).json()
        policy["entry"]["rules"][0]["allowed_agents"].append("spare_agent")
        done = api.post("/registries/changes", json={"changes": [
            {"kind": "Agent", "name": "spare_agent",
             "entry": {**agent, "agent_id": "spare_agent", "name": "Spare Agent"}},
            {"kind": "Agent", "name": "orchestrator_agent", "entry": orchestrator},
            {"kind": "GovernancePolicy", "name": policy["policy"], "entry": policy["entry"]}]})
        assert done.status_code == 200, done.text


def test_the_orchestrator_shows_its_agents_saves_and_cannot_be_deleted(
        page: Page, registries: Path, server: Server) -> None:
    list_a_spare_agent(server)
    page.reload()
    allowed = page.locator("#panel-orchestrator fieldset.allowed input:checked")
    listed = on_disk(registries, "Agent", "orchestrator_agent")["allowed_agents"]  # type: ignore
    expect(allowed).to_have_count(len([a for a in listed if a != "orchestrator_agent"]))
    page.uncheck("#allow-spare_agent")
    page.click("#panel-orchestrator button.save")
    expect(page.locator("#plan-dialog .access-change")).to_have_text(  # the plan says so
        re.compile("orchestrator_agent may no longer invoke spare_agent"))
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Saved the orchestrator.")
    assert "spare_agent" not in on_disk(registries, "Agent",  # type: ignore
                                        "orchestrator_agent")["allowed_agents"]
    expect(page.locator("#panel-orchestrator button:has-text('Delete')")).to_have_count(0)
    open_tab(page, "agents")  # no delete anywhere: its row leads to its own tab
    row = page.locator("#panel-agents tr[data-id=orchestrator_agent]")
    expect(row.locator("button")).to_have_count(0)
    row.locator("a").click()
    expect(page.locator("#panel-orchestrator")).to_be_visible()


@pytest.mark.parametrize(("tab", "kind", "id_field", "fill"), [
    ("tools", "Tool", "tool_id", {"name": "OCR", "description": "Reads scans",
                                  "endpoint": "/invoke/ocr"}),
    ("profiles", "ModelProfile", "profile_id", {"name": "Mini", "provider": "openai",
                                                "model_name": "gpt-4o-mini",
                                                "description": "Small and quick",
                                                "intended_usage": "general"}),
])
def test_tools_and_model_profiles_are_created_and_deleted(
        page: Page, registries: Path, tab: str, kind: str, id_field: str,
        fill: dict[str, str]) -> None:
    open_tab(page, tab)
    page.click(f"#panel-{tab} button.add")
    page.fill(f"#field-{id_field}", "from_panel")
    for field, value in fill.items():
        control = page.locator(f"#field-{field}")
        if control.evaluate("node => node.tagName") == "SELECT":  # provider: the runtime's
            control.select_option(value)
        else:
            control.fill(value)
    page.click("#editor .save")
    expect(page.locator("#plan-dialog section.diff h3")).to_have_text(
        f"create {kind} from_panel")
    commit_plan(page)
    expect(page.locator(f"#panel-{tab} tr[data-id=from_panel]")).to_be_visible()
    assert on_disk(registries, kind, "from_panel") is not None
    assert runtime_load(registries)[1] == []  # the runtime loads what the panel wrote
    page.click(f"#panel-{tab} tr[data-id=from_panel] button.danger")
    commit_plan(page)
    expect(page.locator(f"#panel-{tab} tr[data-id=from_panel]")).to_have_count(0)
    assert on_disk(registries, kind, "from_panel") is None


def test_a_workflow_is_created_edited_and_deleted(page: Page, registries: Path) -> None:
    open_tab(page, "workflows")
    page.click("#panel-workflows button.add")
    page.fill("#field-workflow_id", "panel_flow")
    page.fill("#field-name", "Panel Flow")
    page.fill("#field-description", "Made in the panel")
    page.click("#field-steps button.add-step")  # a step: its id and its agent (a picker)
    page.get_by_label("Step 1 step_id").fill("one")  # (the row is drawn once its picker is)
    page.get_by_label("Step 1 agent_id").select_option("intake_agent")
    choose(page, "#field-required_agents", ["intake_agent"])
    page.click("#editor .save")
    commit_plan(page)
    expect(page.locator("#panel-workflows tr[data-id=panel_flow]")).to_be_visible()
    written = json.loads((registries / "workflows" / "panel_flow.json").read_text())
    assert written["steps"] == [{"step_id": "one", "agent_id": "intake_agent"}]
    assert runtime_load(registries)[1] == []
    page.click("#panel-workflows tr[data-id=panel_flow] button:has-text('Edit')")
    page.fill("#field-name", "Panel Flow 2")
    page.click("#editor .save")
    commit_plan(page)
    expect(page.locator("#panel-workflows tr[data-id=panel_flow] td").nth(1)).to_have_text(
        "Panel Flow 2")
    page.click("#panel-workflows tr[data-id=panel_flow] button.danger")
    commit_plan(page)
    expect(page.locator("#panel-workflows tr[data-id=panel_flow]")).to_have_count(0)
    assert not (registries / "workflows" / "panel_flow.json").exists()


def test_governance_saves_as_a_whole(page: Page, registries: Path) -> None:
    open_tab(page, "governance")  # one section per policy; the whole document as JSON below
    page.click("#panel-governance details.whole summary")
    editor = page.locator("#governance-json")
    document = json.loads(editor.input_value())
    del document["policies"]["context_filtering"]
    editor.fill(json.dumps(document, indent=2))
    page.click("#governance-json-save")
    expect(page.locator("#plan-dialog section.diff h3")).to_have_text(  # the others: no change
        "delete GovernancePolicy context_filtering")
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Saved the governance policies.")
    on_file = json.loads((registries / "governance_policies.json").read_text())
    assert "context_filtering" not in on_file["policies"]


def test_a_stopped_server_shows_the_network_error(page: Page, server: Server) -> None:
    server.stop()
    page.click("#tab-tools")
    expect(page.locator("#status")).to_contain_text("The server cannot be reached")


def test_the_plan_history_and_graph_pages(browser: Browser, registries: Path,
                                          drifted_manifests: Path) -> None:
    manifests = drifted_manifests
    server = Server(registries, "--manifests", str(manifests))
    try:
        page = browser.new_page()
        page.goto(f"{server.url}/plan")
        expect(page.locator("nav a.active")).to_have_text("Plan")
        expect(page.locator("pre.plan")).to_contain_text("~ Agent/fraud_agent")
        expect(page.locator("pre.plan")).to_contain_text("max_iterations: 5 -> 7")
        page.goto(f"{server.url}/graph#tool/fraud_rules")  # test_graph_panel.py has more
        expect(page.locator("#graph-nodes .direct-dependents")).to_contain_text("fraud_agent")
        page.goto(f"{server.url}/history")
        expect(page.locator("#page")).to_contain_text("0 revisions")
        manager = RegistryManager(registries, watch=False)
        manager.load_all()
        agent = manager.get_agent("intake_agent")
        assert agent is not None
        manager.update_agent("intake_agent", agent.model_copy(update={"max_iterations": 9}))
        page.reload()
        expect(page.locator("#page > p").first).to_have_text("1 revision")
        page.goto(f"{server.url}/graph#model-profile/gpt4")
        expect(page.locator("#graph-summary")).to_have_text(
            "model profile gpt4: 0 direct dependencies, 0 direct dependents.")
        page.close()
    finally:
        server.stop()


def test_the_orchestrator_tab_edits_its_other_fields(page: Page, registries: Path) -> None:
    expect(page.locator("#orch-max_iterations")).to_be_visible()
    page.fill("#orch-max_iterations", "12")
    page.click("#panel-orchestrator button.save")
    commit_plan(page)
    expect(page.locator("#status")).to_have_text("Saved the orchestrator.")
    assert on_disk(registries, "Agent", "orchestrator_agent")["max_iterations"] == 12  # type: ignore


def test_changes_made_elsewhere_show_up_and_warn_an_open_form(page: Page,
                                                              registries: Path) -> None:
    import subprocess
    import sys

    open_tab(page, "agents")
    page.click("#panel-agents tr[data-id=fraud_agent] button:has-text('Edit')")
    expect(page.locator("#editor")).to_be_visible()
    script = ("import sys\nfrom reconciler import RegistryManager\n"
              "m = RegistryManager(sys.argv[1], watch=False)\nm.load_all()\n"
              "a = m.get_agent('fraud_agent')\n"
              "m.update_agent('fraud_agent', a.model_copy(update={'max_iterations': 8}))\n"
              "t = m.get_tool('fraud_rules')\n"
              "m.create_tool({**t.model_dump(exclude_unset=True), 'tool_id': 'from_elsewhere'})")
    done = subprocess.run([sys.executable, "-c", script, str(registries)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    expect(page.locator("#editor .changed")).to_be_visible(timeout=15000)
    page.click("#editor .cancel")
    open_tab(page, "tools")
    expect(page.locator("#panel-tools tr[data-id=from_elsewhere]")).to_be_visible()


def test_sync_badges_when_the_server_knows_the_manifests(browser: Browser, registries: Path,
                                                         drifted_manifests: Path) -> None:
    manifests = drifted_manifests
    (manifests / "agents" / "explainability_agent.yaml").unlink()
    server = Server(registries, "--manifests", str(manifests))
    try:
        page = browser.new_page()
        page.goto(f"{server.url}/config#agents")
        expect(page.locator("tr[data-id=fraud_agent] .badge")).to_have_text("drifted from git")
        expect(page.locator("tr[data-id=explainability_agent] .badge")).to_have_text(
            "not in git")
        expect(page.locator("tr[data-id=intake_agent] .badge")).to_have_text("in sync")
        page.close()
    finally:
        server.stop()


def test_keyboard_only_and_a_label_on_every_control(page: Page) -> None:
    page.focus("#tab-orchestrator")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-agents")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#tab-agents")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#tab-orchestrator")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#panel-agents tbody tr")).to_have_count(7)
    add = page.locator("#panel-agents button.add")
    add.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#editor")).to_be_visible()
    unlabelled = page.evaluate("""() => [...document.querySelectorAll(
        '#editor input, #editor select, #editor textarea, [role=tabpanel]:not([hidden]) input,'
        + ' [role=tabpanel]:not([hidden]) select, [role=tabpanel]:not([hidden]) textarea')]
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
        .map(el => el.id || el.outerHTML)""")
    assert unlabelled == []
    page.keyboard.press("Escape")
    expect(page.locator("#editor")).to_be_hidden()


def test_copy_as_manifest(page: Page, browser: Browser, server: Server,
                          tmp_path: Path) -> None:
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    copy = context.new_page()
    copy.goto(f"{server.url}/config#tools")
    copy.click("#panel-tools tr[data-id=fraud_rules] button:has-text('Edit')")
    expect(copy.locator("#editor")).to_be_visible()
    copy.click("#editor .copy")
    expect(copy.locator("#status")).to_contain_text("Copied the manifest")
    text = copy.evaluate("navigator.clipboard.readText()")
    import yaml

    document = yaml.safe_load(text)
    assert document["kind"] == "Tool" and document["metadata"]["name"] == "fraud_rules"
    assert document["spec"]["name"] == "Fraud Rules Engine"
    from reconciler import engine

    manifest = tmp_path / "copied.yaml"
    manifest.write_text(text)
    loaded = engine.load_desired([manifest], use_cache=False, mesh_checks=False)
    assert loaded.errors == [] and len(loaded.state) == 1  # a manifest meshctl validates
    context.close()


def test_a_protected_server_asks_for_a_token_and_follows_changes(browser: Browser,
                                                                 registries: Path,
                                                                 tmp_path: Path) -> None:
    token = "panel-admin-token-0123456789"
    token_file = tmp_path / "tokens"
    token_file.write_text(f"{token} admin\n")
    server = Server(registries, "--token-file", str(token_file))
    try:
        page = browser.new_page()
        page.on("dialog", lambda dialog: dialog.accept(token))  # the token prompt
        page.goto(f"{server.url}/config#tools")
        expect(page.locator("#panel-tools tbody tr")).to_have_count(6)
        assert page.evaluate("sessionStorage.getItem('meshctl-token')") == token
        import httpx

        tool = httpx.get(f"{server.url}/registries/tools/fraud_rules",
                         headers={"Authorization": f"Bearer {token}"}).json()
        del tool["resource_version"]
        created = httpx.post(f"{server.url}/registries/tools",
                             json={**tool, "tool_id": "seen_live"},
                             headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 201
        expect(page.locator("#panel-tools tr[data-id=seen_live]")).to_be_visible(
            timeout=15000)
        page.close()
    finally:
        server.stop()
