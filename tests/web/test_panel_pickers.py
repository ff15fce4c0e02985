"""Pickers and the Orchestrator tab past a page (issue 27: "at 10,000 agents every tab is
usable"): a reference checklist or select shows the chosen values first and a page of the
others, says how many more a search would find, and searches on the server (the list views,
ids alone); nothing in the panel downloads the whole list of agents or tools. And the
Workflows tab's diagram of a workflow's steps and transitions (diagrams.js, the Graph
page's drawing). Chromium against a real `meshctl serve` on the example registries grown
past a page: 120 more agents (60 of them listed by the orchestrator), 70 more tools and 55
more model profiles."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, Response, expect

from tests.api.test_list_views import edit_json
from tests.servers import Server
from tests.web.conftest import SHOTS, open_tab

AGENTS, LISTED, TOOLS, PROFILES = 120, 60, 70, 55
PAGE = 50  # what a picker shows at a time (panel.js PICKS)
# A request for a whole list of one of the kinds that grow with the mesh.
WHOLE = re.compile(r"/registries/(agents|tools|workflows|model-profiles)/?(\?|$)")


def grow(registries: Path) -> Path:
    """The example registries with more agents, tools and profiles than a picker shows."""
    def agents(document: Any) -> None:
        by_id = {agent["agent_id"]: agent for agent in document["agents"]}
        extras = [{**by_id["severity_agent"], "agent_id": f"extra_{number:03}_agent",
                   "name": f"Extra {number}"} for number in range(AGENTS)]
        document["agents"] += extras
        by_id["orchestrator_agent"]["allowed_agents"] = [  # and one that does not exist
            "ghost_agent", *by_id["orchestrator_agent"]["allowed_agents"],
            *(extra["agent_id"] for extra in extras[:LISTED])]

    def tools(document: Any) -> None:
        template = document["tools"][0]
        document["tools"] += [{**template, "tool_id": f"extra_tool_{number:03}",
                               "name": f"Extra tool {number}"} for number in range(TOOLS)]

    def profiles(document: Any) -> None:
        template = document["profiles"][0]
        document["profiles"] += [{**template, "profile_id": f"extra_profile_{number:03}",
                                  "name": f"Extra profile {number}"}
                                 for number in range(PROFILES)]

    edit_json(registries / "agent_registry.json", agents)
    edit_json(registries / "tool_registry.json", tools)
    edit_json(registries / "model_profiles.json", profiles)
    return registries


@pytest.fixture
def grown(registries: Path) -> Path:
    return grow(registries)


@pytest.fixture
def served(grown: Path) -> Iterator[Server]:
    server = Server(grown)
    yield server
    server.stop()


class Recorded:
    """Every request the page makes, and every answer, from the moment the page opens."""

    def __init__(self, page: Page) -> None:
        self.requests: list[Request] = []
        self.responses: list[Response] = []
        page.on("request", lambda request: self.requests.append(request))
        page.on("response", lambda answer: self.responses.append(answer))

    def whole_lists(self) -> list[str]:
        return [request.url for request in self.requests if WHOLE.search(request.url)]

    def largest_api_answer(self) -> int:
        return max((len(answer.body()) for answer in self.responses
                    if "/registries/" in answer.url and "/events" not in answer.url
                    and answer.request.method == "GET"), default=0)


@pytest.fixture
def page(browser: Browser, served: Server) -> Iterator[tuple[Page, Recorded]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    recorded = Recorded(opened)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(f"{served.url}/config")
    expect(opened.locator("#panel-orchestrator fieldset.allowed")).to_be_visible()
    yield opened, recorded
    context.close()
    assert errors == []


def allowed(page: Page) -> list[str]:
    """The orchestrator's allowed agents as the tab would save them (its edits included)."""
    found: list[str] = page.evaluate("orchestrator.mine().allowed ?? null") or []
    return found


def test_the_orchestrator_tab_shows_its_agents_a_page_at_a_time(
        page: tuple[Page, Recorded], served: Server) -> None:
    shown, recorded = page
    with served.client() as api:
        total = api.get("/registries/views/agents", params={"limit": 1}).json()["total_count"]
    tab = shown.locator("#panel-orchestrator fieldset.allowed")
    chosen = 1 + 6 + LISTED  # a ghost, the example's six workers and the extras listed
    expect(tab.locator("ul.chips li.chip")).to_have_count(PAGE)
    expect(tab.locator("ul.chips li.none")).to_have_text(f"and {chosen - PAGE} more")
    expect(tab.locator(".options input:checked")).to_have_count(PAGE)  # the chosen first
    # A chosen agent that does not exist stays chosen, marked.
    expect(tab.locator("label[for=allow-ghost_agent]")).to_have_text("ghost_agent (not found)")
    # What the server has that no row shows: every agent but the orchestrator and the 49.
    expect(tab.locator("p.more")).to_have_text(
        f"{total - 1 - (PAGE - 1)} more: refine the search")
    # A search finds the chosen agents past the first page, checked.
    tab.locator(".option-filter").fill("extra_05")
    expect(tab.locator(".option")).to_have_count(10)
    expect(tab.locator(".options input:checked")).to_have_count(10)
    shown.uncheck("#allow-extra_055_agent")
    expect(tab.locator("ul.chips li.none")).to_have_text(f"and {chosen - PAGE - 1} more")
    # And those not chosen, unchecked; one checked is added last.
    tab.locator(".option-filter").fill("extra_11")
    expect(tab.locator(".option")).to_have_count(10)
    expect(tab.locator(".options input:checked")).to_have_count(0)
    shown.check("#allow-extra_110_agent")
    now = allowed(shown)
    assert "extra_055_agent" not in now and "extra_059_agent" in now
    assert now[-1] == "extra_110_agent" and len(now) == chosen
    assert shown.evaluate("orchestrator.unsaved()") is True
    assert recorded.whole_lists() == []
    assert recorded.largest_api_answer() < 40_000  # ids a page at a time, not the mesh


