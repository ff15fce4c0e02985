"""The list tabs in Chromium (issue 27, findings 3 and 9): agents, tools, model profiles and
workflows show the columns an operator reads, "used by" counts and whether an agent loads
and can run; the search box finds a row by any shown field ("gpt4" finds the agents on that
profile, "similarity" those listing that tool); a header sorts (aria-sort), and a long list
comes a page at a time from the server. Screenshots at 1280 and 390 px."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.test_list_views import edit_json, prepare
from tests.servers import Server
from tests.web.conftest import SHOTS, open_tab, panel_page, served_panel

TABS = ("agents", "tools", "profiles", "workflows")


@pytest.fixture
def prepared(registries: Path) -> Path:
    return prepare(registries)


@pytest.fixture
def page(browser: Browser, prepared: Path) -> Iterator[Page]:
    with served_panel(browser, prepared) as opened:
        yield opened


def row(page: Page, tab: str, name: str) -> Any:
    return page.locator(f"#panel-{tab} tr[data-id={name}]")


def shown_ids(page: Page, tab: str) -> list[str]:
    found: list[str] = page.eval_on_selector_all(
        f"#panel-{tab} tbody tr", "rows => rows.map(row => row.dataset.id)")
    return found


def test_the_columns_an_operator_reads(page: Page) -> None:
    open_tab(page, "agents")
    expect(page.locator("#panel-agents thead th")).to_have_text(
        ["Id", "Name", "Model", "Capabilities", "Tools", "Used by", "Can run", "Actions"])
    fraud = row(page, "agents", "fraud_agent")
    expect(fraud.locator("td.col-model")).to_have_text("gpt-4 (gpt4)")
    expect(fraud.locator("td.col-capabilities")).to_have_text(
        "fraud_detection, risk_scoring, pattern_analysis, anomaly_detection")
    expect(fraud.locator("td.col-tools")).to_have_text("fraud_rules, similarity")
    open_tab(page, "tools")
    similarity = row(page, "tools", "similarity")
    expect(similarity.locator("td.col-endpoint")).to_have_text("/invoke/similarity")
    expect(similarity.locator("td.col-lineage_tags")).to_have_text(
        "pattern_analysis, historical_data, heuristic")
    open_tab(page, "profiles")
    claude = row(page, "profiles", "claude_haiku_3")
    expect(claude.locator("td.col-provider")).to_have_text("anthropic")
    expect(claude.locator("td.col-model")).to_have_text("claude-3-haiku-20240307")
    expect(claude.locator("td.col-parameters")).to_have_text(
        "temperature 0.3 · max_tokens 2000 · top_p 1.0")
    open_tab(page, "workflows")
    triage = row(page, "workflows", "claims_triage")
    expect(triage.locator("td")).to_have_text(
        ["claims_triage", "Claims Triage Workflow", "advisory", "6", "6",
         "2 governance policies", "EditDiagramDelete"])


def test_used_by_counts(page: Page) -> None:
    open_tab(page, "profiles")
    expect(row(page, "profiles", "default_gpt35").locator("td.col-used_by")).to_have_text(
        "9 (8 agents, 1 governance policy)")  # the orchestrator, five workers, idle, broken
    expect(row(page, "profiles", "gpt4").locator("td.col-used_by")).to_have_text("1 agent")
    expect(row(page, "profiles", "claude_opus_3").locator("td.col-used_by")).to_have_text(
        "none")
    open_tab(page, "tools")
    expect(row(page, "tools", "similarity").locator("td.col-used_by")).to_have_text(
        "2 (1 agent, 1 governance policy)")


def test_whether_each_agent_loads_and_can_run(page: Page) -> None:
    open_tab(page, "agents")
    cell = "td.access"
    expect(row(page, "agents", "fraud_agent").locator(cell)).to_have_text("can run")
    expect(row(page, "agents", "idle_agent").locator(cell)).to_have_text(
        "cannot run not listed by the orchestrator")
    expect(row(page, "agents", "coverage_agent").locator(cell)).to_have_text(
        "can run 1 tool denied (coverage_rules)")
    broken = row(page, "agents", "broken_agent").locator(cell)
    expect(broken).to_contain_text("does not load")
    expect(broken).to_contain_text("'max_iterations' is not an integer")


def test_search_finds_a_row_by_any_shown_field(page: Page) -> None:
    open_tab(page, "agents")
    expect(page.locator("#panel-agents tbody tr")).to_have_count(9)
    search = page.locator("#panel-agents .filter")
    search.fill("gpt4")  # the model profile fraud_agent uses
    expect(page.locator("#panel-agents tbody tr")).to_have_count(1)
    expect(row(page, "agents", "fraud_agent")).to_be_visible()
    search.fill("similarity")  # a tool it lists
    expect(page.locator("#panel-agents p.count")).to_have_text(
        "1 of 9 agents match “similarity”")
    expect(page.locator("#panel-agents tbody tr")).to_have_count(1)
    expect(row(page, "agents", "fraud_agent")).to_be_visible()
    search.fill("cannot run")
    expect(page.locator("#panel-agents tbody tr")).to_have_count(1)
    expect(row(page, "agents", "idle_agent")).to_be_visible()
    search.fill("")
    expect(page.locator("#panel-agents tbody tr")).to_have_count(9)
    open_tab(page, "tools")
    page.fill("#panel-tools .filter", "rule_based")  # a lineage tag
    expect(page.locator("#panel-tools tbody tr")).to_have_count(3)


def test_a_header_sorts_by_its_column_with_the_mouse_or_the_keyboard(page: Page) -> None:
    open_tab(page, "agents")
    expect(page.locator("#panel-agents tbody tr")).to_have_count(9)
    registry_order = shown_ids(page, "agents")
    header = page.locator("#panel-agents th", has=page.locator("button[aria-label='Sort by Id']"))
    expect(header).to_have_attribute("aria-sort", "none")
    page.click("#panel-agents button[aria-label='Sort by Id']")
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("#panel-agents tbody tr").first).to_have_attribute(
        "data-id", "broken_agent")
    assert shown_ids(page, "agents") == sorted(registry_order)
    button = page.locator("#panel-agents button[aria-label='Sort by Id']")
    button.focus()
    page.keyboard.press("Enter")
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(page.locator("#panel-agents tbody tr").first).to_have_attribute(
        "data-id", "severity_agent")
    assert shown_ids(page, "agents") == sorted(registry_order, reverse=True)
    expect(page.locator("#panel-agents button[aria-label='Sort by Id']")).to_be_focused()
    page.click("#panel-agents button[aria-label='Sort by Can run']")
    expect(page.locator("#panel-agents tbody tr").first).to_have_attribute(
        "data-id", "broken_agent")
    assert shown_ids(page, "agents")[:3] == ["broken_agent", "idle_agent", "coverage_agent"]
    expect(header).to_have_attribute("aria-sort", "none")


def test_a_long_list_comes_a_page_at_a_time(browser: Browser, prepared: Path) -> None:
    def more(document: Any) -> None:
        template = next(agent for agent in document["agents"]
                        if agent["agent_id"] == "severity_agent")
        document["agents"] += [{**template, "agent_id": f"extra_{number:03}_agent",
                                "name": f"Extra {number}"} for number in range(61)]

    edit_json(prepared / "agent_registry.json", more)
    server = Server(prepared)
    try:
        with panel_page(browser, f"{server.url}/") as page:
            pages: list[int] = []
            page.on("response", lambda answer: pages.append(len(answer.json()["rows"]))
                    if "/registries/views/agents" in answer.url else None)
            open_tab(page, "agents")
            rows = page.locator("#panel-agents tbody tr")
            expect(rows).to_have_count(50)
            expect(page.locator("#panel-agents p.count")).to_have_text(
                "70 agents; showing 1–50")
            pager = page.locator("#panel-agents nav.pager")
            expect(pager.locator(".at")).to_have_text("Page 1 of 2")
            expect(pager.locator("button.previous")).to_be_disabled()
            pager.locator("button.next").click()
            expect(rows).to_have_count(20)
            expect(pager.locator(".at")).to_have_text("Page 2 of 2")
            expect(rows.last).to_have_attribute("data-id", "extra_060_agent")
            expect(pager.locator("button.next")).to_be_disabled()
            page.fill("#panel-agents .filter", "extra_05")  # a search starts at page 1
            expect(rows).to_have_count(10)
            expect(pager).to_be_hidden()
            assert pages and max(pages) <= 50  # the browser never held the whole list
    finally:
        server.stop()


def test_readable_at_390_px_and_screenshots(browser: Browser, prepared: Path) -> None:
    server = Server(prepared)
    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    try:
        for width in (1280, 390):
            context = browser.new_context(viewport={"width": width, "height": 900})
            shot = context.new_page()
            shot.on("pageerror", lambda error: errors.append(str(error)))
            for tab in TABS:
                shot.goto(f"{server.url}/config#{tab}")
                expect(shot.locator(f"#panel-{tab} table.view-table tbody tr").first
                       ).to_be_visible()
                shot.screenshot(path=str(SHOTS / f"lists-{tab}-{width}.png"), full_page=True)
                # No id is broken inside a word: each part between its "_" and "/" sits
                # on one line; and nothing is wider than the window.
                broken = shot.evaluate("""tab => [...document.querySelectorAll(
                    `#panel-${tab} td.col-id .id`)].flatMap(id => [...id.childNodes]
                    .filter(node => node.nodeType === Node.TEXT_NODE)
                    .filter(node => { const range = document.createRange();
                                      range.selectNodeContents(node);
                                      return range.getClientRects().length > 1; })
                    .map(node => node.textContent))""", tab)
                assert broken == [], (tab, width, broken)
                wide = shot.evaluate(f"""() => {{
                    const table = document.querySelector('#panel-{tab} table.view-table');
                    return table.getBoundingClientRect().right - window.innerWidth; }}""")
                assert wide <= 0, (tab, width, wide)
            if width == 390:
                expect(shot.locator("#panel-workflows th", has_text="Name")).to_be_hidden()
            context.close()
            assert errors == []
    finally:
        server.stop()
