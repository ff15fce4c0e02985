"""Whether an agent can run, in the panel (issue 24): the agents table says it for every
agent from one request, the agent's form decides each selected tool and the orchestrator's
invocation with the server's reasons, and "Grant in governance…" saves the agent and the
rule it needs as one plan and one revision, the plan (a dry run) shown before. Debian's
Chromium against a real `meshctl serve` on a copy of the example registries."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from tests.servers import Server
from tests.web.conftest import choose, chosen, open_tab, panel_page


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    with panel_page(browser, f"{server.url}/") as opened:
        yield opened


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


def rule_of(document: dict[str, Any], policy: str, agent: str) -> dict[str, Any]:
    found: dict[str, Any] = next(rule for rule in document["policies"][policy]["rules"]
                                 if rule["agent_id"] == agent)
    return found


def history(server: Server) -> dict[str, Any]:
    with server.client() as api:
        found: dict[str, Any] = api.get("/registries/history").json()
        return found


def check(server: Server, subject: str, verb: str, target: str) -> dict[str, Any]:
    with server.client() as api:
        answer = api.get("/registries/access/check",
                         params={"subject": subject, "verb": verb, "object": target})
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found


def test_the_agents_list_says_which_agents_can_run_and_why(browser: Browser,
                                                          registries: Path) -> None:
    """Three ways not to run, written on disk before the server starts: an agent the
    orchestrator does not list, one it lists but governance will not let it invoke, and a
    tool an agent lists that no rule grants it."""
    def agents(document: Any) -> None:
        explainability = next(agent for agent in document["agents"]
                              if agent["agent_id"] == "explainability_agent")
        document["agents"].append({**explainability, "agent_id": "idle_agent",
                                   "name": "Idle Agent"})

    def governance(document: Any) -> None:
        rule_of(document, "agent_invocation_access", "orchestrator_agent")[
            "denied_agents"].append("explainability_agent")
        rule_of(document, "agent_tool_access", "coverage_agent")["allowed_tools"].remove(
            "coverage_rules")

    edit_json(registries / "agent_registry.json", agents)
    edit_json(registries / "governance_policies.json", governance)
    server = Server(registries)
    try:
        with panel_page(browser, f"{server.url}/") as page:
            asked: list[str] = []

            def seen(request: Request) -> None:
                if "/registries/access" in request.url:
                    asked.append(request.url.split("/registries/", 1)[1])

            page.on("request", seen)
            open_tab(page, "agents")
            cell = "#panel-agents tr[data-id={}] td.access"
            expect(page.locator(cell.format("fraud_agent"))).to_have_text("can run")
            expect(page.locator(cell.format("idle_agent"))).to_have_text(
                "cannot run not listed by the orchestrator")
            expect(page.locator(cell.format("explainability_agent"))).to_have_text(
                "cannot run the orchestrator may not invoke it: agent_invocation_access "
                "rules[0].denied_agents[1] denies it")
            expect(page.locator(cell.format("coverage_agent"))).to_have_text(
                "can run 1 tool denied (coverage_rules)")
            expect(page.locator(cell.format("coverage_agent") + " .verdict.denied")
                   ).to_have_attribute("title", "coverage_rules: no rule of agent_tool_access "
                                       "for 'coverage_agent' names 'coverage_rules', and the "
                                       "runtime denies by default")
            expect(page.locator(cell.format("orchestrator_agent"))).to_have_text(
                "can run (the orchestrator)")
            page.fill("#panel-agents .filter", "cannot run")
            expect(page.locator("#panel-agents tbody tr:visible")).to_have_count(2)
            # The column comes with the table's rows (the list view): no request of its own.
            assert asked == []
    finally:
        server.stop()


def test_granting_a_denied_tool_saves_the_agent_and_its_rule_as_one_revision(
        page: Page, server: Server, registries: Path) -> None:
    """fraud_agent may not use policy_snapshot: the example governance denies it by name
    (agent_tool_access rules[2].denied_tools[0])."""
    open_tab(page, "agents")
    expect(page.locator("#panel-agents tr[data-id=fraud_agent] td.access")).to_have_text(
        "can run")
    page.click("#panel-agents tr[data-id=fraud_agent] button:has-text('Edit')")
    access = page.locator("#editor fieldset.access")
    expect(access.locator("li[data-tool=fraud_rules].allowed")).to_have_text(
        "allowed fraud_rules: agent_tool_access rules[2].allowed_tools[0] allows it")
    expect(access.locator("p.invoke")).to_have_text(
        "invoked the orchestrator lists it, and agent_invocation_access "
        "rules[0].allowed_agents[2] allows it")
    expect(access.locator("button.grant")).to_be_hidden()  # nothing is denied yet
    choose(page, "#field-allowed_tools", ["fraud_rules", "similarity", "policy_snapshot"])
    expect(access.locator("li[data-tool=policy_snapshot].denied")).to_have_text(
        "denied policy_snapshot: agent_tool_access rules[2].denied_tools[0] denies it")
    access.locator("button.grant").click()
    plan = access.locator(".grant-plan")
    expect(plan.locator(".plan-change")).to_have_count(2)  # the agent and the policy
    expect(plan.locator('.plan-change[data-key="Agent/fraud_agent"]')).to_contain_text(
        '+ allowed_tools[2]: "policy_snapshot"')  # added after the others, none reordered
    policy = plan.locator('.plan-change[data-key="GovernancePolicy/agent_tool_access"]')
    expect(policy).to_contain_text('+ rules[2].allowed_tools[2]: "policy_snapshot"')
    expect(policy).to_contain_text('- rules[2].denied_tools[0]: "policy_snapshot"')
    expect(plan.locator(".access-change")).to_have_text([
        "+ fraud_agent may now use policy_snapshot (agent_tool_access "
        "rules[2].allowed_tools[2] allows it)"])
    assert history(server)["total_count"] == 0  # the plan was a dry run
    plan.locator("button.commit").click()
    expect(page.locator("#editor")).to_be_hidden()
    expect(page.locator("#status")).to_have_text(
        "Saved agent 'fraud_agent' and policy 'agent_tool_access' in one revision "
        "(revision 1).")
    revisions = history(server)
    assert revisions["total_count"] == 1
    assert set(revisions["revisions"][0]["resources"]) == {
        "Agent/fraud_agent", "GovernancePolicy/agent_tool_access"}
    decided = check(server, "fraud_agent", "use", "policy_snapshot")
    assert (decided["allowed"], decided["asked"], decided["basis"]) == (True, True, "allowed")
    rule = rule_of(json.loads((registries / "governance_policies.json").read_text()),
                   "agent_tool_access", "fraud_agent")
    assert rule["allowed_tools"] == ["fraud_rules", "similarity", "policy_snapshot"]
    assert rule["denied_tools"] == ["decision_rules", "coverage_rules"]
    expect(page.locator("#panel-agents tr[data-id=fraud_agent] td.access")).to_have_text(
        "can run")


def test_a_change_in_between_is_refused_and_the_form_kept(page: Page, server: Server) -> None:
    open_tab(page, "agents")
    page.click("#panel-agents tr[data-id=fraud_agent] button:has-text('Edit')")
    choose(page, "#field-allowed_tools", ["fraud_rules", "similarity", "policy_snapshot"])
    access = page.locator("#editor fieldset.access")
    expect(access.locator("li[data-tool=policy_snapshot].denied")).to_be_visible()
    access.locator("button.grant").click()
    expect(access.locator(".grant-plan .plan-change")).to_have_count(2)
    with server.client() as api:  # someone changes the policy the plan edits
        policy = api.get("/registries/access/policy", params={"verb": "use"}).json()
        done = api.post("/registries/changes", json={"changes": [
            {"kind": "GovernancePolicy", "name": "agent_tool_access",
             "entry": {**policy["entry"], "description": "Changed meanwhile"}}]})
        assert done.status_code == 200, done.text
    access.locator("button.commit").click()
    expect(access.locator(".access-problem")).to_contain_text(  # the plan's token, stale
        "the registries changed since that plan was made")
    expect(access.locator(".access-problem")).to_contain_text("your edits are kept")
    expect(access.locator(".grant-plan")).to_be_hidden()
    expect(page.locator("#editor")).to_be_visible()
    assert sorted(chosen(page, "#field-allowed_tools")) == [
        "fraud_rules", "policy_snapshot", "similarity"]
    assert history(server)["total_count"] == 1  # the other change only
    access.locator("button.grant").click()  # reads the policy again
    expect(access.locator(".grant-plan .plan-change")).to_have_count(2)
    access.locator("button.commit").click()
    expect(page.locator("#status")).to_contain_text("in one revision (revision 2)")
    assert check(server, "fraud_agent", "use", "policy_snapshot")["allowed"] is True
    with server.client() as api:
        assert api.get("/registries/access/policy", params={"verb": "use"}).json()[
            "entry"]["description"] == "Changed meanwhile"


def test_a_new_agent_is_created_with_its_tool_and_the_orchestrator_invoking_it(
        page: Page, server: Server) -> None:
    """A rule cannot name an agent that does not exist, and a new agent is denied every tool:
    only one change can create it with its tools, listed by the orchestrator."""
    open_tab(page, "agents")
    page.click("#panel-agents button.add")
    access = page.locator("#editor fieldset.access")
    expect(access.locator("p.invoke")).to_have_text(
        "Give the agent an id to see what governance lets it do.")
    page.fill("#field-agent_id", "triage_agent")
    page.fill("#field-name", "Triage Agent")
    page.fill("#field-description", "Sorts claims")
    page.fill("#field-capabilities", "triage")
    page.select_option("#field-model_profile_id", "gpt4")
    choose(page, "#field-allowed_tools", ["fraud_rules"])
    expect(access.locator("li[data-tool=fraud_rules].denied")).to_have_text(
        "denied fraud_rules: no rule of agent_tool_access for 'triage_agent' names "
        "'fraud_rules', and the runtime denies by default")
    expect(access.locator("p.invoke")).to_contain_text("not listed by the orchestrator")
    page.check("#access-invoke")
    access.locator("button.grant").click()
    plan = access.locator(".grant-plan")
    expect(plan.locator(".plan-change")).to_have_count(4)
    for key in ("Agent/triage_agent", "Agent/orchestrator_agent",
                "GovernancePolicy/agent_tool_access",
                "GovernancePolicy/agent_invocation_access"):
        expect(plan.locator(f'.plan-change[data-key="{key}"]')).to_be_visible()
    expect(plan.locator(".access-change")).to_have_text([
        "+ orchestrator_agent may now invoke triage_agent (agent_invocation_access "
        "rules[0].allowed_agents[6] allows it)",
        "+ triage_agent may now use fraud_rules (agent_tool_access rules[6].allowed_tools[0] "
        "allows it)"])
    plan.locator("button.commit").click()
    expect(page.locator("#panel-agents tr[data-id=triage_agent] td.access")).to_have_text(
        "can run")
    revisions = history(server)
    assert revisions["total_count"] == 1
    assert len(revisions["revisions"][0]["resources"]) == 4
    assert check(server, "triage_agent", "use", "fraud_rules")["allowed"] is True
    assert check(server, "orchestrator_agent", "invoke", "triage_agent")["effective"] is True


def test_a_grant_the_plan_does_not_make_cannot_be_saved(browser: Browser,
                                                        registries: Path) -> None:
    """A denied list the runtime reads as a string (substring matching): the panel's edit
    cannot take the tool out of it, and the server's plan says the tool is still denied, so
    there is nothing to save."""
    edit_json(registries / "governance_policies.json", lambda document: rule_of(
        document, "agent_tool_access", "fraud_agent").update(denied_tools="policy_snapshot"))
    server = Server(registries)
    try:
        with panel_page(browser, f"{server.url}/") as page:
            open_tab(page, "agents")
            page.click("#panel-agents tr[data-id=fraud_agent] button:has-text('Edit')")
            choose(page, "#field-allowed_tools", ["fraud_rules", "policy_snapshot"])
            access = page.locator("#editor fieldset.access")
            expect(access.locator("li[data-tool=policy_snapshot].denied")).to_have_text(
                "denied policy_snapshot: agent_tool_access rules[2].denied_tools denies it")
            access.locator("button.grant").click()
            expect(access.locator(".access-problem")).to_contain_text(
                "lists tool 'policy_snapshot' in allowed_tools, but governance will not let "
                "it use it")
            expect(access.locator("button.commit")).to_have_count(0)
            assert history(server)["total_count"] == 0
    finally:
        server.stop()