def test_a_forms_pickers_search_the_server(page: tuple[Page, Recorded]) -> None:
    shown, recorded = page
    open_tab(shown, "agents")
    shown.click("#panel-agents tr[data-id=fraud_agent] button:has-text('Edit')")
    tools = shown.locator("#field-allowed_tools")
    expect(tools.locator("ul.chips li.chip")).to_have_text(["×".join(["fraud_rules", ""]),
                                                            "×".join(["similarity", ""])])
    first = tools.locator(".option").first
    expect(first).to_have_attribute("data-value", "fraud_rules")  # the chosen first
    expect(tools.locator(".option")).to_have_count(PAGE)  # 2 chosen, 48 others
    expect(tools.locator("p.more")).to_have_text(
        f"{6 + TOOLS - PAGE} more: refine the search")
    with shown.expect_request(lambda request: "/registries/views/tools" in request.url and
                              "q=extra_tool_065" in request.url):
        tools.locator(".option-filter").fill("extra_tool_065")
        tools.locator(".option-filter").press("Enter")  # asks at once, picks the one found
    expect(tools.locator("ul.chips li.chip")).to_have_count(3)
    expect(shown.locator("#editor")).to_be_visible()  # Enter did not send the form
    # The model profile select: a page of profiles and a search after it; the profile
    # chosen stays chosen whatever the search finds.
    select = shown.locator("#field-model_profile_id")
    expect(select.locator("option")).to_have_count(1 + PAGE)
    expect(select).to_have_value("default_gpt35")
    search = shown.locator("#editor [data-field=model_profile_id] .picker-search")
    search.fill("extra_profile_05")
    expect(select.locator("option")).to_have_count(1 + 1 + 5)  # —, the chosen, 050-054
    expect(select).to_have_value("default_gpt35")
    select.select_option("extra_profile_052")
    expect(select).to_have_value("extra_profile_052")
    # A workflow's agent checklists too.
    shown.click("#editor .cancel")
    if shown.locator("#confirm").is_visible():
        shown.click("#confirm button.danger")  # discard
    open_tab(shown, "workflows")
    shown.click("#panel-workflows tr[data-id=claims_triage] button:has-text('Edit')")
    agents = shown.locator("#field-required_agents")
    expect(agents.locator(".option")).to_have_count(PAGE)
    agents.locator(".option-filter").fill("extra_119")
    expect(agents.locator(".option")).to_have_count(1)
    assert recorded.whole_lists() == []
    assert recorded.largest_api_answer() < 40_000


def test_no_tab_downloads_a_whole_list_of_agents_or_tools(
        page: tuple[Page, Recorded]) -> None:
    shown, recorded = page
    for tab in ("agents", "tools", "profiles", "workflows", "accountability", "governance",
                "system", "context", "integrations", "orchestrator"):
        open_tab(shown, tab)
        expect(shown.locator(f"#panel-{tab} .content > *").first).to_be_visible()
    shown.wait_for_timeout(500)  # (the event stream never lets the network idle)
    assert recorded.whole_lists() == []
    # A governance policy's form is built when its section is opened, not before.
    open_tab(shown, "governance")
    section = shown.locator("#panel-governance details[data-policy=agent_tool_access]")
    expect(section.locator("[data-form], table, input")).to_have_count(0)
    section.locator("summary").click()
    expect(section.locator("table").first).to_be_visible()


def test_the_workflows_tab_draws_a_workflows_diagram(page: tuple[Page, Recorded]) -> None:
    shown, recorded = page
    open_tab(shown, "workflows")
    assert not [r for r in recorded.requests if "cytoscape" in r.url]  # not before asked
    shown.click("#panel-workflows button[aria-label='Diagram of claims_triage']")
    dialog = shown.locator("#diagram-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#workflow-title")).to_contain_text("Steps of")
    steps = dialog.locator("ol.workflow-steps > li")
    expect(steps).to_have_count(6)
    # The picture: start, the six steps, their ends and checkpoints, as the Graph page draws.
    nodes = shown.evaluate("window.meshctlFlow.nodes().map(node => node.id())")
    assert "start" in nodes and sum(node.startswith("step:") for node in nodes) == 6
    edges = shown.evaluate("window.meshctlFlow.edges().map(edge => edge.data('label'))")
    assert "success" in edges
    assert shown.evaluate("window.meshctlFlow.edges('.failure').length") >= 1
    expect(steps.first.locator("a")).to_have_attribute("href", re.compile(r"/graph#agent/"))
    expect(dialog.locator("a.graph-link")).to_have_attribute(
        "href", "/graph#workflow/claims_triage")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shown.screenshot(path=str(SHOTS / "workflow-diagram-1280.png"))
    shown.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    shown.set_viewport_size({"width": 390, "height": 844})  # drawn to fit a phone
    shown.click("#panel-workflows button[aria-label='Diagram of claims_triage']")
    expect(steps).to_have_count(6)
    shown.screenshot(path=str(SHOTS / "workflow-diagram-390.png"))
    fits = shown.evaluate("""() => {
        const box = document.querySelector('#workflow-canvas').getBoundingClientRect();
        const drawn = window.meshctlFlow.elements().renderedBoundingBox();
        return [box.right - window.innerWidth, drawn.x2 - box.width, drawn.x1];
    }""")
    assert fits[0] <= 0 and fits[1] <= 1 and fits[2] >= -1, fits  # nothing cut off
    shown.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
